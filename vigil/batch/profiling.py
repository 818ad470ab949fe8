"""Seed 000's `[PROFILING]` lines (`STEP5_ENABLE_PROFILING=1`): cost per frame every 20 frames.

Workers measure (`Profiler`, inside `process_chunk`) and return the windows with their chunk; the
parent logs them (`profiling_line`) when it accepts the chunk, so the lines reach the log whatever
the worker count (a spawned worker's own log records go nowhere).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

PROFILE_EVERY = 20  # frames per line, as the seed


@dataclass(frozen=True)
class ProfileWindow:
    first: int  # frame numbers, 1-based, inclusive
    last: int
    wall_s: float  # wall time of the window (the chunk's warm-up counts in its first window)
    stages_s: dict[str, float]  # time per stage (detect, landmarks, convert, ...) in the window


class Profiler:
    """Cuts a chunk's running stage timings into windows of PROFILE_EVERY frames."""

    def __init__(self, timings: Mapping[str, float]) -> None:
        self._timings = timings  # the frame loop's cumulative seconds per stage, read at each cut
        self._since = dict(timings)
        self._start = time.perf_counter()
        self._first: int | None = None
        self.windows: list[ProfileWindow] = []

    def frame_done(self, number: int) -> None:
        if self._first is None:
            self._first = number
        if number - self._first + 1 >= PROFILE_EVERY:
            self._cut(number)

    def finish(self, last: int) -> list[ProfileWindow]:
        if self._first is not None:
            self._cut(last)
        return self.windows

    def _cut(self, last: int) -> None:
        assert self._first is not None
        now = time.perf_counter()
        stages = {k: v - self._since.get(k, 0.0) for k, v in self._timings.items()}
        self.windows.append(ProfileWindow(self._first, last, now - self._start, stages))
        self._since, self._start, self._first = dict(self._timings), now, None


def profiling_line(video: str, chunk: int, pid: int, window: ProfileWindow) -> str:
    """`[PROFILING] video.mp4 frames 21-40 (chunk 1, worker 4242): 12.31 ms/frame; detect=7.80 ...`"""
    frames = window.last - window.first + 1
    stages = ", ".join(f"{k}={v * 1000 / frames:.2f}" for k, v in sorted(window.stages_s.items()))
    return (
        f"[PROFILING] {video} frames {window.first}-{window.last} (chunk {chunk}, worker {pid}): "
        f"{window.wall_s * 1000 / frames:.2f} ms/frame; {stages or 'no stage'} ms/frame"
    )
