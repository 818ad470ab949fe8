"""Camera workers inside the server: cameras added at run time plus the configured ones.

Every camera is a row of the `cameras` table, so each has an integer id. Rows added through the
API are `managed`; configured cameras (YAML, CAMERAS_IPS, CAMERAS_USB_MAX) are upserted as
unmanaged rows at start and are read-only through the API. The identity store also creates rows
by camera name for its sightings, so rows are matched on name. A started camera runs one
`CameraPipeline`; a stopped pipeline cannot restart, so every start builds a new one. One embedder
is shared by all cameras, created at the first start (a server without cameras never loads it)."""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import cv2

from vigil.activity.live import LiveActivity, LiveState
from vigil.activity.settings import AudioSource
from vigil.anonymize.live_privacy import LivePrivacy
from vigil.cluster.cameras import ClusterCameras, RemoteCamera
from vigil.cluster.config import check_cluster_store
from vigil.config import CameraConfig, VigilSettings
from vigil.embed import FaceEmbedder
from vigil.errors import ConflictError, InvalidError, NotFoundError, RefusedError, UnavailableError
from vigil.live.analyse import LatestResult
from vigil.live.camera import CameraPipeline, CameraStatus
from vigil.live.counters import CounterSnapshot
from vigil.live.events import EventSink
from vigil.live.factory import PipelineFactory, configure_process, default_embedder
from vigil.live.health import HealthSnapshot, SourceState
from vigil.live.supervisor import unique_names
from vigil.redact import redact
from vigil.sources import camera_name, open_source
from vigil.store.camera_claims import camera_claims
from vigil.store.cameras import CameraRow, CameraSource, Zones, zones_of
from vigil.store.identifier import StoreIdentifier
from vigil.store.repository import IdentityStore
from vigil.types import Image
from vigil.web.camera_policy import CameraPolicy
from vigil.web.events import EventBus
from vigil.web.live import LiveEncoder, VisitorNames

log = logging.getLogger(__name__)

Origin = Literal["db", "config"]
STOP_JOIN_S = 5.0  # a stop request waits this long; slower pipelines are joined at shutdown
CLOSE_JOIN_S = 15.0
LOST_CLAIM = "stopped: its claim was lost with the database session; it starts again where it is claimed next"
_USB_URL = re.compile(r"^(?:usb:(\d{1,2})|/dev/video(\d{1,2}))$")
_NETWORK_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")
T = TypeVar("T")


class CameraError(RefusedError):
    """A refused camera operation (its kind gives the HTTP status, see vigil.errors)."""


class CameraNotFound(CameraError, NotFoundError):
    pass


class CameraConflict(CameraError, ConflictError):
    pass


class InvalidCameraUrl(CameraError, InvalidError):
    pass


class CameraClaimed(CameraError, ConflictError):
    """Another server process over the same database runs the camera (vigil/store/camera_claims.py)."""


class CameraUnavailable(CameraError, UnavailableError):
    pass


@dataclass(frozen=True)
class CameraInfo:
    """A camera's definition (the database row, or the configuration for config cameras)."""

    id: int
    name: str
    url: str
    origin: Origin
    enabled: bool
    fps: float | None
    loop: bool
    dead_zones: Zones
    motion_mask: Zones = field(default_factory=list)
    activity: bool = False  # the person's activity analysed on the pipeline's frames
    activity_audio: AudioSource | None = None  # its sound: stream, microphone, none; None: the default

    @property
    def read_only(self) -> bool:
        return self.origin == "config"

    def source(self) -> CameraSource:
        return CameraSource(
            self.url, self.fps, self.loop, self.dead_zones, self.activity, self.activity_audio
        )

    def config(self) -> CameraConfig:
        return CameraConfig(
            url=self.url,
            name=self.name,
            fps=self.fps,
            loop=self.loop,
            dead_zones=self.dead_zones,
            motion_mask=self.motion_mask,
            activity=self.activity,
            activity_audio=self.activity_audio,
        )


@dataclass(frozen=True)
class CameraRuntime:
    """What a camera is doing now. `state` is the source state, or stopped/failed without pipeline."""

    running: bool
    state: SourceState
    health: HealthSnapshot | None = None
    counters: CounterSnapshot | None = None
    progress: float | None = None
    start_error: str | None = None
    node: str | None = None  # the cluster node the camera runs on (cluster mode only)


