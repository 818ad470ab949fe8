"""Activity of a person in video files from the web (issue 18 item 6, admin only): start an
`activity` job on an upload or a file inside the media roots, follow it on /api/jobs, download its
segments as JSON or CSV, and analyse one frame (an uploaded picture, or a file at a time). The
/activity page does all of it, with the timeline and distribution charts.

Video uploads are the shared ones (POST /api/anonymize/uploads, `vigil.web.routes.uploads`:
streamed to disk, sniffed, `web.max_video_upload_mb`); an `upload` id here names one of them.
Pictures for the single-frame analysis are read like the watchlist's reference photos
(`watchlist.max_photo_mb` and `max_photo_megapixels`, sniffed by content, no decompression bombs).
Admin only, like anonymisation: the API reads server files and the results name them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from pydantic import Field, ValidationError

from vigil.activity.analyse import classifier_for
from vigil.activity.frame import FrameAnalysis, analyse_image
from vigil.activity.job import KIND, ActivityResult, activity_params
from vigil.activity.labels import Activity, cue_words, display_name
from vigil.activity.settings import Classifier
from vigil.activity.web_export import result_csv
from vigil.config import VigilSettings
from vigil.errors import ConflictError, InvalidError, NotFoundError, RefusedError, SourceError
from vigil.jobs.model import JobRecord
from vigil.types import Image
from vigil.watchlist.photos import decode_photo
from vigil.web.auth import Principal, require_admin
from vigil.web.context import WebContext, get_ctx
from vigil.web.routes.jobs import JobOut, job_out
from vigil.web.templating import language_of, page_admin, render
from vigil.web.uploads import VideoSource
from vigil.web.video_frames import frame_at_second

router = APIRouter(tags=["activity"])
Ctx = Annotated[WebContext, Depends(get_ctx)]
Admin = Annotated[Principal, Depends(require_admin)]
FRAME_PATH = "/api/activity/frame"
IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp", "application/octet-stream")
JOB_POLL_MS = 1000


class JobNotActivity(NotFoundError):
    """The id names no activity job."""


class NoResult(ConflictError):
    """The job has no result yet (queued or running)."""


class NotAVideo(InvalidError):
    """The chosen file cannot be read as a video."""


class UnsupportedMediaType(RefusedError):
    """The frame analysis takes a picture or JSON, nothing else."""

    status = 415


class ActivityRequest(VideoSource):
    """Options default to the server's `activity` settings."""

    sample_interval_s: float | None = Field(
        None, gt=0, le=60, description="Seconds between two analysed frames (activity.sample_interval_s)"
    )
    classifier: Classifier | None = Field(None, description="rules or model (a trained model file)")


class FrameRequest(VideoSource):
    at: float = Field(ge=0, allow_inf_nan=False, description="Seconds from the start of the video")


@router.post("/api/activity/jobs", status_code=201, response_model=JobOut)
def create_job(body: ActivityRequest, ctx: Ctx, _: Admin) -> JobOut:
    """Analyse one video as an `activity` job; follow it on GET /api/jobs/{id}, cancel it with
    DELETE /api/jobs/{id}. 400 when `classifier` is `model` and no trained model can be loaded."""
    settings = ctx.settings
    video = body.video(settings)
    update: dict[str, Any] = {}
    if body.sample_interval_s is not None:
        update["sample_interval_s"] = body.sample_interval_s
    if body.classifier is not None:
        update["classifier"] = body.classifier
    chosen = settings.model_copy(update={"activity": settings.activity.model_copy(update=update)})
    if chosen.activity.classifier == "model":
        classifier_for(chosen)  # ModelError (400) now rather than a job that fails at once
    record = ctx.jobs.submit(KIND.name, activity_params([video], chosen))
    return job_out({KIND.name: KIND}, record, admin=True)


def _result(ctx: WebContext, job_id: str) -> tuple[JobRecord, ActivityResult]:
    record = ctx.jobs.get(job_id[:64])
    if record.kind != KIND.name:
        raise JobNotActivity(f"job {job_id[:64]} is not an activity analysis")
    result = KIND.result_of(record)
    if result is None:
        raise NoResult(f"job {record.id} has no result yet ({record.state})")
    return record, result


