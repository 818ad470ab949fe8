"""Adaptive chunk planning (seed 000): target max(workers*5, 20) chunks, size clamped to [min, max]."""

from __future__ import annotations

import itertools
import logging
import math

import pytest

from vigil.batch.chunking import (
    DEFAULT_CHUNK_MAX,
    DEFAULT_CHUNK_MIN,
    ChunkingError,
    adaptive_chunk_size,
    plan_chunks,
    target_chunk_count,
)
from vigil.errors import VigilError


def _assert_partition(ranges: list[tuple[int, int]], total: int) -> None:
    """Contiguous, ordered, non-empty, 1-based inclusive, covering 1..total exactly."""
    if total == 0:
        assert ranges == []
        return
    assert ranges[0][0] == 1
    assert ranges[-1][1] == total
    for (_, end), (next_start, _) in itertools.pairwise(ranges):
        assert next_start == end + 1
    assert all(start <= end for start, end in ranges)
    assert sum(end - start + 1 for start, end in ranges) == total


@pytest.mark.parametrize(("workers", "target"), [(1, 20), (2, 20), (4, 20), (5, 25), (15, 75), (64, 320)])
def test_target_chunk_count_is_five_per_worker_at_least_twenty(workers: int, target: int) -> None:
    assert target_chunk_count(workers) == target


@pytest.mark.parametrize(
    ("total", "workers", "expected"),
    [
        (276, 2, 20),  # ceil(276/20) = 14 -> raised to the minimum 20
        (1600, 15, 22),  # the seed's example: ~75 chunks for ~1600 frames and 15 workers
        (1000, 2, 50),  # ceil(1000/20)
        (1001, 2, 51),  # ceil rounds up, so at most target chunks
        (18000, 2, 400),  # 10-minute 30 fps video: 900 -> clamped to the maximum 400
        (5, 2, 20),  # fewer frames than the minimum: one chunk
        (0, 2, 20),
    ],
)
def test_adaptive_chunk_size_seed_numbers(total: int, workers: int, expected: int) -> None:
    assert adaptive_chunk_size(total, workers) == expected


def test_adaptive_chunk_size_honours_custom_bounds() -> None:
    assert adaptive_chunk_size(10_000, 2, chunk_min=100, chunk_max=500) == 500
    assert adaptive_chunk_size(1_000, 2, chunk_min=100, chunk_max=500) == 100
    assert adaptive_chunk_size(4_000, 2, chunk_min=100, chunk_max=500) == 200
    assert adaptive_chunk_size(4_000, 2, chunk_min=1, chunk_max=1) == 1


def test_short_video_is_one_chunk() -> None:
    assert plan_chunks(19, workers=2) == [(1, 19)]
    assert plan_chunks(20, workers=2) == [(1, 20)]
    assert plan_chunks(21, workers=2) == [(1, 20), (21, 21)]


def test_zero_and_one_frame() -> None:
    assert plan_chunks(0, workers=2) == []
    assert plan_chunks(1, workers=2) == [(1, 1)]
    assert plan_chunks(1, workers=2, chunk_size=400) == [(1, 1)]
    assert plan_chunks(0, workers=2, chunk_size=7) == []


def test_fixed_chunk_size_overrides_adaptive_and_bounds() -> None:
    assert plan_chunks(10, workers=2, chunk_size=3) == [(1, 3), (4, 6), (7, 9), (10, 10)]
    # A fixed size outside [chunk_min, chunk_max] is honoured as is.
    assert plan_chunks(1000, workers=2, chunk_size=999, chunk_min=20, chunk_max=400) == [
        (1, 999),
        (1000, 1000),
    ]
    assert len(plan_chunks(100, workers=2, chunk_size=1)) == 100


def test_chunk_size_zero_means_adaptive_like_the_seed() -> None:
    assert plan_chunks(1000, workers=2, chunk_size=0) == plan_chunks(1000, workers=2)