# ------------------------------------------------------------------ URLs and names
def check_url(url: str) -> str:
    """The URL if Vigil can open it: rtsp(s)/http(s) with a host, usb:N, /dev/videoN, or a file
    path (path or file://). Raises `InvalidCameraUrl` with the reason. Whether a camera added at
    run time may use it (and whether its file exists) is the camera policy's check."""
    url = url.strip()
    if not url or any(ord(c) < 32 for c in url):
        raise InvalidCameraUrl("the camera URL is empty or contains control characters")
    lower = url.lower()
    if lower.startswith(_NETWORK_SCHEMES):
        try:
            host = urlsplit(url).hostname
        except ValueError as exc:
            raise InvalidCameraUrl(f"malformed camera URL: {exc}") from exc
        if not host:
            raise InvalidCameraUrl("a network camera URL needs a host, e.g. rtsp://10.0.0.5:554/stream")
        return url
    if _USB_URL.match(url):
        return url
    if re.match(r"^[a-z][a-z0-9+.-]*://", lower) and not lower.startswith("file://"):
        raise InvalidCameraUrl(
            "unsupported camera URL: use rtsp://, http(s)://, usb:N, /dev/videoN or a video file path"
        )
    return url


def usb_index(url: str) -> int | None:
    match = _USB_URL.match(url)
    if match is None:
        return None
    return int(match.group(1) or match.group(2))


