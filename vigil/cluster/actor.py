"""One camera's pipeline inside a Ray actor (a worker process on any node of the cluster).

The actor builds the pipeline as `vigil watch` and `vigil serve` do (`PipelineFactory`), with its
own embedder and its own connection to the PostgreSQL store: sightings and visitors are written
from the node the camera runs on, not through the server. The server talks to it through the
small typed API below, always with a timeout (vigil/cluster/cameras.py): `report` (where it runs,
health and counters, the events and written sightings since the last pull, the camera's current
activity), `latest` (the newest analysed frame and its faces, for the live view) and `clip` (the
last seconds as an MP4 in memory, for `/api/save-clip`; the server saves the bytes).

A camera with `activity: true` analyses its activity here too, and writes its segments to the
store itself, as the sightings (vigil/activity/live_store.py); the server reads them from there
(history, 5-minute reports) and the current state from `report`. Its sound is the stream's audio
track, or a microphone of this node. It keeps the clip ring as a local camera does, in this
actor's memory (the stream's bitrate times `activity.clip_buffer_s`: about 17 MB for 30 s at
4.6 Mbit/s); `clip` renders from it (vigil/activity/clip.py, the same code as for a local camera)
with the sound of this node's microphone when the activity hears one. It runs in its own
concurrency group (vigil/cluster/cameras.py), so a long render never delays `report` or `latest`.

Ray restarts a camera actor whose node died on another node (`max_restarts`); the restart runs
`__init__` again, so the camera starts over with a new run id (vigil/cluster/identifier.py). A
node only cut off from the cluster keeps its old actor running: the new run's claim fences the old
one off (vigil/cluster/fence.py), whose writes are then refused and which stops itself."""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field

from vigil.activity.clip import RenderedClip, render_live_clip
from vigil.activity.live import LiveState
from vigil.activity.live_store import store_sink
from vigil.cluster.fence import CameraFence, FenceWatch
from vigil.cluster.identifier import RunIdentifier
from vigil.config import CameraConfig, VigilSettings
from vigil.live.analyse import LatestResult
from vigil.live.camera import CameraStatus
from vigil.live.events import PipelineEvent
from vigil.live.factory import PipelineFactory, configure_process, default_embedder
from vigil.store.repository import IdentityStore

log = logging.getLogger(__name__)
EVENTS_KEPT = 500  # waiting for the next pull (a face event holds its frame); older ones dropped, counted


@dataclass(frozen=True)
class Placement:
    """Where a camera actor's current incarnation runs."""

    node_id: str  # Ray's node id (hex)
    node_ip: str
    pid: int
    run: uuid.UUID  # new at every (re)start
    started_at: float  # wall time the constructor began
    init_s: float  # what the constructor took (store, models, source thread started)
    embedder_model: str  # the model name of its vectors (the server's watchlist monitor needs it)

    @property
    def node(self) -> str:
        return f"{self.node_ip} ({self.node_id[:8]})"


@dataclass(frozen=True)
class ActorReport:
    placement: Placement
    running: bool
    status: CameraStatus
    events: list[PipelineEvent] = field(default_factory=list)
    last_seq: int = 0  # of the last event in `events` (or the `after` asked for)
    dropped_events: int = 0  # since the start of this run
    written: list[uuid.UUID] = field(default_factory=list)  # sightings committed since the last pull
    activity: LiveState | None = None  # the camera's current activity (None: its analysis is off)


class EventBuffer:
    """The pipeline's event sink inside the actor: numbered events kept until the server pulls them."""

    def __init__(self, kept: int = EVENTS_KEPT) -> None:
        self._events: deque[tuple[int, PipelineEvent]] = deque(maxlen=kept)
        self._seq = 0
        self.dropped = 0
        self._lock = threading.Lock()

    def handle(self, event: PipelineEvent) -> None:
        copy = dataclasses.replace(event)  # the worker clears `source` once the sinks had it
        with self._lock:
            if len(self._events) == self._events.maxlen:
                self.dropped += 1
            self._seq += 1
            self._events.append((self._seq, copy))

    def close(self) -> None:
        pass

    def since(self, after: int) -> tuple[list[PipelineEvent], int]:
        with self._lock:
            events = [(seq, event) for seq, event in self._events if seq > after]
            # Pulled ones are let go (a frame each for face events); the server asks from the last.
            while self._events and self._events[0][0] <= after:
                self._events.popleft()
        return [event for _, event in events], events[-1][0] if events else after


class CameraActor:
    """Decorated with `ray.remote` by vigil/cluster/cameras.py; its methods are the actor API."""

    def __init__(self, settings: VigilSettings, db_url: str, name: str, camera: CameraConfig) -> None:
        from vigil.jobs.ray_pool import import_ray

        ray = import_ray()
        began, clock = time.time(), time.perf_counter()
        self.run = uuid.uuid4()
        self.name = name
        configure_process(settings)
        context = ray.get_runtime_context()
        node_id, node_ip = context.get_node_id(), ray.util.get_node_ip_address()
        self.store = IdentityStore.open(settings, db_url)
        # Before anything is written: from here on a newer run of this camera fences this one off.
        self.fence = CameraFence(self.store.db, name, self.run)
        self.fence.claim(f"{node_ip} ({node_id[:8]})")
        self.identifier = RunIdentifier(self.store, self.run)
        self.events = EventBuffer()
        self.embedder = default_embedder(settings)
        try:
            factory = PipelineFactory(
                settings,
                self.embedder,
                [self.events],
                self.identifier,
                activity_sink=store_sink(self.store.db),
            )
            self.pipeline = factory.build(name, camera)
            self.pipeline.start()
            self.watch = FenceWatch(self.fence, self.pipeline.stop)
            self.watch.start()
        except BaseException:
            self.embedder.close()
            self.store.close()
            raise
        self.placement = Placement(
            node_id=node_id,
            node_ip=node_ip,
            pid=os.getpid(),
            run=self.run,
            started_at=began,
            init_s=time.perf_counter() - clock,
            embedder_model=self.embedder.name,
        )
        log.info("camera %s started on %s (run %s)", name, self.placement.node, self.run)

    def report(self, after: int, run: uuid.UUID | None) -> ActorReport:
        """State and what happened since event `after` of run `run` (another run: from its start)."""
        events, last = self.events.since(after if run == self.run else 0)
        return ActorReport(
            self.placement,
            self.pipeline.running,
            self.pipeline.status(),
            events,
            last,
            self.events.dropped,
            self.identifier.drain_written(),
            None if self.pipeline.activity is None else self.pipeline.activity.state,
        )

    def latest(self) -> LatestResult | None:
        return self.pipeline.latest

    def clip(self, seconds: float) -> RenderedClip:
        """The last `seconds` as an MP4 in memory; the typed errors of `render_live_clip` (nothing
        buffered, clips off, more than kept) reach the server as the cause of Ray's error."""
        running = self.pipeline.running
        return render_live_clip(self.pipeline.activity if running else None, self.name, seconds)

    def stop(self, timeout_s: float) -> bool:
        """Stops the pipeline (its last events stay pullable); True when every thread ended."""
        self.pipeline.stop()
        done = self.pipeline.join(timeout_s)
        self.watch.close()
        self.embedder.close()
        self.store.close()
        return done
