"""Vision cues in parallel chunks sample the same times as one pass, with the same cues."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

import pytest

from tests.conftest import SHARED
from vigil.activity import parallel
from vigil.activity.media_times import media_times
from vigil.activity.parallel import CuePool, chunk_spans, planned_workers
from vigil.activity.vision import VisionCancelled, visual_samples
from vigil.config import load_settings

JUGGLE = SHARED / "media" / "activity" / "busy" / "sam2_default_juggle.mp4"


def test_chunks_cover_every_sample_time_once() -> None:
    spans = chunk_spans(10.29, 0.5, 3.0)
    assert spans[0][0] == 0.0 and all(a[1] == b[0] for a, b in itertools.pairwise(spans))
    times = [k * 0.5 for k in range(21)]  # 0 .. 10.0
    owners = [sum(start <= t < end for start, end in spans) for t in times]
    assert owners == [1] * len(times)
    assert planned_workers(12.0, None) == 1 and planned_workers(12.0, 2) == 2


@pytest.mark.slow
def test_one_worker_and_two_give_the_same_cues(tmp_path: Path) -> None:
    """One chunk plan whatever the worker count: one worker and two (two threads of this process,
    sharing the chunks as each is free) give equal cues; both sample the times one pass does."""
    dirs = load_settings(data_dir=tmp_path, shared_dir=SHARED).model_search_dirs()
    duration = media_times(JUGGLE).duration
    single_pass = visual_samples(JUGGLE, 0.5, model_dirs=dirs)
    progress: list[tuple[int, int]] = []
    with CuePool(1, dirs) as pool:
        one = pool.samples(JUGGLE, 0.5, duration, chunk_s=3.0)
    with CuePool(2, dirs) as pool:
        two = pool.samples(JUGGLE, 0.5, duration, lambda d, t: progress.append((d, t)), chunk_s=3.0)
        assert all(worker.extractor is not None for worker in pool._threads)  # both took chunks
        cancel = threading.Event()
        cancel.set()
        with pytest.raises(VisionCancelled):
            pool.samples(JUGGLE, 0.5, duration, cancel=cancel, chunk_s=3.0)
    assert one == two
    assert [s.t for s in two] == [s.t for s in single_pass]
    assert [s.person is not None for s in two] == [s.person is not None for s in single_pass]
    moved = [
        (a.person.motion, b.person.motion)
        for a, b in zip(single_pass, two, strict=True)
        if a.person and b.person
    ]
    assert all(abs(a - b) < 0.01 for a, b in moved[1:])  # the warm-up frame gives chunk starts their motion
    assert progress[-1] == (len(one), len(one)) and len(progress) >= len(one)  # per sample
    assert [done for done, _total in progress] == sorted(done for done, _total in progress)


def test_the_thread_workers_close_their_models(tmp_path: Path) -> None:
    dirs = load_settings(data_dir=tmp_path, shared_dir=SHARED).model_search_dirs()
    with CuePool(1, dirs) as pool:
        assert pool.samples(JUGGLE, 2.0, 4.0, chunk_s=2.0)
        assert pool._threads[0].extractor is not None  # in this process
    assert pool._threads[0].extractor is None
    assert parallel._EXTRACTOR is None  # a Ray actor's global, never set in this process
