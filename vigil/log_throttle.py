"""Repeated identical warnings logged once per interval, with the number held back.

A looping file with a corrupt packet would otherwise log the same warning on every loop and
flood the server log (the dashboard's `recent_errors` also collapses repeats, `vigil.web.errorlog`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Seen:
    logged_at: float
    held_back: int = 0


class LogThrottle:
    """Thread-safe: `allow(key)` says whether to log now and how many repeats were held back."""

    def __init__(self, interval_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s, self._clock = interval_s, clock
        self._seen: dict[str, _Seen] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> tuple[bool, int]:
        now = self._clock()
        with self._lock:
            seen = self._seen.get(key)
            if seen is None or now - seen.logged_at >= self.interval_s:
                held_back = 0 if seen is None else seen.held_back
                self._seen[key] = _Seen(now)
                return True, held_back
            seen.held_back += 1
            return False, seen.held_back
