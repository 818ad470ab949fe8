"""The server's side of cluster mode: one `RemoteCamera` handle per camera actor, and
`ClusterCameras`, whose checker thread watches every actor and pulls what it has.

Placement: each actor reserves `cluster.camera_cpus` CPUs and is placed with Ray's SPREAD strategy,
so cameras spread over the nodes and a node takes as many as its `--num-cpus` carries.

Failover: actors are created with `max_restarts=-1`. When a node dies, Ray restarts its actors
on nodes with free CPUs (`__init__` runs again: the camera starts over, as a new run); an actor
waits, unplaced, when no node has room. The checker sees a restarted actor by its new run id and
logs and records the move (`RemoteCamera.moves`).

Every call to an actor has a timeout (`cluster.call_timeout_s`), so a dead or overloaded node
never hangs a page: the checker asks all actors at once every `cluster.check_period_s` and keeps
the last answer; an actor that did not answer is shown as reconnecting, with the reason, and is
not asked for live frames until it answers again. A clip (`/api/save-clip`) has its own bound,
`CLIP_TIMEOUT_S`, and runs in the actor's own concurrency group `clip`, beside the checker's calls."""

from __future__ import annotations

import functools
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vigil.activity.clip import ClipUnavailable, RenderedClip
from vigil.activity.live import LiveState
from vigil.cluster.actor import ActorReport, CameraActor, Placement
from vigil.cluster.config import ClusterConfig
from vigil.config import CameraConfig, VigilSettings
from vigil.errors import VigilError
from vigil.live.analyse import LatestResult
from vigil.live.camera import CameraStatus
from vigil.live.counters import StageCounters
from vigil.live.events import EventSink, PipelineEvent, TrackEnded, TrackStarted
from vigil.live.health import SourceHealth, SourceState
from vigil.redact import redact
from vigil.sources import source_kind

log = logging.getLogger(__name__)
LATEST_TTL_S = 0.05  # live views of one camera share a pulled frame this long
# A clip's render in the actor plus its bytes' way to the server. Measured for the longest (120 s)
# of a 720p 4.6 Mbit/s stream: 72 MB, remuxed in 0.08 s, 1.1 s when a microphone's sound is encoded
# (idle core); 6 s over a 100 Mbit/s link. 30 s covers that on a busy node or a slower link, or
# twice the bitrate, and still bounds the request when the actor is wedged. A constant, not a
# setting: the clip length is capped (120 s) and nothing else waits on it.
CLIP_TIMEOUT_S = 30.0
CLIP_GROUP = "clip"  # the actor's concurrency group for clips: `report` and `latest` never wait on one


@dataclass(frozen=True)
class Move:
    """A camera's (re)start on a node, as the server saw it."""

    seen_at: float  # wall time the server first saw this run
    placement: Placement
    unreachable_s: float | None  # since the previous run stopped answering (None: first start)


@functools.cache
def _actor_class() -> Any:
    from vigil.jobs.ray_pool import import_ray

    ray = import_ray()
    # Ray restarts it elsewhere when its node dies, as often as that happens; calls are not
    # retried (the checker asks again on its next tick).
    return ray.remote(max_restarts=-1, max_task_retries=0, concurrency_groups={CLIP_GROUP: 1})(CameraActor)


