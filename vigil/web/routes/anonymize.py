"""Anonymisation from the web (issue 17, admin only): upload a video or name one inside the media
roots, start an `anonymize` job, follow it on /api/jobs, then compare a frame before/after and
download the result. The /anonymize page does all of it.

Uploads stream to disk (no whole file in memory), are bounded by `anonymize.max_upload_mb`
(SecurityMiddleware, 413) and are sniffed by content: a file PyAV cannot read as a video is
removed and refused (422). Paths go through the camera policy's media roots (the same rule and
the same words whether the file exists or not)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from vigil.anonymize.job import KIND, AnonymizeResult, anonymize_params
from vigil.anonymize.person_options import PERSON_STYLES, PersonStyle
from vigil.anonymize.styles import FACE_STYLES, FaceStyle
from vigil.anonymize.web_files import (
    FrameUnavailable,
    accept_upload,
    compare_jpeg,
    find_upload,
    inside,
    new_upload_path,
    outputs_dir,
)
from vigil.errors import ConflictError, NotFoundError
from vigil.jobs.model import ACTIVE_STATES, JobRecord
from vigil.private_files import create_private_file
from vigil.web.auth import Principal, require_admin
from vigil.web.camera_policy import CameraPolicy
from vigil.web.context import WebContext, get_ctx
from vigil.web.routes.jobs import JobOut, job_out
from vigil.web.templating import page_admin, render

router = APIRouter(tags=["anonymize"])
Ctx = Annotated[WebContext, Depends(get_ctx)]
Admin = Annotated[Principal, Depends(require_admin)]
UPLOAD_PATH = "/api/anonymize/uploads"
JOB_POLL_MS = 1000


class NoOutput(NotFoundError):
    """The job has no anonymised file (yet, or it failed)."""


class JobNotAnonymize(NotFoundError):
    """The id names no anonymisation job."""


class UploadOut(BaseModel):
    id: str = Field(description="Pass it as `upload` to POST /api/anonymize/jobs")
    name: str
    frames: int
    width: int
    height: int
    fps: float


class AnonymizeRequest(BaseModel):
    """One video: an upload id, or a path inside the server's media roots. Options default to the
    server's `anonymize` settings."""

    model_config = ConfigDict(extra="forbid")

    upload: str | None = Field(None, description="An id from POST /api/anonymize/uploads")
    path: str | None = Field(None, max_length=4096, description="A video file inside the media roots")
    faces: FaceStyle | None = Field(None, description="blur, pixelate, solid or mask")
    pad: float | None = Field(None, ge=0, le=2, description="Grow face boxes by this fraction")
    persons: PersonStyle | None = Field(None, description="Bodies and clothes: none, recolor, blur, ...")
    force: bool = Field(False, description="Redo an output that already exists")

    @model_validator(mode="after")
    def _one_source(self) -> AnonymizeRequest:
        if (self.upload is None) == (self.path is None):
            raise ValueError("give exactly one of upload or path")
        if self.path is not None and "\0" in self.path:
            raise ValueError("path must not contain NUL characters")
        return self


@router.post(UPLOAD_PATH, status_code=201, response_model=UploadOut)
async def upload_video(
    request: Request,
    ctx: Ctx,
    _: Admin,
    filename: Annotated[str, Query(min_length=1, max_length=255, description="The file's name")],
) -> UploadOut:
    """The request body is the video file itself (any content type); at most
    `anonymize.max_upload_mb`. 422 when the content is not a readable video."""
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


