"""The cameras area: the REST API (CRUD, start/stop, USB scan, snapshot), the anonymous camera
health check (seed 004's shape) and the /cameras page with its dead-zone editor."""

from __future__ import annotations

import time
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from vigil.activity.settings import AudioSource
from vigil.live.analyse import LatestResult
from vigil.redact import redact
from vigil.types import Detections, Frame
from vigil.web.auth import Principal, require_admin, require_viewer
from vigil.web.cameras import CameraInfo, CameraManager, grab_frame, probe_usb
from vigil.web.context import WebContext, get_ctx
from vigil.web.i18n import translator
from vigil.web.live import encode_jpeg
from vigil.web.templating import language_of, page_viewer, render

router = APIRouter()
api = APIRouter(prefix="/api/cameras", tags=["cameras"])
Ctx = Annotated[WebContext, Depends(get_ctx)]
Viewer = Annotated[Principal, Depends(require_viewer)]
Admin = Annotated[Principal, Depends(require_admin)]
CameraId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Camera id (from GET /api/cameras)")]

SNAPSHOT_TIMEOUT_S = 8.0
USB_PROBE_TIMEOUT_S = 2.0
JPEG: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/jpeg": {}}, "description": "A JPEG picture"}
}
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such camera"},
    409: {"description": "Not possible in the camera's current state or configuration"},
    422: {"description": "Invalid request or camera URL"},
    503: {"description": "The camera or its source cannot deliver right now"},
}

# ------------------------------------------------------------------ models
Coordinate = Annotated[float, Field(ge=0, le=20000)]
ZonePoint = tuple[Coordinate, Coordinate]
Zone = Annotated[
    list[ZonePoint], Field(min_length=3, max_length=64, description="Polygon vertices in pixels")
]
DeadZones = Annotated[list[Zone], Field(max_length=32, description="Polygons where faces are never searched")]
CameraName = Annotated[
    str, Field(min_length=1, max_length=100, pattern=r"^[\w.-][\w .:()-]*$", description="Camera name")
]
CameraUrl = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2000,
        description="rtsp://…, http(s)://… (MJPEG or video), usb:N, /dev/videoN or the path of a video "
        "file on the server",
    ),
]
Fps = Annotated[float, Field(gt=0, le=30, description="Analysis rate (frames per second)")]
AUDIO_HELP = (
    "Sound of the camera's activity analysis: stream (the camera's own audio track), microphone "
    "(the one chosen with /api/set-audio-device) or none; null follows the server's "
    "activity.live_audio"
)


class CameraCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: CameraUrl
    name: CameraName | None = Field(None, description="Default: derived from the URL")
    fps: Fps | None = Field(None, description="Default: the server's analysis_fps")
    loop: bool = Field(False, description="Play a file again at its end (simulated camera)")
    enabled: bool = Field(True, description="Start the camera now (and at every server start)")
    dead_zones: DeadZones = Field(default_factory=list)
    activity: bool = Field(False, description="Analyse what the person is doing (docs/activity.md)")
    activity_audio: AudioSource | None = Field(None, description=AUDIO_HELP)


class CameraPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: CameraName | None = None
    url: CameraUrl | None = None
    fps: Fps | None = Field(None, description="null resets to the server's analysis_fps")
    loop: bool | None = None
    dead_zones: DeadZones | None = None
    activity: bool | None = Field(
        None, description="Activity analysis on or off (a running camera restarts with it)"
    )
    activity_audio: AudioSource | None = Field(
        None, description=f"{AUDIO_HELP} (a running camera restarts with it)"
    )


class CameraHealth(BaseModel):
    state: str
    kind: str
    reconnects: int
    last_frame_at: str | None
    last_error: str | None
    input_fps: float
    analysed_fps: float


