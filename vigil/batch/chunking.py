"""Split a video's frames into ranges for worker processes (seed 000's adaptive chunking).

Adaptive mode aims for `max(workers * 5, 20)` chunks — about five per worker, so a slow chunk
does not leave the other workers idle, and at least 20 so short runs still spread out — with
`chunk_size = ceil(total_frames / target_chunks)` clamped to `[chunk_min, chunk_max]` (default
20..400): short videos are not shredded into tiny chunks, long ones are not cut into a few huge
ones. A fixed `chunk_size` overrides all of this (the seed's `--chunk_size N > 0`; 0 or None
means adaptive).
"""

from __future__ import annotations

import logging
import math

from vigil.errors import ConfigError

DEFAULT_CHUNK_MIN = 20
DEFAULT_CHUNK_MAX = 400
CHUNKS_PER_WORKER = 5
MIN_TARGET_CHUNKS = 20

log = logging.getLogger(__name__)

FrameRange = tuple[int, int]


class ChunkingError(ConfigError, ValueError):
    """Invalid chunk planning arguments (a ValueError, and a VigilError for the CLI/API)."""


def _require_int(name: str, value: object, minimum: int) -> int:
    # bool is an int subclass: True would silently mean 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ChunkingError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ChunkingError(f"{name} must be >= {minimum}, got {value}")
    return value


def _check_bounds(chunk_min: int, chunk_max: int) -> None:
    _require_int("chunk_min", chunk_min, 1)
    _require_int("chunk_max", chunk_max, 1)
    if chunk_min > chunk_max:
        raise ChunkingError(f"chunk_min ({chunk_min}) must not exceed chunk_max ({chunk_max})")


def target_chunk_count(workers: int) -> int:
    """How many chunks adaptive mode aims for: about five per worker, at least 20."""
    _require_int("workers", workers, 1)
    return max(workers * CHUNKS_PER_WORKER, MIN_TARGET_CHUNKS)


def adaptive_chunk_size(
    total_frames: int,
    workers: int,
    chunk_min: int = DEFAULT_CHUNK_MIN,
    chunk_max: int = DEFAULT_CHUNK_MAX,
) -> int:
    """Frames per chunk: ceil(total / target_chunks), clamped to [chunk_min, chunk_max]."""
    _require_int("total_frames", total_frames, 0)
    _check_bounds(chunk_min, chunk_max)
    raw = math.ceil(total_frames / target_chunk_count(workers))
    return max(chunk_min, min(chunk_max, raw))


def plan_chunks(
    total_frames: int,
    workers: int,
    chunk_size: int | None = None,
    chunk_min: int = DEFAULT_CHUNK_MIN,
    chunk_max: int = DEFAULT_CHUNK_MAX,
) -> list[FrameRange]:
    """1-based inclusive frame ranges covering 1..total_frames exactly, in order.

    Every range has `size` frames except possibly the last one (shorter). No frames: no ranges.
    """
    _require_int("total_frames", total_frames, 0)
    if chunk_size is None or chunk_size == 0:
        size = adaptive_chunk_size(total_frames, workers, chunk_min, chunk_max)
        log.info(
            "Adaptive chunking enabled: total_frames=%d, workers=%d, target_chunks=%d, bounds=[%d,%d], "
            "selected_chunk_size=%d",
            total_frames,
            workers,
            target_chunk_count(workers),
            chunk_min,
            chunk_max,
            size,
        )
    else:
        size = _require_int("chunk_size", chunk_size, 1)
        _require_int("workers", workers, 1)
        log.info("Using provided chunk_size=%d", size)
    return [(start, min(start + size - 1, total_frames)) for start in range(1, total_frames + 1, size)]
