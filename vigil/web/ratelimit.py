"""Token-bucket rate limiting per client (a few lines; no library needed for one process)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """`capacity` requests per `period_s` per key, refilled continuously; old keys are pruned."""

    def __init__(self, capacity: int, period_s: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.capacity = capacity
        self.rate = capacity / period_s
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill)
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float:
        """0 when allowed (and one token is spent), else the seconds to wait."""
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.capacity), now))
            tokens = min(float(self.capacity), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                self._prune(now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate

    def _prune(self, now: float) -> None:
        if len(self._buckets) < 10000:
            return
        full_after = self.capacity / self.rate
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < full_after}
