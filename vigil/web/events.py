"""Fan-out of pipeline events to live subscribers (SSE) and the track -> visitor labels.

`EventBus` is an `EventSink` placed after the identity sink, so `face_embedded` events already
carry `visitor_id`. Pipeline threads call `handle()`; each subscriber owns a bounded queue and
loses its oldest events when it reads too slowly (a slow browser never blocks a camera)."""

from __future__ import annotations

import itertools
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from vigil.runtime.events import PipelineEvent

SUBSCRIBER_QUEUE = 256
RECENT_EVENTS = 200


@dataclass
class Subscription:
    """One listener's queue; `wait()` blocks (in a worker thread) until events or timeout."""

    id: int
    camera: str | None
    _events: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=SUBSCRIBER_QUEUE))
    _ready: threading.Condition = field(default_factory=threading.Condition)
    dropped: int = 0
    closed: bool = False

    def push(self, event: dict[str, Any]) -> None:
        with self._ready:
            if len(self._events) == self._events.maxlen:
                self.dropped += 1
            self._events.append(event)
            self._ready.notify()

    def wait(self, timeout: float) -> list[dict[str, Any]]:
        with self._ready:
            if not self._events and not self.closed:
                self._ready.wait(timeout)
            events = list(self._events)
            self._events.clear()
            return events

    def close(self) -> None:
        with self._ready:
            self.closed = True
            self._ready.notify_all()


class EventBus:
    def __init__(self) -> None:
        self._subscribers: dict[int, Subscription] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._labels: dict[tuple[str, int], str] = {}  # (camera, track id) -> visitor id
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT_EVENTS)
        self.published = 0
        self.last_event_ts: float | None = None  # wall time of the newest event (health checks)

    # ------------------------------------------------------------------ EventSink
    def handle(self, event: PipelineEvent) -> None:
        data = event.to_dict()
        key = (event.camera, event.track_id)
        with self._lock:
            if event.type == "face_embedded" and "visitor_id" in event.extra:
                self._labels[key] = str(event.extra["visitor_id"])
            elif event.type == "track_ended":
                self._labels.pop(key, None)
            self.recent.append(data)
            self.published += 1
            self.last_event_ts = max(self.last_event_ts or event.ts, event.ts)
            subscribers = list(self._subscribers.values())
        for sub in subscribers:
            if sub.camera is None or sub.camera == event.camera:
                sub.push(data)

    def close(self) -> None:
        with self._lock:
            subscribers = list(self._subscribers.values())
        for sub in subscribers:
            sub.close()

    # ---------------------------------------------------------------- consumers
    def subscribe(self, camera: str | None = None) -> Subscription:
        sub = Subscription(next(self._ids), camera)
        with self._lock:
            self._subscribers[sub.id] = sub
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        sub.close()
        with self._lock:
            self._subscribers.pop(sub.id, None)

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def visitor_of(self, camera: str, track_id: int) -> str | None:
        """The visitor id the identity store gave this live track, if any yet."""
        with self._lock:
            return self._labels.get((camera, track_id))