class CameraOut(BaseModel):
    id: int
    name: str
    url: str = Field(description="Credentials hidden (rtsp://***@host/…)")
    source: Literal["db", "config"] = Field(description="db: added at run time; config: read-only")
    enabled: bool
    running: bool
    state: str = Field(description="starting, connecting, running, reconnecting, finished, failed or stopped")
    fps: float = Field(description="Analysis rate in effect")
    loop: bool
    dead_zones: list[list[tuple[float, float]]]
    activity: bool = Field(description="The person's activity is analysed (docs/activity.md)")
    activity_audio: AudioSource | None = Field(description=AUDIO_HELP)
    health: CameraHealth | None = Field(description="Source health while a pipeline exists")
    counters: dict[str, float] | None = Field(description="Per-stage counters of the current pipeline")
    progress: float | None = Field(description="0..1 for files of known length")
    last_error: str | None
    node: str | None = Field(
        None, description="Cluster mode: the Ray node the camera's actor runs on (IP and node id)"
    )


class UsbDevice(BaseModel):
    index: int
    url: str
    in_use: bool = Field(description="Already read by a running camera of this server")


class ScanResult(BaseModel):
    found: list[UsbDevice]
    scanned: int = Field(description="Indexes probed: 0..scanned-1")


class CamerasHealth(BaseModel):
    """Seed 004's `GET /api/health/cameras` answer."""

    status: Literal["healthy", "degraded", "unhealthy"] = Field(
        description="healthy: every enabled camera streams (or none is configured); degraded: some do "
        "not; unhealthy: none does"
    )
    active_streams: int
    total_cameras: int
    last_detection: str | None = Field(description="UTC time of the newest face detection (ISO 8601)")


# ------------------------------------------------------------------ helpers
def camera_out(manager: CameraManager, info: CameraInfo) -> CameraOut:
    runtime = manager.runtime(info.id)
    health = runtime.health
    return CameraOut(
        id=info.id,
        name=info.name,
        url=redact(info.url),
        source=info.origin,
        enabled=info.enabled,
        running=runtime.running,
        state=runtime.state.value,
        fps=info.fps or manager.settings.analysis_fps,
        loop=info.loop,
        dead_zones=info.dead_zones,
        activity=info.activity,
        activity_audio=info.activity_audio,
        health=CameraHealth.model_validate(health.to_dict()) if health else None,
        counters=None if runtime.counters is None else runtime.counters.to_dict(),
        progress=runtime.progress,
        last_error=runtime.start_error or (health.last_error if health else None),
        node=runtime.node,
    )


def jpeg_response(jpeg: bytes) -> Response:
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


# ------------------------------------------------------------------ API
@api.get("", response_model=list[CameraOut], summary="List cameras with their state and health")
def list_cameras(ctx: Ctx, _: Viewer) -> list[CameraOut]:
    manager = ctx.cameras
    return [camera_out(manager, info) for info in manager.cameras()]


@api.post("", response_model=CameraOut, status_code=201, responses=ERRORS, summary="Add a camera")
def create_camera(body: CameraCreate, ctx: Ctx, _: Admin) -> CameraOut:
    manager = ctx.cameras
    info = manager.create(
        body.url,
        body.name,
        body.fps,
        body.loop,
        body.enabled,
        body.dead_zones,
        body.activity,
        body.activity_audio,
    )
    return camera_out(manager, info)


@api.post("/scan", response_model=ScanResult, summary="Find USB cameras (indexes 0..max_index-1)")
def scan_usb(
    ctx: Ctx,
    _: Admin,
    max_index: Annotated[int, Query(ge=1, le=64, description="Probe indexes 0..max_index-1")] = 10,
) -> ScanResult:
    manager = ctx.cameras
    busy = manager.busy_usb_indexes()
    found: list[UsbDevice] = []
    for index in range(max_index):
        if not FilePath(f"/dev/video{index}").exists():
            continue  # no device node: nothing to open (and nothing that could hang)
        if index in busy or probe_usb(index, USB_PROBE_TIMEOUT_S):
            found.append(UsbDevice(index=index, url=f"usb:{index}", in_use=index in busy))
    return ScanResult(found=found, scanned=max_index)


@api.get("/{camera_id}", response_model=CameraOut, responses=ERRORS, summary="One camera")
def get_camera(camera_id: CameraId, ctx: Ctx, _: Viewer) -> CameraOut:
    manager = ctx.cameras
    return camera_out(manager, manager.get(camera_id))


