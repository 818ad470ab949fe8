"""Fan-out of watchlist alert events to the live alert streams (SSE and WebSocket).

Kept apart from the pipeline `EventBus` on purpose: `/api/events` is open to viewers, and alerts
(who of the watchlist was seen where) are for operators and admins only. Each subscriber reuses the
bus's `Subscription` (bounded buffer, oldest lost first, awaited on its event loop: no thread per
stream) and filters on camera and level."""

from __future__ import annotations

import asyncio
import itertools
import threading
from dataclasses import dataclass
from typing import Any

from vigil.watchlist.matching import Level
from vigil.web.events import Subscription


@dataclass(frozen=True)
class FeedFilter:
    camera: str | None = None
    level: Level | None = None

    def accepts(self, event: dict[str, Any]) -> bool:
        alert = event["alert"]
        return (self.camera is None or alert["camera"] == self.camera) and (
            self.level is None or alert["level"] == self.level
        )


class AlertFeed:
    """Thread-safe: `publish()` is called by recognition threads and by API worker threads."""

    def __init__(self) -> None:
        self._subscribers: dict[int, tuple[Subscription, FeedFilter]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.published = 0

    def publish(self, event: dict[str, Any]) -> None:
        """An event `{"type": ..., "alert": {...}}` to every subscriber whose filter accepts it."""
        with self._lock:
            self.published += 1
            subscribers = list(self._subscribers.values())
        for subscription, where in subscribers:
            if where.accepts(event):
                subscription.push(event)

    def subscribe(self, where: FeedFilter) -> Subscription:
        """A new listener, read on the running event loop (call this from that loop)."""
        subscription = Subscription(next(self._ids), where.camera, asyncio.get_running_loop())
        with self._lock:
            self._subscribers[subscription.id] = (subscription, where)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscription.close()
        with self._lock:
            self._subscribers.pop(subscription.id, None)

    def close(self) -> None:
        with self._lock:
            subscribers = [s for s, _ in self._subscribers.values()]
        for subscription in subscribers:
            subscription.close()

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subscribers)