class RemoteCamera:
    """What `CameraManager` needs of a running camera (as of a `CameraPipeline`), for an actor."""

    def __init__(
        self, name: str, camera: CameraConfig, settings: VigilSettings, db_url: str, ray: Any
    ) -> None:
        self.name = name
        self.camera = camera
        self._settings = settings
        self._db_url = db_url
        self._ray = ray
        self._config: ClusterConfig = settings.cluster
        self._handle: Any = None
        self._stop_ref: Any = None
        self._lock = threading.Lock()
        self._report: ActorReport | None = None
        self._error: str | None = None  # why the last check failed (None: it answered)
        self._failed: str | None = None  # the actor died for good (its start failed)
        self._unreachable_since: float | None = None
        self._latest: tuple[float, LatestResult | None] = (0.0, None)
        self.moves: list[Move] = []
        self.stopped = False
        self._open_tracks: set[int] = set()  # of the current run, from its events

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._handle = (
            _actor_class()
            .options(num_cpus=self._config.camera_cpus, scheduling_strategy="SPREAD")
            .remote(self._settings, self._db_url, self.name, self.camera)
        )

    def stop(self) -> None:
        with self._lock:
            if self.stopped or self._handle is None:
                self.stopped = True
                return
            self.stopped = True
        if self._reachable():
            self._stop_ref = self._handle.stop.remote(self._config.call_timeout_s * 4)

    def join(self, timeout: float | None = None) -> bool:
        """Waits for the actor's own stop (bounded), then ends its process."""
        if self._handle is None:
            return True
        if self._stop_ref is not None:
            self._ray.wait([self._stop_ref], timeout=timeout)
        self._ray.kill(self._handle, no_restart=True)
        return True

    # ------------------------------------------------------------ reads (no remote call but `latest`)
    @property
    def running(self) -> bool:
        with self._lock:
            if self.stopped or self._failed is not None:
                return False
            return self._report is None or self._error is not None or self._report.running

    @property
    def placement(self) -> Placement | None:
        with self._lock:
            return None if self._report is None else self._report.placement

    @property
    def node(self) -> str | None:
        placement = self.placement
        return None if placement is None else placement.node

    @property
    def latest(self) -> LatestResult | None:
        """The actor's newest analysed frame (None while it does not answer)."""
        now = time.monotonic()
        with self._lock:
            at, latest = self._latest
            if now - at < LATEST_TTL_S:
                return latest
        if self._handle is None or not self._reachable():
            return None
        try:
            latest = self._ray.get(self._handle.latest.remote(), timeout=self._config.call_timeout_s)
        except Exception as exc:  # a timeout or a dead actor: the checker will say which
            log.debug("camera %s: no live frame (%s)", self.name, exc)
            latest = None
        with self._lock:
            self._latest = (time.monotonic(), latest)
        return latest

    def clip(self, seconds: float) -> RenderedClip:
        """The actor's last `seconds` as an MP4 in memory (`CameraActor.clip`), waiting at most
        `CLIP_TIMEOUT_S`. Raises the actor's own typed error (nothing buffered, clips off, more
        than kept), or ClipUnavailable when the actor does not answer."""
        if self._handle is None or not self._reachable():
            with self._lock:
                why = self._failed or self._error or "stopped"
            raise ClipUnavailable(f"camera {self.name}: its actor does not answer ({why})")
        ref = self._handle.clip.options(concurrency_group=CLIP_GROUP).remote(seconds)
        exceptions = self._ray.exceptions
        try:
            clip: RenderedClip = self._ray.get(ref, timeout=CLIP_TIMEOUT_S)
        except exceptions.GetTimeoutError:
            self._ray.cancel(ref)  # not yet started (another clip before it): never run
            raise ClipUnavailable(
                f"camera {self.name}: its actor does not answer (no clip within {CLIP_TIMEOUT_S:g} s)"
            ) from None
        except exceptions.RayTaskError as exc:
            if isinstance(exc.cause, VigilError):  # the actor's refusal, as a local camera's
                raise exc.cause from None
            raise
        except exceptions.RayError as exc:  # the actor died, or is restarting on another node
            why = redact(_first_line(exc))
            raise ClipUnavailable(f"camera {self.name}: its actor does not answer ({why})") from None
        return clip

    @property
    def activity_state(self) -> LiveState | None:
        """The camera's current activity as the actor last reported it (None while it does not
        answer: a state that may be stale is not shown as current)."""
        with self._lock:
            if self._report is None or self._error is not None:
                return None
            return self._report.activity

    def status(self) -> CameraStatus:
        with self._lock:
            report, error, failed = self._report, self._error, self._failed
        if report is not None and error is None and failed is None:
            return report.status
        why: str | None
        if failed is not None:
            state, why = SourceState.FAILED, failed
        elif report is None:  # not answered yet: placed, starting its process and models (or no room)
            state, why = SourceState.STARTING, None if error is None else f"starting: {error}"
        else:
            state, why = SourceState.RECONNECTING, error
        health = SourceHealth(self.name, self.camera.url, source_kind(self.camera.url), state, last_error=why)
        if report is not None:
            health.reconnects = report.status.health.reconnects
        return CameraStatus(health.snapshot(), StageCounters().snapshot(), None)

    def _reachable(self) -> bool:
        with self._lock:
            return self._failed is None and (self._report is None or self._error is None)

    # ------------------------------------------------------------ the checker's side
    def ask(self) -> Any:
        """A report call (an ObjectRef), or None when there is nothing to ask."""
        with self._lock:
            if self._handle is None or self.stopped or self._failed is not None:
                return None
            report = self._report
        after, run = (0, None) if report is None else (report.last_seq, report.placement.run)
        return self._handle.report.remote(after, run)

    def answered(self, report: ActorReport) -> list[PipelineEvent]:
        """Keeps the report; returns its events (new ones only) for the server's sinks.

        A new run after a lost one starts with the end of every track the lost run left open:
        the new run counts track ids from 1 again, and the sinks (live labels, the watchlist
        monitor) must not take its track 1 for the old one."""
        now = time.time()
        closing: list[PipelineEvent] = []
        with self._lock:
            previous = self._report
            if previous is not None and previous.placement.run != report.placement.run:
                closing = [TrackEnded(self.name, track, now, 0.0) for track in sorted(self._open_tracks)]
                self._open_tracks.clear()
            for event in report.events:
                if isinstance(event, TrackStarted):
                    self._open_tracks.add(event.track_id)
                elif isinstance(event, TrackEnded):
                    self._open_tracks.discard(event.track_id)
            if previous is None or previous.placement.run != report.placement.run:
                lost = self._unreachable_since
                self.moves.append(Move(now, report.placement, None if lost is None else now - lost))
                if previous is not None:
                    log.warning(
                        "camera %s restarted on %s (was on %s; %.1f s without an answer)",
                        self.name,
                        report.placement.node,
                        previous.placement.node,
                        0.0 if lost is None else now - lost,
                    )
            self._report, self._error, self._unreachable_since = report, None, None
        return [*closing, *report.events]

    def unanswered(self, reason: str, for_good: bool) -> None:
        with self._lock:
            if self._error is None:
                self._unreachable_since = time.time()
                if self._report is not None or for_good:  # a starting actor is slow to answer at first
                    log.warning("camera %s: its actor does not answer (%s)", self.name, reason)
            self._error = reason
            if for_good:
                self._failed = reason