def test_plan_hits_target_when_not_clamped() -> None:
    ranges = plan_chunks(1600, workers=15)
    assert len(ranges) == 73  # ceil(1600/22); never more than the target of 75
    assert all(end - start + 1 == 22 for start, end in ranges[:-1])
    _assert_partition(ranges, 1600)


def test_long_video_is_limited_by_the_maximum() -> None:
    ranges = plan_chunks(18_000, workers=2)
    assert len(ranges) == 45
    assert {end - start + 1 for start, end in ranges} == {400}


@pytest.mark.parametrize(
    "total", [0, 1, 2, 19, 20, 21, 39, 40, 41, 276, 399, 401, 472, 4007, 18_000, 100_003]
)
@pytest.mark.parametrize("workers", [1, 2, 3, 7, 15, 32])
@pytest.mark.parametrize(("chunk_min", "chunk_max"), [(20, 400), (1, 1), (1, 1000), (100, 500), (37, 37)])
def test_adaptive_plan_properties(total: int, workers: int, chunk_min: int, chunk_max: int) -> None:
    ranges = plan_chunks(total, workers, chunk_min=chunk_min, chunk_max=chunk_max)
    _assert_partition(ranges, total)
    size = adaptive_chunk_size(total, workers, chunk_min, chunk_max)
    assert chunk_min <= size <= chunk_max
    sizes = [end - start + 1 for start, end in ranges]
    assert all(s == size for s in sizes[:-1]), "all chunks but the last have the selected size"
    if sizes:
        assert 1 <= sizes[-1] <= size
    # Never more chunks than the target unless the maximum size forces it.
    target = target_chunk_count(workers)
    if size < chunk_max:
        assert len(ranges) <= target
    else:
        assert len(ranges) == math.ceil(total / chunk_max)


@pytest.mark.parametrize("total", [1, 5, 17, 100, 101, 1234])
@pytest.mark.parametrize("chunk_size", [1, 2, 7, 100, 5000])
def test_fixed_plan_properties(total: int, chunk_size: int) -> None:
    ranges = plan_chunks(total, workers=4, chunk_size=chunk_size)
    _assert_partition(ranges, total)
    assert len(ranges) == math.ceil(total / chunk_size)
    assert all(end - start + 1 == chunk_size for start, end in ranges[:-1])


def test_defaults_match_the_seed() -> None:
    assert (DEFAULT_CHUNK_MIN, DEFAULT_CHUNK_MAX) == (20, 400)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"total_frames": -1, "workers": 2}, "total_frames must be >= 0"),
        ({"total_frames": 10, "workers": 0}, "workers must be >= 1"),
        ({"total_frames": 10, "workers": -3, "chunk_size": 5}, "workers must be >= 1"),
        ({"total_frames": 10, "workers": 2, "chunk_size": -5}, "chunk_size must be >= 1"),
        ({"total_frames": 10, "workers": 2, "chunk_min": 0}, "chunk_min must be >= 1"),
        ({"total_frames": 10, "workers": 2, "chunk_max": 0}, "chunk_max must be >= 1"),
        ({"total_frames": 10, "workers": 2, "chunk_min": 500, "chunk_max": 100}, "must not exceed"),
        ({"total_frames": 10.5, "workers": 2}, "total_frames must be an integer"),
        ({"total_frames": 10, "workers": True}, "workers must be an integer"),
        ({"total_frames": 10, "workers": 2, "chunk_size": 2.5}, "chunk_size must be an integer"),
    ],
)
def test_invalid_arguments_raise_a_clear_typed_error(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ChunkingError, match=message) as info:
        plan_chunks(**kwargs)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, VigilError)


def test_adaptive_mode_logs_the_seed_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="vigil.batch.chunking"):
        plan_chunks(1000, workers=2)
    assert "Adaptive chunking enabled" in caplog.text
    assert "selected_chunk_size=50" in caplog.text
