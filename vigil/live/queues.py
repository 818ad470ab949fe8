"""Bounded queues that drop the oldest droppable item when full (backpressure for live video).

Control items (end-of-stream, track lifecycle) are put with `droppable=False` and are never
dropped, so consumers always see a consistent lifecycle even under overload. `TwoLaneQueue`
also ranks data: urgent items are served first and dropped last."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
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


class Rank(IntEnum):
    """What a `TwoLaneQueue` item may lose to: control items nothing, urgent items only to other
    urgent items, bulk items to anything."""

    CONTROL = 0
    URGENT = 1
    BULK = 2


@dataclass
class _Entry(Generic[T]):
    item: T
    rank: Rank


class TwoLaneQueue(Generic[T]):
    """A bounded queue with an urgent lane served before a bulk lane (live embedding requests).

    Urgent items (control items and the first face of each track) are served in the order they were
    put; bulk items (later, better faces) only when no urgent item waits. When full, the oldest bulk
    item goes first, then the oldest urgent one; a bulk item never evicts an urgent one (it is dropped
    itself instead). A barrier (`put_barrier`, e.g. a track's end) first promotes the bulk items it
    names into the urgent lane, so they are still served before it: per-key order holds.
    `maxsize` bounds the droppable items; control items may briefly exceed it."""

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be >= 1")
        self.maxsize = maxsize
        self._urgent: deque[_Entry[T]] = deque()
        self._bulk: deque[_Entry[T]] = deque()
        self._cond = threading.Condition()
        self.dropped = 0

    def put(self, item: T, droppable: bool = True) -> T | None:
        """Append to the urgent lane; returns the item dropped to make room, if any."""
        return self._put(_Entry(item, Rank.URGENT if droppable else Rank.CONTROL))

    def put_bulk(self, item: T) -> T | None:
        """Append to the bulk lane; returns the item dropped (possibly `item` itself), if any."""
        return self._put(_Entry(item, Rank.BULK))

    def put_barrier(self, item: T, before: Callable[[T], bool]) -> None:
        """Queue the control `item` after every queued bulk item for which `before` holds."""
        with self._cond:
            promoted = [entry for entry in self._bulk if before(entry.item)]
            if promoted:
                self._bulk = deque(entry for entry in self._bulk if not before(entry.item))
                self._urgent.extend(promoted)
            self._urgent.append(_Entry(item, Rank.CONTROL))
            self._cond.notify_all()

    def get(self, timeout: float | None = None) -> T:
        """The next item (urgent lane first); raises TimeoutError when none arrives within `timeout`."""
        with self._cond:
            if not self._cond.wait_for(lambda: bool(self._urgent or self._bulk), timeout):
                raise TimeoutError
            lane = self._urgent if self._urgent else self._bulk
            return lane.popleft().item

    def __len__(self) -> int:
        with self._cond:
            return len(self._urgent) + len(self._bulk)

    def _put(self, entry: _Entry[T]) -> T | None:
        with self._cond:
            victim = self._make_room(entry) if entry.rank is not Rank.CONTROL else None
            if victim is not entry:
                (self._bulk if entry.rank is Rank.BULK else self._urgent).append(entry)
                self._cond.notify_all()
            if victim is None:
                return None
            self.dropped += 1
            return victim.item

    def _make_room(self, incoming: _Entry[T]) -> _Entry[T] | None:
        """The entry to drop so that `incoming` fits (`incoming` itself if nothing may go), or None."""
        droppable = len(self._bulk) + sum(entry.rank is not Rank.CONTROL for entry in self._urgent)
        if droppable < self.maxsize:
            return None
        if self._bulk:
            return self._bulk.popleft()
        for allowed in (Rank.BULK, Rank.URGENT) if incoming.rank is Rank.URGENT else (Rank.BULK,):
            for index, entry in enumerate(self._urgent):
                if entry.rank is allowed:
                    del self._urgent[index]
                    return entry
        return incoming
