"""How many worker processes a batch is worth (issue 16, defect 7).

A worker costs ~1.5 s of wall time to start (spawn, imports, models: measured `vigil track
--workers 1` vs `2`, 2026-12-05, idle 2-core machine, default engine): on single_face.mp4 (72 frames)
one worker took 5.2 s and two 6.8 s; on hamilton (472 frames, 360p) one 12.4 s and two 10.2 s.
A second worker pays off from ~150-200 frames of 360p work, so the pool is sized from the work:
one worker (in-process, no spawn) per `FRAMES_PER_WORKER` frame-equivalents, up to the setting."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import av
import av.error

log = logging.getLogger(__name__)

FRAMES_PER_WORKER = 200  # 360p frame-equivalents that repay one more worker's start
REFERENCE_PIXELS = 640 * 360
# Per-frame cost grows slower than the pixel count (detection runs on a downscaled image; the
# landmarker on face regions): 1080p crowd costs ~6x a 360p frame for 9x the pixels (9 ** 0.8).
PIXEL_COST_EXPONENT = 0.8


def work_estimate(videos: Sequence[Path], enough: float = math.inf) -> float:
    """360p frame-equivalents in `videos`, from container headers only (no packet scan); stops
    counting once `enough` is reached. An unreadable file counts as nothing (it will fail alone)."""
    total = 0.0
    for video in videos:
        total += _frame_equivalents(video)
        if total >= enough:
            break
    return total


def planned_workers(requested: int, videos: Sequence[Path]) -> int:
    """At most `requested`, one per `FRAMES_PER_WORKER` frame-equivalents of work, at least one."""
    if requested <= 1:
        return 1
    work = work_estimate(videos, enough=requested * FRAMES_PER_WORKER)
    return max(1, min(requested, math.ceil(work / FRAMES_PER_WORKER)))


def _frame_equivalents(video: Path) -> float:
    try:
        with av.open(str(video)) as container:
            if not container.streams.video:
                return 0.0
            stream = container.streams.video[0]
            frames = int(stream.frames or 0)
            if frames <= 0:  # no frame count in the header: duration x rate
                seconds = (container.duration or 0) / av.time_base
                frames = round(seconds * float(stream.average_rate or 25))
            pixels = max(1, int(stream.codec_context.width * stream.codec_context.height))
    except (av.error.FFmpegError, OSError):
        return 0.0
    return float(frames * (pixels / REFERENCE_PIXELS) ** PIXEL_COST_EXPONENT)