@router.post("/api/anonymize/jobs", status_code=201, response_model=JobOut)
def create_job(body: AnonymizeRequest, ctx: Ctx, _: Admin) -> JobOut:
    settings = ctx.settings
    if body.upload is not None:
        video = find_upload(settings.data_dir, body.upload)
    else:
        assert body.path is not None
        CameraPolicy.of(settings).check(body.path)
        video = Path(body.path).resolve()
    options = settings.anonymize.model_copy(deep=True)
    if body.faces is not None:
        options.faces = options.faces.model_copy(update={"style": body.faces})
    if body.pad is not None:
        options.faces = options.faces.model_copy(update={"pad": body.pad})
    if body.persons is not None:
        options.persons = options.persons.model_copy(update={"style": body.persons})
    # One folder per upload, or per server folder of inputs: a re-run finds its output (skipped
    # unless `force`), and two inputs of the same name from different folders never collide.
    folder = video.parent.name if body.upload else hashlib.sha256(str(video.parent).encode()).hexdigest()[:16]
    chosen = settings.model_copy(update={"anonymize": options})
    params = anonymize_params([video], outputs_dir(settings.data_dir) / folder, chosen, body.force)
    record = ctx.jobs.submit(KIND.name, params)
    return job_out({KIND.name: KIND}, record, admin=True)


def _job(ctx: WebContext, job_id: str) -> tuple[JobRecord, AnonymizeResult | None]:
    record = ctx.jobs.get(job_id[:64])
    if record.kind != KIND.name:
        raise JobNotAnonymize(f"job {job_id[:64]} is not an anonymisation")
    return record, KIND.result_of(record)


def _files(ctx: WebContext, job_id: str) -> tuple[Path, Path]:
    """The job's input and output, the output checked to be one Vigil wrote under its data dir."""
    record, result = _job(ctx, job_id)
    if result is None or not (result.done or result.skipped):
        raise NoOutput(f"job {record.id} has no anonymised file ({record.state})")
    video, output = next(iter({**result.skipped, **result.done}.items()))
    if not inside(Path(output), outputs_dir(ctx.settings.data_dir)) or not Path(output).is_file():
        raise NoOutput(f"job {record.id}: its output is no longer available")
    return Path(video), Path(output)


@router.get(
    "/api/anonymize/jobs/{job_id}/output",
    response_class=FileResponse,
    responses={200: {"content": {"video/mp4": {}}, "description": "The anonymised video"}},
)
def download(job_id: str, ctx: Ctx, _: Admin) -> FileResponse:
    output = _files(ctx, job_id)[1]
    return FileResponse(output, media_type="video/mp4", filename=output.name)


@router.get(
    "/api/anonymize/jobs/{job_id}/compare.jpg",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}, "description": "Before (left) and after (right)"}},
)
def compare(
    job_id: str,
    ctx: Ctx,
    _: Admin,
    at: Annotated[float, Query(ge=0, le=1, description="Where in the video, 0 (start) to 1 (end)")] = 0.5,
) -> Response:
    video, output = _files(ctx, job_id)
    if not video.is_file():
        raise FrameUnavailable("the input is no longer available")
    jpeg = compare_jpeg(video, output, at)
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=60"})


@router.delete("/api/anonymize/uploads/{upload_id}", status_code=204, response_class=Response)
def delete_upload(upload_id: str, ctx: Ctx, _: Admin) -> Response:
    """Removes an upload (its anonymised outputs stay with their jobs)."""
    path = find_upload(ctx.settings.data_dir, upload_id)
    for record in ctx.jobs.list(kind=KIND.name):
        if record.state in ACTIVE_STATES and str(path) in KIND.params_of(record).videos:
            raise ConflictError("a job is still using this upload")
    path.unlink()
    path.parent.rmdir()
    return Response(status_code=204)


@router.get("/anonymize", response_class=HTMLResponse, include_in_schema=False)
def anonymize_page(request: Request, ctx: Ctx, user: Annotated[Principal, Depends(page_admin)]) -> Response:
    options = ctx.settings.anonymize
    return render(
        request, "anonymize.html", active="anonymize", face_styles=FACE_STYLES, person_styles=PERSON_STYLES,
        defaults={"faces": options.faces.style, "pad": options.faces.pad, "persons": options.persons.style},
        max_upload_mb=options.max_upload_mb, poll_ms=JOB_POLL_MS,
    )  # fmt: skip
