"""`POST /api/save-clip` (the seed's name): the last N seconds of a live camera's video and audio,
in sync, as an MP4 written to `<data_dir>/clips/<camera>/`, remuxed from the packets the camera's
decode thread keeps while activity analysis is on (vigil/activity/ring.py, clip.py); `GET
/api/clips/{camera_id}/{name}` downloads it. Admin only, as the other activity routes: a clip is
sound and picture of a person."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from vigil.activity.clip import ClipOnClusterNode, ClipUnavailable, clip_folder, clip_path, save_clip
from vigil.errors import InvalidError
from vigil.web.auth import Principal, require_admin
from vigil.web.context import WebContext, get_ctx

router = APIRouter(tags=["activity"])
Ctx = Annotated[WebContext, Depends(get_ctx)]
Admin = Annotated[Principal, Depends(require_admin)]
MAX_SECONDS = 120.0


class SaveClipIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    camera: int = Field(description="Camera id (GET /api/cameras); its activity analysis must be on")
    seconds: float = Field(
        10.0, ge=1, le=MAX_SECONDS, description="The last this many seconds (at most activity.clip_buffer_s)"
    )


class SavedClipOut(BaseModel):
    camera_id: int
    camera: str
    name: str = Field(description="File name in <data_dir>/clips/<camera>/")
    seconds: float = Field(description="Asked for")
    duration_s: float = Field(description="Of the clip (shorter when less was kept, e.g. after a reconnect)")
    start: datetime | None = Field(description="Wall-clock time of the clip's first instant")
    video_codec: str
    audio_codec: str | None = Field(description="null: the camera's stream has no audio track")
    size: int = Field(description="Bytes")
    download: str = Field(description="GET this path for the MP4")


@router.post(
    "/api/save-clip",
    response_model=SavedClipOut,
    summary="Save the last seconds as an MP4",
    responses={409: {"description": "The camera runs on a cluster node (vigil serve --cluster)"}},
)
async def save_clip_route(body: SaveClipIn, ctx: Ctx, _: Admin) -> SavedClipOut:
    """Stream copy of the camera's own H.264/H.265 and audio packets (no decoding, no
    re-encoding), cut at `seconds` before the newest frame with an MP4 edit list (a USB camera:
    its analysed frames, encoded while they come). 503 when the camera is not running with
    activity on, or nothing is buffered yet; 422 beyond the buffer; 409 for a camera running on a
    cluster node (`vigil serve --cluster`: every camera of the server)."""
    info = ctx.cameras.get(body.camera)
    if ctx.cameras.cluster is not None:
        raise ClipOnClusterNode(
            f"save-clip is not available for camera {info.name}: it runs on a cluster node, "
            "where its activity analysis keeps no clip"
        )
    activity = ctx.cameras.live_activity(body.camera)
    if activity is None:
        raise ClipUnavailable(f"camera {info.name} is not running with activity analysis on")
    ring = activity.clips
    if ring is None:
        raise ClipUnavailable("clips are off (activity.clip_buffer_s: 0)")
    if body.seconds > ring.seconds:
        raise InvalidError(f"at most {ring.seconds:g} s are kept (activity.clip_buffer_s)")
    folder = clip_folder(ctx.settings.data_dir, info.name)
    # A camera whose activity hears a microphone saves the microphone's sound with its picture.
    saved = await run_in_threadpool(save_clip, ring, body.seconds, folder, info.name, activity.clip_sound)
    return SavedClipOut(
        camera_id=info.id,
        camera=info.name,
        name=saved.path.name,
        seconds=saved.seconds,
        duration_s=round(saved.duration_s, 3),
        start=None if saved.start is None else datetime.fromtimestamp(saved.start, UTC),
        video_codec=saved.video_codec,
        audio_codec=saved.audio_codec,
        size=saved.size,
        download=f"/api/clips/{info.id}/{saved.path.name}",
    )


@router.get(
    "/api/clips/{camera_id}/{name}",
    response_class=FileResponse,
    summary="Download a saved clip",
    responses={200: {"content": {"video/mp4": {}}}},
)
def download_clip(
    camera_id: int, name: Annotated[str, Path(max_length=200)], ctx: Ctx, _: Admin
) -> FileResponse:
    info = ctx.cameras.get(camera_id)
    path = clip_path(ctx.settings.data_dir, info.name, name)
    return FileResponse(path, media_type="video/mp4", filename=path.name)