def _attachment(record: JobRecord, suffix: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="activity-{record.id[:12]}.{suffix}"'}


@router.get(
    "/api/activity/jobs/{job_id}/result.json",
    response_model=ActivityResult,
    responses={404: {"description": "No such activity job"}, 409: {"description": "Not finished yet"}},
)
def result_json(job_id: str, ctx: Ctx, _: Admin) -> Response:
    """The job's result as a file: one analysis per video (the JSON of `vigil activity analyse
    --json`) and the videos that failed. A failed or cancelled job gives what it finished."""
    record, result = _result(ctx, job_id)
    text = result.model_dump_json(indent=2)
    return Response(text, media_type="application/json", headers=_attachment(record, "json"))


@router.get(
    "/api/activity/jobs/{job_id}/result.csv",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {}}, "description": "One row per segment, with its cue summary"},
        404: {"description": "No such activity job"},
        409: {"description": "Not finished yet"},
    },
)
def result_as_csv(job_id: str, ctx: Ctx, _: Admin) -> Response:
    """Columns: file, start, end, activity, confidence, then the segment's mean cues (present,
    motion, eyes_closed, head_down, hand_at_ear, hand_at_mouth, hands_in_front, voice) and the
    objects and sounds seen in it (`;`-separated)."""
    record, result = _result(ctx, job_id)
    return Response(
        result_csv(result), media_type="text/csv; charset=utf-8", headers=_attachment(record, "csv")
    )


def _frame_of(source: FrameRequest, settings: VigilSettings) -> Image:
    """422 past the end (PastTheEnd) or for a file that is no media; 404 without a frame there."""
    video = source.video(settings)
    try:
        return frame_at_second(video, source.at)  # one opening: the duration checked, the frame read
    except SourceError as exc:
        raise NotAVideo(f"{video.name}: not a readable video") from exc


_FRAME_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            **{kind: {"schema": {"type": "string", "format": "binary"}} for kind in IMAGE_TYPES},
            "application/json": {"schema": FrameRequest.model_json_schema()},
        },
        "description": "A JPEG, PNG or WebP picture as the body, or JSON naming a video and a time",
    }
}  # fmt: skip


@router.post(
    FRAME_PATH,
    response_model=FrameAnalysis,
    openapi_extra=_FRAME_BODY,
    responses={
        404: {"description": "No such upload, or no frame at that time"},
        413: {"description": "Body above watchlist.max_upload_mb"},
        415: {"description": "Neither a picture nor JSON"},
        422: {"description": "Not a usable picture or video, a path outside the media roots, a bad time"},
    },
)
async def analyse_frame(request: Request, ctx: Ctx, _: Admin) -> FrameAnalysis:
    """What the person in one picture is doing, by the same rules as over time (no motion, no
    sound, no duration: `asleep` is said on closed eyes alone, with a lower confidence). The body is
    the picture itself (image/jpeg, image/png, image/webp), or JSON {upload|path, at} for the frame of
    a video at `at` seconds."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    settings = ctx.settings
    if media_type == "application/json":
        try:
            source = FrameRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            raise RequestValidationError(exc.errors(include_input=False)) from exc
        image = await run_in_threadpool(_frame_of, source, settings)
    elif media_type in IMAGE_TYPES:
        image = decode_photo(await request.body(), settings.watchlist)  # PhotoRefused: 422 with a reason
    else:
        raise UnsupportedMediaType("send a JPEG, PNG or WebP picture, or JSON {upload|path, at}")
    return await run_in_threadpool(analyse_image, image, settings.model_search_dirs())


@router.get("/activity", response_class=HTMLResponse, include_in_schema=False)
def activity_page(request: Request, ctx: Ctx, user: Annotated[Principal, Depends(page_admin)]) -> Response:
    lang = language_of(request)
    names = {a.value: display_name(a, lang) for a in Activity}
    other = {a.value: display_name(a, "en" if lang.startswith("fr") else "fr") for a in Activity}
    options = ctx.settings.activity
    return render(
        request, "activity.html", active="activity", names=names, other_names=other, words=cue_words(lang),
        defaults={"interval": options.sample_interval_s, "classifier": options.classifier},
        max_upload_mb=ctx.settings.web.max_video_upload_mb, poll_ms=JOB_POLL_MS,
    )  # fmt: skip
