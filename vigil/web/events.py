"""Fan-out of pipeline events to live subscribers (SSE) and the track -> visitor labels.

`EventBus` is an `EventSink`; the recognition thread's identifier has set each `face_embedded`
event's typed `identity` before any sink sees it, so live labels know the visitor. Pipeline
threads call `handle()`; each subscriber owns a bounded buffer and loses its oldest events when
it reads too slowly (a slow browser never blocks a camera). Subscribers wait on their event loop,
not in a worker thread: open streams never use up the thread pool that sync routes run on."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections import deque
from typing import Any

from vigil.live.events import FaceEmbedded, PipelineEvent

SUBSCRIBER_QUEUE = 256
RECENT_EVENTS = 200


class Subscription:
    """One listener's buffer: `push()` from any thread never blocks; the event loop that
    subscribed awaits `next_batch()`."""

    def __init__(self, id: int, camera: str | None, loop: asyncio.AbstractEventLoop) -> None:
        self.id = id
        self.camera = camera
        self.dropped = 0
        self.closed = False
        self._loop = loop
        self._events: deque[dict[str, Any]] = deque(maxlen=SUBSCRIBER_QUEUE)
        self._lock = threading.Lock()
        self._ready = asyncio.Event()  # touched on `_loop` only
        self._wake_pending = False  # one loop wake-up per batch, not one per event

    def push(self, event: dict[str, Any]) -> None:
        with self._lock:
            if self.closed:
                return
            if len(self._events) == SUBSCRIBER_QUEUE:
                self.dropped += 1
            self._events.append(event)
            wake = not self._wake_pending
            self._wake_pending = True
        if wake:
            self._wake()

    def close(self) -> None:
        with self._lock:
            self.closed = True
        self._wake()

    async def next_batch(self, timeout: float) -> list[dict[str, Any]]:
        """The events buffered so far, waiting up to `timeout` s for the first; [] once closed."""
        deadline = self._loop.time() + timeout
        while True:
            with self._lock:
                if self._events or self.closed:
                    events = list(self._events)
                    self._events.clear()
                    self._wake_pending = False
                    return events
            # A wake-up scheduled before the last drain may still arrive: hence the loop.
            self._ready.clear()
            try:
                async with asyncio.timeout_at(deadline):
                    await self._ready.wait()
            except TimeoutError:
                return []

    def _wake(self) -> None:
        # A closed loop raises RuntimeError: nobody reads this subscription any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._ready.set)


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
            if isinstance(event, FaceEmbedded) and event.identity is not None:
                self._labels[key] = event.identity.visitor_id
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
        """A new listener, read on the running event loop (call this from that loop)."""
        sub = Subscription(next(self._ids), camera, asyncio.get_running_loop())
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