class ClusterCameras:
    """The camera actors of one server, and the thread that checks them and pulls their events."""

    def __init__(
        self,
        settings: VigilSettings,
        db_url: str,
        sinks_for: Callable[[str], Sequence[EventSink]],
        on_written: Callable[[str, list[uuid.UUID]], None] | None = None,
    ) -> None:
        """`sinks_for(embedder model)`: where the actors' events go in the server (the event bus,
        the watchlist monitor); `on_written(camera, sighting ids)`: what the actors reported written."""
        from vigil.jobs.ray_pool import connect

        self.settings = _absolute_paths(settings)
        self.config = settings.cluster
        self._db_url = db_url
        self._sinks_for = sinks_for
        self.on_written = on_written
        self._ray = connect(self.config.ray_address)
        self._cameras: list[RemoteCamera] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._checker = threading.Thread(target=self._check_loop, name="vigil-cluster-check", daemon=True)
        self._checker.start()

    def build(self, name: str, camera: CameraConfig) -> RemoteCamera:
        if "://" not in camera.url and Path(camera.url).exists():  # a file: the same path on every node
            camera = camera.model_copy(update={"url": str(Path(camera.url).resolve())})
        remote = RemoteCamera(name, camera, self.settings, self._db_url, self._ray)
        with self._lock:
            self._cameras = [c for c in self._cameras if not c.stopped] + [remote]
        return remote

    def cameras(self) -> list[RemoteCamera]:
        """The actors not stopped, oldest first."""
        with self._lock:
            return [c for c in self._cameras if not c.stopped]

    def clip(self, camera: str, seconds: float) -> RenderedClip:
        """The last `seconds` of the running camera named `camera` (RemoteCamera.clip)."""
        remote = next((c for c in self.cameras() if c.name == camera), None)
        if remote is None:
            raise ClipUnavailable(f"camera {camera} is not running with activity analysis on")
        return remote.clip(seconds)

    def nodes(self) -> list[str]:
        """The cluster's live nodes (IP and short id)."""
        return [f"{n['NodeManagerAddress']} ({n['NodeID'][:8]})" for n in self._ray.nodes() if n["Alive"]]

    def close(self) -> None:
        self._closing.set()
        self._checker.join(self.config.call_timeout_s + self.config.check_period_s + 5)

    # ------------------------------------------------------------ the checker
    def _check_loop(self) -> None:
        while not self._closing.wait(self.config.check_period_s):
            try:
                self.check()
            except Exception:  # the checker must outlive any one bad answer
                log.exception("cluster: checking the camera actors failed")

    def check(self) -> None:
        """Asks every camera actor at once and waits at most `call_timeout_s` for the answers."""
        cameras = self.cameras()
        asked = {ref: camera for camera in cameras if (ref := camera.ask()) is not None}
        if not asked:
            return
        ready, late = self._ray.wait(list(asked), num_returns=len(asked), timeout=self.config.call_timeout_s)
        for ref in late:
            asked[ref].unanswered(f"no answer within {self.config.call_timeout_s:.1f} s", False)
        for ref in ready:
            self._take(asked[ref], ref)

    def _take(self, camera: RemoteCamera, ref: Any) -> None:
        exceptions = self._ray.exceptions
        try:
            report: ActorReport = self._ray.get(ref)
        except exceptions.ActorDiedError as exc:
            # Restarts are unlimited, so a dead actor is one whose start failed (or that was killed).
            camera.unanswered(redact(_first_line(exc)), for_good=True)
            return
        except exceptions.RayError as exc:  # restarting (its node died), or the call failed
            camera.unanswered(redact(_first_line(exc)), for_good=False)
            return
        events = camera.answered(report)
        if report.written and self.on_written is not None:
            self.on_written(camera.name, report.written)
        if events:
            for event in events:
                for sink in self._sinks_for(report.placement.embedder_model):
                    try:
                        sink.handle(event)
                    except Exception:  # one failing sink must not stop the others (as in a pipeline)
                        log.exception("event sink %s failed on %s", type(sink).__name__, event.type)


def _absolute_paths(settings: VigilSettings) -> VigilSettings:
    """The folders as absolute paths: an actor's working directory is Ray's, not the server's.
    They must be the same folders on every node (shared storage, docs/ray.md)."""
    models_dir = None if settings.models_dir is None else settings.models_dir.resolve()
    faces_dir = settings.store.faces_dir
    store = settings.store.model_copy(
        update={"faces_dir": None if faces_dir is None else faces_dir.resolve()}
    )
    update = {
        "data_dir": settings.data_dir.resolve(),
        "shared_dir": settings.shared_dir.resolve(),
        "models_dir": models_dir,
        "store": store,
    }
    return settings.model_copy(update=update)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]
