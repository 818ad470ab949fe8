"""`POST /api/save-clip` (the seed's name): the last N seconds of a live camera's video and audio,
in sync, as an MP4 written to `<data_dir>/clips/id=<camera id>/`, remuxed from the packets the camera's
decode thread keeps while activity analysis is on (vigil/activity/ring.py, clip.py); `GET
/api/clips/{camera_id}/{name}` downloads it, `DELETE` removes it, `GET /api/clips` lists them
(the /activity/clips page uses all four). Each save prunes old clips (`activity.clips_keep_days`,
`clips_max_mb`). Admin only, as the other activity routes: a clip is sound and picture of a person.

One path for every camera: the MP4 is rendered into memory where the camera runs (this process,
or its Ray actor on a cluster node: `vigil serve --cluster`), then saved here."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from vigil.activity.clip import (
    MAX_CLIP_SECONDS,
    RenderedClip,
    SavedClip,
    camera_clip_folder,
    clip_path,
    publish_clip,
    render_live_clip,
)
from vigil.activity.clip_files import ClipFile, ClipRetention, delete_clip, prune_clips, saved_clips
from vigil.activity.settings import ActivitySettings
from vigil.web.auth import Principal, require_admin
from vigil.web.cameras import CameraInfo
from vigil.web.context import WebContext, get_ctx

router = APIRouter(tags=["activity"])
Ctx = Annotated[WebContext, Depends(get_ctx)]
Admin = Annotated[Principal, Depends(require_admin)]
ClipName = Annotated[str, Path(max_length=200)]


class SaveClipIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    camera: int = Field(description="Camera id (GET /api/cameras); its activity analysis must be on")
    seconds: float = Field(
        10.0,
        ge=1,
        le=MAX_CLIP_SECONDS,
        description="The last this many seconds (at most activity.clip_buffer_s)",
    )


class _ClipFileOut(BaseModel):
    """What names a saved clip, in the save's answer and in the listing."""

    camera_id: int
    camera: str
    name: str = Field(description="File name in <data_dir>/clips/id=<camera_id>/")
    size: int = Field(description="Bytes")


class SavedClipOut(_ClipFileOut):
    seconds: float = Field(description="Asked for")
    duration_s: float = Field(description="Of the clip (shorter when less was kept, e.g. after a reconnect)")
    start: datetime | None = Field(description="Wall-clock time of the clip's first instant")
    video_codec: str
    audio_codec: str | None = Field(description="null: the camera's stream has no audio track")
    download: str = Field(description="GET this path for the MP4")
    pruned: int = Field(0, description="Older clips deleted after this save (clips_keep_days, clips_max_mb)")


class ClipOut(_ClipFileOut):
    saved: datetime = Field(description="When the file was written")
    start: datetime | None = Field(description="Wall-clock time of the clip's first instant (to the second)")
    duration_s: float | None = Field(description="null: the file cannot be read as a video")
    video_codec: str | None
    audio_codec: str | None = Field(description="null: no sound")
    has_audio: bool
    download: str = Field(description="GET this path for the MP4, DELETE it to remove the clip")


class ClipListOut(BaseModel):
    clips: list[ClipOut] = Field(description="Newest saved first")
    total_size: int = Field(description="Bytes, of the clips listed")
    keep_days: float = Field(description="activity.clips_keep_days (0: kept until deleted)")
    max_mb: float = Field(description="activity.clips_max_mb, per camera (0: no limit)")


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
    saved, pruned = await run_in_threadpool(_save, ctx, info, rendered)
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
        pruned=len(pruned),
    )


def _save(ctx: WebContext, info: CameraInfo, rendered: RenderedClip) -> tuple[SavedClip, list[FilePath]]:
    """Writes the clip into the camera's folder (kept by id: a camera renamed during the save
    still finds it), then prunes the old ones (never this one)."""
    data_dir = ctx.settings.data_dir
    folder = camera_clip_folder(data_dir, info.id, info.name)
    saved = publish_clip(rendered, folder, info.name)
    return saved, prune_clips(data_dir, folder, _retention(ctx.settings.activity), keep=saved.path)


def _retention(settings: ActivitySettings) -> ClipRetention:
    return ClipRetention(settings.clips_keep_days, round(settings.clips_max_mb * 1_000_000))


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
def download_clip(camera_id: int, name: ClipName, ctx: Ctx, _: Admin) -> FileResponse:
    info = ctx.cameras.get(camera_id)
    path = clip_path(camera_clip_folder(ctx.settings.data_dir, info.id, info.name), name)
    return FileResponse(path, media_type="video/mp4", filename=path.name)


@router.delete(
    "/api/clips/{camera_id}/{name}",
    status_code=204,
    response_class=Response,
    summary="Delete a saved clip",
    responses={404: {"description": "No such camera, or no clip by that name"}},
)
def remove_clip(camera_id: int, name: ClipName, ctx: Ctx, _: Admin) -> Response:
    info = ctx.cameras.get(camera_id)
    delete_clip(camera_clip_folder(ctx.settings.data_dir, info.id, info.name), name)
    return Response(status_code=204)


@router.get("/api/clips", response_model=ClipListOut, summary="The saved clips, newest first")
def list_clips(
    ctx: Ctx,
    _: Admin,
    camera: Annotated[int | None, Query(description="Only this camera's clips (its id)")] = None,
) -> ClipListOut:
    """Clips of the cameras listed by GET /api/cameras, under their current names (a renamed
    camera keeps its clips; a removed camera's are not listed and go when they are older than
    `activity.clips_keep_days`). Duration and codecs are read
    from each file (its MP4 header), size and save time from the file system."""
    cameras = [ctx.cameras.get(camera)] if camera is not None else ctx.cameras.cameras()
    data_dir = ctx.settings.data_dir
    clips = [
        _clip_out(info, c)
        for info in cameras
        for c in saved_clips(camera_clip_folder(data_dir, info.id, info.name))
    ]
    clips.sort(key=lambda c: (c.saved, c.name), reverse=True)
    options = ctx.settings.activity
    return ClipListOut(
        clips=clips,
        total_size=sum(c.size for c in clips),
        keep_days=options.clips_keep_days,
        max_mb=options.clips_max_mb,
    )


def _clip_out(info: CameraInfo, clip: ClipFile) -> ClipOut:
    return ClipOut(
        camera_id=info.id,
        camera=info.name,
        name=clip.path.name,
        size=clip.size,
        saved=datetime.fromtimestamp(clip.saved, UTC),
        start=None if clip.start is None else datetime.fromtimestamp(clip.start, UTC),
        duration_s=clip.duration_s,
        video_codec=clip.video_codec,
        audio_codec=clip.audio_codec,
        has_audio=clip.audio_codec is not None,
        download=f"/api/clips/{info.id}/{clip.path.name}",
    )
