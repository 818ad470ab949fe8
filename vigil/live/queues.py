"""A bounded queue that drops the oldest droppable item when full (backpressure for live video).

Control items (end-of-stream, track lifecycle) are put with `droppable=False` and are never
dropped, so consumers always see a consistent lifecycle even under overload."""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class DropOldestQueue(Generic[T]):
    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be >= 1")
        self.maxsize = maxsize
        self._items: deque[tuple[T, bool]] = deque()
        self._cond = threading.Condition()
        self.dropped = 0

    def put(self, item: T, droppable: bool = True) -> T | None:
        """Append `item`; returns the item dropped to make room, if any."""
        victim: T | None = None
        with self._cond:
            # Control items never evict data: the queue may briefly exceed maxsize instead,
            # so every loss is a counted drop of a droppable item.
            if droppable and len(self._items) >= self.maxsize:
                victim = self._drop_oldest()
            self._items.append((item, droppable))
            self._cond.notify_all()
        return victim

    def put_blocking(self, item: T, stop: threading.Event, poll_s: float = 0.1) -> bool:
        """Wait for room instead of dropping (offline files: every frame counts).
        Returns False if `stop` was set before the item could be queued."""
        with self._cond:
            while len(self._items) >= self.maxsize:
                if stop.is_set():
                    return False
                self._cond.wait(poll_s)
            self._items.append((item, True))
            self._cond.notify_all()
        return True

    def _drop_oldest(self) -> T | None:
        for index, (old, can_drop) in enumerate(self._items):
            if can_drop:
                del self._items[index]
                self.dropped += 1
                return old
        return None  # only control items queued: let the queue grow past maxsize

    def get(self, timeout: float | None = None) -> T:
        """Oldest item; raises TimeoutError when nothing arrives within `timeout`."""
        with self._cond:
            if not self._cond.wait_for(lambda: bool(self._items), timeout):
                raise TimeoutError
            item = self._items.popleft()[0]
            self._cond.notify_all()  # wake a blocked producer
            return item

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)