# ------------------------------------------------------------------ probing (no pipeline)
def _in_thread(job: Callable[[], T], timeout_s: float, what: str) -> T:
    """Runs `job` in a daemon thread so a stalled device or stream cannot hang the caller."""
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["value"] = job()
        except Exception as exc:  # reported to the caller below
            result["error"] = exc

    worker = threading.Thread(target=run, name="vigil-probe", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise CameraUnavailable(f"{what}: no answer within {timeout_s:.0f} s")
    if "error" in result:
        raise CameraUnavailable(f"{what}: {result['error']}")  # answered through the redacting handler
    value: T = result["value"]
    return value


def grab_frame(url: str, settings: VigilSettings, timeout_s: float) -> Image:
    """Decodes one picture from a source that is not running (for snapshots)."""

    def first_frame() -> Image:
        source = open_source(url, settings.runtime)
        try:
            source.open()
            for raw in source.frames():
                return raw.to_bgr()
            raise ValueError("the source has no frame")
        finally:
            source.close()

    return _in_thread(first_frame, timeout_s, "could not read a picture from the camera")


def probe_usb(index: int, timeout_s: float) -> bool:
    def opens() -> bool:
        capture = cv2.VideoCapture(index, cv2.CAP_V4L2)
        try:
            return bool(capture.isOpened() and capture.read()[0])
        finally:
            capture.release()

    try:
        return _in_thread(opens, timeout_s, f"USB camera {index}")
    except CameraUnavailable:
        return False


# ------------------------------------------------------------------ the manager
class CameraManager:
    """Thread-safe: mutations are serialised by `_ops`; status reads only take `_state` briefly."""

    def __init__(
        self,
        settings: VigilSettings,
        store: IdentityStore,
        events: EventBus,
        embedder_factory: Callable[[], FaceEmbedder] | None = None,
        model_sinks: Callable[[str], Sequence[EventSink]] = lambda model: (),
    ) -> None:
        """`model_sinks(embedder model)`: more sinks of every pipeline (the watchlist monitor)."""
        configure_process(settings)  # as in `vigil watch`
        self.settings = settings
        self.store = store
        self.events = events
        enabled = settings.store.enabled
        self.identifier = StoreIdentifier(store, close_store=False) if enabled else None
        self.policy = CameraPolicy.of(settings)
        self._embedder_factory = embedder_factory or (lambda: default_embedder(settings))
        self._model_sinks = model_sinks
        self._factory: PipelineFactory | None = None  # built with the embedder, at the first start
        self._cameras: dict[int, CameraInfo] = {}
        self._pipelines: dict[int, CameraPipeline | RemoteCamera] = {}
        self._start_errors: dict[int, str] = {}
        self._claimed_elsewhere: set[int] = set()  # enabled here, but another server held them
        self._stopping: list[CameraPipeline | RemoteCamera] = []  # stopped but not yet joined
        self.claims = camera_claims(store.db)  # a camera runs on one server of the database
        self.cluster: ClusterCameras | None = None  # cluster mode: pipelines are Ray actors
        if settings.cluster.enabled:
            db_url = store.db.url.render_as_string(hide_password=False)
            check_cluster_store(db_url)
            self.cluster = ClusterCameras(settings, db_url, self._cluster_sinks)
            self._cluster_model_sinks: dict[str, list[EventSink]] = {}
        self._ops = threading.RLock()
        self._state = threading.Lock()
        self.closed = False
        # Shared JPEGs of the live views, faces covered for the roles under the privacy mode.
        privacy = LivePrivacy(settings.anonymize.live, settings.model_search_dirs())
        self.live = LiveEncoder(settings.web.live_jpeg_quality, privacy=privacy)
        self.visitor_names = VisitorNames(self.lookup_visitor_names)  # for the live labels
        self._load()

    # -------------------------------------------------------------- reads
    def cameras(self) -> list[CameraInfo]:
        with self._state:
            return sorted(self._cameras.values(), key=lambda c: c.id)

    def get(self, camera_id: int) -> CameraInfo:
        with self._state:
            info = self._cameras.get(camera_id)
        if info is None:
            raise CameraNotFound(f"no camera with id {camera_id} (list them with GET /api/cameras)")
        return info

    def runtime(self, camera_id: int) -> CameraRuntime:
        with self._state:
            pipeline = self._pipelines.get(camera_id)
            error = self._start_errors.get(camera_id)
        if pipeline is None:
            state = SourceState.FAILED if error else SourceState.STOPPED
            return CameraRuntime(False, state, start_error=error)
        status = pipeline.status()
        node = pipeline.node if isinstance(pipeline, RemoteCamera) else None
        return CameraRuntime(
            pipeline.running, status.health.state, status.health, status.counters, status.progress, node=node
        )

    def statuses(self) -> dict[str, CameraStatus]:
        """Status of every camera that has a pipeline (running or ended), by camera name."""
        with self._state:
            pipelines = list(self._pipelines.values())
        return {p.name: p.status() for p in pipelines}

    def nodes(self) -> dict[str, str | None]:
        """Cluster mode: the node each camera with a pipeline runs on, by camera name (else empty)."""
        with self._state:
            pipelines = list(self._pipelines.values())
        return {p.name: p.node for p in pipelines if isinstance(p, RemoteCamera)}

    def latest(self, camera_id: int) -> LatestResult | None:
        """The newest analysed frame and its tracked faces (None when stopped or not yet analysed)."""
        with self._state:
            pipeline = self._pipelines.get(camera_id)
        return pipeline.latest if pipeline is not None else None

    def activity_state(self, camera_id: int) -> LiveState | None:
        """The camera's current activity as its live analysis holds it (None when the camera is
        stopped or its activity analysis is off). Memory only, no database."""
        with self._state:
            pipeline = self._pipelines.get(camera_id)
        if isinstance(pipeline, RemoteCamera):  # cluster mode: as the actor last reported it
            return pipeline.activity_state
        if pipeline is None or pipeline.activity is None:
            return None
        return pipeline.activity.state

    def live_activity(self, camera_id: int) -> LiveActivity | None:
        """The camera's activity analysis running in this process (its clip ring, its sound);
        None when it is off, the camera is stopped, or it runs on a cluster node."""
        with self._state:
            pipeline = self._pipelines.get(camera_id)
        if not isinstance(pipeline, CameraPipeline) or not pipeline.running:
            return None
        return pipeline.activity

    def is_running(self, camera_id: int) -> bool:
        with self._state:
            pipeline = self._pipelines.get(camera_id)
        return pipeline is not None and pipeline.running

    def busy_usb_indexes(self) -> set[int]:
        busy = {usb_index(c.url) for c in self.cameras() if self.is_running(c.id)}
        return {i for i in busy if i is not None}

    def health_summary(self) -> dict[str, Any]:
        """Seed 004's health shape: healthy when every enabled camera streams, degraded when some
        do not, unhealthy when none does. No camera at all is a valid, healthy state."""
        cameras = self.cameras()
        active = sum(1 for c in cameras if self.runtime(c.id).state is SourceState.RUNNING)
        expected = sum(1 for c in cameras if c.enabled)
        if active >= expected:
            status = "healthy"
        elif active > 0:
            status = "degraded"
        else:
            status = "unhealthy"
        last = self._last_detection()
        return {
            "status": status,
            "active_streams": active,
            "total_cameras": len(cameras),
            "last_detection": last.isoformat(timespec="seconds").replace("+00:00", "Z") if last else None,
        }

    def _last_detection(self) -> datetime | None:
        """Newest face event of this server, else the newest stored sighting."""
        last_event = self.events.last_event_ts
        stamps = [datetime.fromtimestamp(last_event, UTC)] if last_event is not None else []
        with self._state:
            latest = [p.latest for p in self._pipelines.values()]
        stamps += [datetime.fromtimestamp(r.frame.wall_ts, UTC) for r in latest if r and len(r.detections)]
        return max(stamps) if stamps else self.store.visitors.last_sighting_at()

    # -------------------------------------------------------------- mutations
    def create(
        self,
        url: str,
        name: str | None = None,
        fps: float | None = None,
        loop: bool = False,
        enabled: bool = True,
        dead_zones: Zones | None = None,
        activity: bool = False,
        activity_audio: AudioSource | None = None,
    ) -> CameraInfo:
        url = check_url(url)
        self.policy.check(url)
        with self._ops:
            name = name.strip() if name else self._free_name(camera_name(url))
            self._check_name_free(name, None)
            source = CameraSource(url, fps, loop, dead_zones or [], activity, activity_audio)
            row = self.store.cameras.upsert(name, source, managed=True, enabled=enabled)
            zones = dead_zones or []
            info = CameraInfo(
                row.id,
                name,
                url,
                "db",
                enabled,
                fps,
                loop,
                zones,
                activity=activity,
                activity_audio=activity_audio,
            )
            with self._state:
                self._cameras[info.id] = info
            if enabled:
                self._launch(info)
            return info

    def update(self, camera_id: int, **changes: Any) -> CameraInfo:
        """Changes name/url/fps/loop/dead_zones/activity/activity_audio; a running camera restarts
        with them."""
        with self._ops:
            info = self._editable(camera_id)
            if "url" in changes:
                changes["url"] = check_url(changes["url"])
                self.policy.check(changes["url"])
            if changes.get("name"):
                changes["name"] = changes["name"].strip()
                self._check_name_free(changes["name"], camera_id)
                self._check_name_unused(changes["name"], camera_id)
            elif "name" in changes:
                del changes["name"]
            new = replace(info, **changes)
            self.store.cameras.update(camera_id, new.name, new.source())
            was_running = self.is_running(camera_id)
            self._halt(camera_id)
            with self._state:
                self._cameras[camera_id] = new
            if was_running:
                self._launch(new)
            return new

    def delete(self, camera_id: int) -> None:
        """Stops the camera and removes it from the list. The row stays (unmanaged) so that
        its sightings keep their camera name; adding a camera of that name adopts it again."""
        with self._ops:
            info = self._editable(camera_id)
            self._halt(camera_id)
            self.store.cameras.retire(camera_id)
            with self._state:
                self._cameras.pop(info.id, None)
                self._start_errors.pop(info.id, None)

    def start(self, camera_id: int) -> None:
        with self._ops:
            info = self._set_enabled(self.get(camera_id), True)
            failure = self._launch(info)
            if isinstance(failure, CameraClaimed):
                raise failure
            if failure is not None:
                raise CameraUnavailable(f"camera {info.name} could not start: {self._start_errors[info.id]}")

    def stop(self, camera_id: int) -> None:
        with self._ops:
            self._set_enabled(self.get(camera_id), False)
            self._halt(camera_id)

    def start_enabled(self) -> None:
        """Starts every enabled camera (server start); a failing camera is logged and skipped."""
        for info in self.cameras():
            if info.enabled and not self.closed:
                with self._ops:
                    self._launch(info)

    def take_over(self) -> list[str]:
        """Starts the cameras another server of this database held when they were to start here,
        once that server has let them go (it stopped them or died) and the database still has them
        enabled; returns the names started. The app calls it every `web.camera_takeover_s`."""
        for name in self.claims.lost():
            if self.claims.claim(name):  # nobody took it meanwhile: it goes on here
                log.warning("camera %s: its claim was lost with the database session, and taken again", name)
            else:
                self._stop_unclaimed(name)
        with self._state:
            waiting = sorted(self._claimed_elsewhere)
        started: list[str] = []
        for camera_id in waiting:
            with self._ops:
                info = self._as_stored(camera_id)
                if self.closed or info is None or not info.enabled or self.is_running(camera_id):
                    continue
                if not self.claims.claim(info.name):
                    continue  # still held elsewhere: wait, quietly
                if self._launch(info) is None:
                    log.info("camera %s started here: the server that ran it let it go", info.name)
                    started.append(info.name)
        return started

    def close(self) -> None:
        """Stops and joins every pipeline, then closes the shared embedder."""
        self.closed = True
        with self._ops:
            with self._state:
                pipelines = [*self._pipelines.values(), *self._stopping]
                self._pipelines.clear()
                self._stopping.clear()
            for pipeline in pipelines:
                pipeline.stop()
            for pipeline in pipelines:
                if not pipeline.join(CLOSE_JOIN_S):
                    log.error("camera %s did not stop within %.0f s", pipeline.name, CLOSE_JOIN_S)
            if self._factory is not None:
                self._factory.embedder.close()
                self._factory = None
            if self.cluster is not None:
                self.cluster.close()
            self.claims.close()

    def lookup_visitor_names(self, visitor_ids: list[str]) -> dict[str, str | None]:
        """The stored names of these visitors (ids that are not visitors are left out)."""
        ids = []
        for visitor in visitor_ids:
            with contextlib.suppress(ValueError):
                ids.append(uuid.UUID(visitor))
        return {str(visitor): name for visitor, name in self.store.visitors.names(ids).items()}

    def check_source(self, info: CameraInfo) -> None:
        """Raises `CameraUrlRefused` when a camera added at run time may not open its URL (a row
        stored before the policy, or the policy or a host's address changed since)."""
        if not info.read_only:
            self.policy.check(info.url)

    # -------------------------------------------------------------- internals
    def _launch(self, info: CameraInfo) -> Exception | None:
        """Builds and starts a new pipeline (caller holds `_ops`); what stopped it, if it cannot start."""
        if self.closed:
            return CameraUnavailable("the server is stopping")
        if self.is_running(info.id):
            return None
        try:
            self.check_source(info)
            if not self.claims.claim(info.name):
                raise CameraClaimed(f"camera {info.name} runs on another Vigil server of this database")
            pipeline: CameraPipeline | RemoteCamera
            if self.cluster is not None:
                pipeline = self.cluster.build(info.name, info.config())
            else:
                if self._factory is None:
                    self._factory = self._new_factory()
                pipeline = self._factory.build(info.name, info.config())
            pipeline.start()
        except Exception as exc:  # one camera's failure (model, settings) never affects the others
            claimed = isinstance(exc, CameraClaimed)
            if not claimed:
                self.claims.release(info.name)
            log.error("camera %s could not start: %s", info.name, exc)
            with self._state:
                self._start_errors[info.id] = redact(str(exc))
                if claimed:
                    self._claimed_elsewhere.add(info.id)
            return exc
        with self._state:
            self._pipelines[info.id] = pipeline
            self._start_errors.pop(info.id, None)
            self._claimed_elsewhere.discard(info.id)
        return None

    def _stop_unclaimed(self, name: str) -> None:
        """Stops a camera whose claim was lost with the database session (another server may
        start it now: both must not run it); it waits to be claimed again, here or elsewhere."""
        with self._ops:
            info = next((c for c in self.cameras() if c.name == name), None)
            if info is None:
                return
            self._halt(info.id)
            log.error("camera %s stopped: its claim was lost with the database session", name)
            with self._state:
                self._start_errors[info.id] = LOST_CLAIM
                self._claimed_elsewhere.add(info.id)

    def _as_stored(self, camera_id: int) -> CameraInfo | None:
        """A waiting camera refreshed from its row: another server may have renamed, re-pointed,
        stopped or deleted it meanwhile (a configured camera takes only the enabled flag, the rest
        is the configuration's). None, and no more waiting, when it is no longer listed."""
        with self._state:
            info = self._cameras.get(camera_id)
        row = self.store.cameras.row(camera_id)
        if info is None or row is None or not (info.read_only or row.managed):
            with self._state:
                self._claimed_elsewhere.discard(camera_id)
            return None
        new = replace(info, enabled=row.enabled) if info.read_only else _listed(row, "db")
        with self._state:
            self._cameras[camera_id] = new
        return new

    def _new_factory(self) -> PipelineFactory:
        embedder = self._embedder_factory()
        try:
            sinks = [self.events, *self._model_sinks(embedder.name)]
        except BaseException:  # e.g. watchlist thresholds that cannot work with this embedder
            embedder.close()
            raise
        activity_sink = None
        if self.settings.store.enabled:
            from vigil.activity.live_store import store_sink

            activity_sink = store_sink(self.store.db)
        return PipelineFactory(self.settings, embedder, sinks, self.identifier, activity_sink=activity_sink)

    def _cluster_sinks(self, model: str) -> list[EventSink]:
        """Where the camera actors' events go here: the event bus and the watchlist monitor of
        their embedder's model (made once per model, as `_new_factory` does for local pipelines)."""
        sinks = self._cluster_model_sinks.get(model)
        if sinks is None:
            sinks = self._cluster_model_sinks[model] = [self.events, *self._model_sinks(model)]
        return sinks

    def _halt(self, camera_id: int) -> None:
        with self._state:
            pipeline = self._pipelines.pop(camera_id, None)
            self._start_errors.pop(camera_id, None)
            self._claimed_elsewhere.discard(camera_id)
        self.live.forget(camera_id)
        if pipeline is None:
            return
        pipeline.stop()
        if not pipeline.join(STOP_JOIN_S):
            log.warning("camera %s is still stopping; it will be joined at shutdown", pipeline.name)
            with self._state:
                self._stopping.append(pipeline)
        self.claims.release(pipeline.name)

    def _editable(self, camera_id: int) -> CameraInfo:
        info = self.get(camera_id)
        if info.read_only:
            raise CameraConflict(
                f"camera {info.name} comes from the configuration (YAML, CAMERAS_IPS or CAMERAS_USB_MAX); "
                "change it there and restart the server (start/stop work)"
            )
        return info

    def _set_enabled(self, info: CameraInfo, enabled: bool) -> CameraInfo:
        if info.enabled == enabled:
            return info
        self.store.cameras.set_enabled(info.id, enabled)
        new = replace(info, enabled=enabled)
        with self._state:
            self._cameras[info.id] = new
        return new

    def _check_name_free(self, name: str, own_id: int | None) -> None:
        if any(c.name == name and c.id != own_id for c in self.cameras()):
            raise CameraConflict(f"a camera named {name!r} exists already; choose another name")

    def _check_name_unused(self, name: str, own_id: int) -> None:
        """A rename cannot take the name of an unlisted row (a deleted camera or a `vigil watch`
        source): their sightings would be mixed with this camera's."""
        if self.store.cameras.name_taken(name, other_than=own_id):
            raise CameraConflict(
                f"the name {name!r} belongs to earlier sightings of another source; choose another"
            )

    def _free_name(self, base: str) -> str:
        base = re.sub(r"[^\w.-]+", "_", base).strip("_")[:90] or "camera"
        taken = {c.name for c in self.cameras()}
        name, n = base, 2
        while name in taken:
            name, n = f"{base}-{n}", n + 1
        return name

    def _load(self) -> None:
        """Upserts the configured cameras as unmanaged rows, then reads every listed camera."""
        configured = self.settings.all_cameras()
        rows = self.store.cameras
        managed = {row.name: row for row in rows.managed()}
        infos: list[CameraInfo] = []
        for name, camera in zip(unique_names(configured), configured, strict=True):
            if name in managed:
                log.warning("configured camera %s ignored: a camera added in the UI has that name", name)
                continue
            zones = zones_of(camera.dead_zones)
            source = CameraSource(
                camera.url, camera.fps, camera.loop, zones, camera.activity, camera.activity_audio
            )
            row = rows.upsert(name, source, managed=False)  # keeps the row's enabled flag
            infos.append(replace(_listed(row, "config"), motion_mask=zones_of(camera.motion_mask)))
        infos += [_listed(row, "db") for row in managed.values()]
        with self._state:
            self._cameras = {info.id: info for info in infos}
        # A misspelt name in the live privacy overrides would silently leave that camera on the default.
        unknown = sorted(set(self.settings.anonymize.live.cameras) - {info.name for info in infos})
        if unknown:
            log.warning("anonymize.live.cameras names no known camera (yet): %s", ", ".join(unknown))


def _listed(row: CameraRow, origin: Origin) -> CameraInfo:
    zones = row.dead_zones
    return CameraInfo(
        row.id,
        row.name,
        row.url,
        origin,
        row.enabled,
        row.fps,
        row.loop,
        zones,
        activity=row.activity,
        activity_audio=row.activity_audio,
    )
