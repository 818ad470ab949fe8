"""Video uploads (admin only), for every page that analyses a file: the Anonymise and Activity
pages send a file here, then name its id as `upload` in their job or frame requests.

Uploads stream to disk (no whole file in memory), are bounded by `web.max_video_upload_mb`
(SecurityMiddleware, 413) and are sniffed by content: a file PyAV cannot read as a video is
removed and refused (422). The paths keep their first prefix, /api/anonymize/uploads."""

from __future__ import annotations

import os
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, Field

from vigil.private_files import create_private_file
from vigil.web.auth import Principal, require_admin
from vigil.web.context import WebContext, get_ctx
from vigil.web.uploads import UPLOAD_PATH, accept_upload, delete_upload, new_upload_path

router = APIRouter(tags=["uploads"])
Ctx = Annotated[WebContext, Depends(get_ctx)]
Admin = Annotated[Principal, Depends(require_admin)]


class UploadOut(BaseModel):
    id: str = Field(description="Pass it as `upload` to POST /api/anonymize/jobs or /api/activity/jobs")
    name: str
    frames: int
    width: int
    height: int
    fps: float


@router.post(UPLOAD_PATH, status_code=201, response_model=UploadOut)
async def upload_video(
    request: Request,
    ctx: Ctx,
    _: Admin,
    filename: Annotated[str, Query(min_length=1, max_length=255, description="The file's name")],
) -> UploadOut:
    """The request body is the video file itself (any content type); at most
    `web.max_video_upload_mb`. 422 when the content is not a readable video."""
    upload_id, path = new_upload_path(ctx.settings.data_dir, filename)
    fd = create_private_file(path, exclusive=True)
    with os.fdopen(fd, "wb") as handle:
        async for chunk in request.stream():
            await run_in_threadpool(handle.write, chunk)
    stored = await run_in_threadpool(accept_upload, upload_id, path)
    return UploadOut(
        id=stored.id, name=stored.name, frames=stored.frames, width=stored.width, height=stored.height,
        fps=round(stored.fps, 3),
    )  # fmt: skip


@router.delete(
    UPLOAD_PATH + "/{upload_id}",
    status_code=204,
    response_class=Response,
    responses={404: {"description": "No such upload"}, 409: {"description": "A job still uses it"}},
)
def remove_upload(upload_id: str, ctx: Ctx, _: Admin) -> Response:
    """Removes an upload (what jobs made from it stays with them); 409 while a queued or running
    job of any kind (anonymisation, activity, tracking) still reads it."""
    delete_upload(ctx.settings.data_dir, upload_id, ctx.jobs)
    return Response(status_code=204)
