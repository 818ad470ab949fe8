"""Timestamp-based frame sampling and real-time pacing."""

from __future__ import annotations

import threading
import time


class FrameSampler:
    """Keeps frames spaced at least 1/fps apart in stream time (independent of input fps).

    A timestamp jump backwards (stream restarted, loop) resets the schedule."""

    def __init__(self, fps: float) -> None:
        self.interval = 1.0 / fps
        self._next: float | None = None

    def reset(self) -> None:
        self._next = None

    def take(self, pts: float) -> bool:
        # Tolerance of a quarter interval avoids aliasing (e.g. 29.97 fps sampled at 5 fps).
        slack = self.interval / 4
        if self._next is None or pts < self._next - 2 * self.interval:
            self._next = pts
        if pts + slack < self._next:
            return False
        self._next = max(self._next + self.interval, pts + self.interval - slack)
        return True


class Pacer:
    """Sleeps so that a file plays at its own speed (simulates a live camera)."""

    def __init__(self) -> None:
        self._origin: tuple[float, float] | None = None  # (monotonic, pts)

    def reset(self) -> None:
        self._origin = None

    def wait(self, pts: float, stop: threading.Event) -> None:
        now = time.monotonic()
        if self._origin is None or pts < self._origin[1]:
            self._origin = (now, pts)
            return
        delay = self._origin[0] + (pts - self._origin[1]) - now
        if delay > 0:
            stop.wait(delay)