@api.patch(
    "/{camera_id}",
    response_model=CameraOut,
    responses=ERRORS,
    summary="Change a camera (a running camera restarts with the change)",
)
def patch_camera(camera_id: CameraId, body: CameraPatch, ctx: Ctx, _: Admin) -> CameraOut:
    manager = ctx.cameras
    changes = body.model_dump(exclude_unset=True)
    for key in ("name", "url", "loop", "dead_zones", "activity"):
        if key in changes and changes[key] is None:
            raise HTTPException(422, f"{key} cannot be null")
    return camera_out(manager, manager.update(camera_id, **changes))


@api.delete("/{camera_id}", status_code=204, responses=ERRORS, summary="Stop and remove a camera")
def delete_camera(camera_id: CameraId, ctx: Ctx, _: Admin) -> Response:
    manager = ctx.cameras
    manager.delete(camera_id)
    return Response(status_code=204)


@api.post("/{camera_id}/start", response_model=CameraOut, responses=ERRORS, summary="Start a camera")
def start_camera(camera_id: CameraId, ctx: Ctx, _: Admin) -> CameraOut:
    manager = ctx.cameras
    manager.start(camera_id)
    return camera_out(manager, manager.get(camera_id))


@api.post("/{camera_id}/stop", response_model=CameraOut, responses=ERRORS, summary="Stop a camera")
def stop_camera(camera_id: CameraId, ctx: Ctx, _: Admin) -> CameraOut:
    manager = ctx.cameras
    manager.stop(camera_id)
    return camera_out(manager, manager.get(camera_id))


@api.get(
    "/{camera_id}/snapshot.jpg",
    response_class=Response,
    responses={**JPEG, **ERRORS},
    summary="The camera's current picture without overlays (read from the source when stopped); "
    "faces covered for the roles under the camera's live privacy mode",
)
def snapshot(camera_id: CameraId, ctx: Ctx, user: Viewer) -> Response:
    manager = ctx.cameras
    info = manager.get(camera_id)
    latest = manager.latest(camera_id) if manager.is_running(camera_id) else None
    if latest is None:
        manager.check_source(info)
        frame = Frame(grab_frame(info.url, manager.settings, SNAPSHOT_TIMEOUT_S), 0.0, time.time(), 0)
        latest = LatestResult(frame, Detections.empty())  # its faces not searched
    image = latest.frame.image
    if manager.live.privacy.covered(info.name, user.role):  # no way around the live privacy mode
        image = manager.live.covered_image(camera_id, latest)  # a frame not searched: covered whole
    return jpeg_response(encode_jpeg(image, 90))


health = APIRouter(tags=["health"])


@health.get(
    "/api/health/cameras",
    response_model=CamerasHealth,
    summary="Camera health (no authentication; seed 004's shape)",
)
def cameras_health(ctx: Ctx) -> CamerasHealth:
    return CamerasHealth(**ctx.cameras.health_summary())


# ------------------------------------------------------------------ page
pages = APIRouter(include_in_schema=False)


_SOUND_TEXTS = (
    "stream", "microphone", "none", "waiting.stream", "waiting.microphone",
    "problem.no_audio_track", "problem.microphone_missing", "problem.microphone_failed",
    "problem.no_model", "problem.failed",
)  # fmt: skip


def sound_texts(lang: str) -> dict[str, str]:
    """The live.sound.* texts of a camera's activity sound line, for the live page's activity tiles
    and this page's Sound choice (activity-common.js's soundLine fills `{codec}` and `{device}`)."""
    t = translator(lang)
    return {key: t(f"live.sound.{key}") for key in _SOUND_TEXTS}


@pages.get("/cameras", response_class=HTMLResponse)
def cameras_page(request: Request, ctx: Ctx, user: Annotated[Principal, Depends(page_viewer)]) -> Response:
    manager = ctx.cameras
    cameras = [camera_out(manager, info) for info in manager.cameras()]
    covered = {c.id: manager.live.privacy.config.roles(c.name) for c in cameras}  # live privacy mode
    live_audio = manager.settings.activity.live_audio  # what "follow the default" means here
    return render(
        request, "cameras.html", active="cameras", cameras=cameras, covered=covered, live_audio=live_audio,
        sound_texts=sound_texts(language_of(request)),
    )  # fmt: skip


router.include_router(api)
router.include_router(health)
router.include_router(pages)
