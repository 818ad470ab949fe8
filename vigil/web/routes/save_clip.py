"""`POST /api/save-clip` (the seed's name): the last N seconds of a live camera's video and audio,
in sync, as an MP4 written to `<data_dir>/clips/<camera>/`, remuxed from the packets the camera's
decode thread keeps while activity analysis is on (vigil/activity/ring.py, clip.py); `GET
/api/clips/{camera_id}/{name}` downloads it. Admin only, as the other activity routes: a clip is
sound and picture of a person.

One path for every camera: the MP4 is rendered into memory where the camera runs (this process,
or its Ray actor on a cluster node: `vigil serve --cluster`), then saved here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from vigil.activity.clip import (
    RenderedClip,
    clip_folder,
    clip_path,
    publish_clip,
    render_live_clip,
)
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
    responses={
        422: {"description": "More seconds than the camera keeps (activity.clip_buffer_s)"},
        503: {
            "description": "The camera is not running with activity on, nothing is buffered yet, "
            "clips are off, or (vigil serve --cluster) its actor does not answer"
        },
    },
)
async def save_clip_route(body: SaveClipIn, ctx: Ctx, _: Admin) -> SavedClipOut:
    """Stream copy of the camera's own H.264/H.265 and audio packets (no decoding, no
    re-encoding), cut at `seconds` before the newest frame with an MP4 edit list (a USB camera:
    its analysed frames, encoded while they come). A camera on a cluster node (`vigil serve
    --cluster`) renders the clip in its actor, which sends it here. 503 when the camera is not
    running with activity on, nothing is buffered yet, or its actor does not answer; 422 beyond
    the buffer."""
    info = ctx.cameras.get(body.camera)
    rendered = await run_in_threadpool(_render, ctx, body.camera, info.name, body.seconds)
    folder = clip_folder(ctx.settings.data_dir, info.name)
    saved = await run_in_threadpool(publish_clip, rendered, folder, info.name)
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


def _render(ctx: WebContext, camera_id: int, camera: str, seconds: float) -> RenderedClip:
    """The clip rendered where the camera runs: its actor (cluster mode) or this process. A
    camera whose activity hears a microphone has the microphone's sound (that node's)."""
    if ctx.cameras.cluster is not None:
        return ctx.cameras.cluster.clip(camera, seconds)
    return render_live_clip(ctx.cameras.live_activity(camera_id), camera, seconds)


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
