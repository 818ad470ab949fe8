"""Anonymisation from the web (issue 17, admin only): upload a video or name one inside the media
roots, start an `anonymize` job, follow it on /api/jobs, then compare a frame before/after and
download the result. The /anonymize page does all of it.

Uploads are the shared video uploads (`vigil.web.routes.uploads`). Paths go through the camera
policy's media roots (the same rule and the same words whether the file exists or not)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from pydantic import Field

from vigil.anonymize.job import KIND, AnonymizeResult, anonymize_params
from vigil.anonymize.person_options import PERSON_STYLES, PersonStyle
from vigil.anonymize.styles import FACE_STYLES, FaceStyle
from vigil.anonymize.web_files import compare_jpeg, inside, outputs_dir
from vigil.errors import NotFoundError
from vigil.jobs.model import JobRecord
from vigil.web.auth import Principal, require_admin
from vigil.web.context import WebContext, get_ctx
from vigil.web.routes.jobs import JobOut, job_out
from vigil.web.templating import page_admin, render
from vigil.web.uploads import VideoSource
from vigil.web.video_frames import FrameUnavailable

router = APIRouter(tags=["anonymize"])
Ctx = Annotated[WebContext, Depends(get_ctx)]
Admin = Annotated[Principal, Depends(require_admin)]
JOB_POLL_MS = 1000


class NoOutput(NotFoundError):
    """The job has no anonymised file (yet, or it failed)."""


class JobNotAnonymize(NotFoundError):
    """The id names no anonymisation job."""


class AnonymizeRequest(VideoSource):
    """One video: an upload id, or a path inside the server's media roots. Options default to the
    server's `anonymize` settings."""

    faces: FaceStyle | None = Field(None, description="blur, pixelate, solid or mask")
    pad: float | None = Field(None, ge=0, le=2, description="Grow face boxes by this fraction")
    persons: PersonStyle | None = Field(None, description="Bodies and clothes: none, recolor, blur, ...")
    force: bool = Field(False, description="Redo an output that already exists")


@router.post("/api/anonymize/jobs", status_code=201, response_model=JobOut)
def create_job(body: AnonymizeRequest, ctx: Ctx, _: Admin) -> JobOut:
    settings = ctx.settings
    video = body.video(settings)
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


@router.get("/anonymize", response_class=HTMLResponse, include_in_schema=False)
def anonymize_page(request: Request, ctx: Ctx, user: Annotated[Principal, Depends(page_admin)]) -> Response:
    options = ctx.settings.anonymize
    return render(
        request, "anonymize.html", active="anonymize", face_styles=FACE_STYLES, person_styles=PERSON_STYLES,
        defaults={"faces": options.faces.style, "pad": options.faces.pad, "persons": options.persons.style},
        max_upload_mb=ctx.settings.web.max_video_upload_mb, poll_ms=JOB_POLL_MS,
    )  # fmt: skip
