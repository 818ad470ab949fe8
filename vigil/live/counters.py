"""Per-camera, per-stage counters. Each field has one writer thread; readers take snapshots."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import FrozenInstanceError, asdict, dataclass, field


@dataclass
class StageCounters:
    stream_s: float = 0.0  # seconds of video played (stream time, across reconnects and loops)
    frames_decoded: int = 0
    frames_sampled: int = 0
    frames_dropped: int = 0  # sampled frames dropped by the frame queue (analysis too slow)
    motion_skipped: int = 0
    frames_detected: int = 0
    faces_detected: int = 0
    faces_in_dead_zones: int = 0
    tracks_started: int = 0
    tracks_ended: int = 0
    embed_requests: int = 0
    embed_dropped: int = 0  # faces dropped by the embedding queue (the two below together)
    embed_dropped_first: int = 0  # a track's first face: only to make room for another first face
    embed_dropped_improvement: int = 0  # a better face of an already requested track
    embeddings: int = 0
    embed_errors: int = 0
    identity_errors: int = 0  # the identity store failed to assign a face (logged)
    corrupt_packets: int = 0
    shot_cuts: int = 0  # hard cuts and file loop points seen by the decoder: every track ended there
    ms_decode: float = 0.0
    ms_motion: float = 0.0
    ms_detect: float = 0.0
    ms_track: float = 0.0
    ms_quality: float = 0.0
    ms_embed: float = 0.0

    def snapshot(self) -> CounterSnapshot:
        snapshot = object.__new__(CounterSnapshot)  # fields set below, past the frozen __setattr__
        for name, value in asdict(self).items():
            object.__setattr__(snapshot, name, round(value, 1) if isinstance(value, float) else value)
        return snapshot


class CounterSnapshot(StageCounters):
    """The counters at one moment (milliseconds and stream seconds rounded to 0.1), read-only;
    the same fields by construction. Strings only at the edge (`to_dict`)."""

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r} of a snapshot")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r} of a snapshot")

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass
class RateMeter:
    """Events per second over the last `window_s` seconds of wall time."""

    window_s: float = 5.0
    _times: deque[float] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._times.append(now)
            while self._times and now - self._times[0] > self.window_s:
                self._times.popleft()

    def rate(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        with self._lock:
            while self._times and now - self._times[0] > self.window_s:
                self._times.popleft()
            if len(self._times) < 2:
                return 0.0
            span = max(now - self._times[0], 1e-6)
            return (len(self._times) - 1) / span
