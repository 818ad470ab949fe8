"""`/api/track/jobs`: start batch tracking on paths, poll its progress, cancel it (admin only).

Each job is a persistent `track` job (`vigil.batch.job`): it is listed by `/api/jobs` too and
survives a restart (see `vigil.jobs.manager`); this module keeps the seed-era shapes.

Request problems are answered before any work starts: a malformed body or an invalid setting is
422 (FastAPI's validation format); a missing path, a non-video file, no video found, an unusable
`out_dir`, an engine whose model files are missing, or two videos that would write the same
output are 400 with a `detail` sentence. Unknown job ids are 404; cancelling a finished job
is 409; a full queue is 429 with `Retry-After`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from vigil.batch.discover import VIDEO_EXTENSIONS, discover_videos, split_pending
from vigil.batch.engines import check_engine
from vigil.batch.job import KIND, TrackResult, track_params
from vigil.batch.settings import BatchSettings
from vigil.batch.step5 import MAX_CPU_WORKERS, Step5Config
from vigil.errors import InputError
from vigil.jobs.errors import JobNotFound
from vigil.jobs.manager import JobManager
from vigil.jobs.model import ItemState, JobRecord, JobState
from vigil.web.context import WebContext, get_ctx
from vigil.web.routes.jobs import job_out

router = APIRouter(prefix="/api/track", tags=["track"])
Ctx = Annotated[WebContext, Depends(get_ctx)]


class JobRequest(BaseModel):
    """What to track and how; omitted options come from /api/step5/* and the batch settings."""

    model_config = ConfigDict(extra="forbid", strict=True)

    paths: list[str] = Field(
        min_length=1,
        description="Video files and/or folders (searched recursively); relative to the server's cwd",
    )
    engine: str | None = Field(None, description="Tracking engine, e.g. yunet (default), mediapipe_facemesh")
    workers: int | None = Field(None, ge=1, le=MAX_CPU_WORKERS, description="Worker processes per video")
    chunk_size: int | None = Field(None, ge=0, description="Fixed frames per chunk; 0 or null: adaptive")
    chunk_min: int | None = Field(None, ge=1, description="Adaptive chunk size lower bound")
    chunk_max: int | None = Field(None, ge=1, description="Adaptive chunk size upper bound")
    out_dir: str | None = Field(
        None, description="Folder for <stem>_tracking.json (default: next to each video)"
    )
    force: bool = Field(False, description="Redo videos that already have their tracking JSON")

    @model_validator(mode="after")
    def _check(self) -> JobRequest:
        if any(not path.strip() for path in self.paths):
            raise ValueError("paths must not contain empty strings")
        if any("\0" in path for path in [*self.paths, self.out_dir or ""]):
            raise ValueError("paths and out_dir must not contain NUL characters")
        if self.chunk_min is not None and self.chunk_max is not None and self.chunk_min > self.chunk_max:
            raise ValueError(f"chunk_min ({self.chunk_min}) must not exceed chunk_max ({self.chunk_max})")
        return self


class VideoStatus(BaseModel):
    video: str
    state: ItemState
    frames_done: int
    total_frames: int
    chunks_done: int
    chunks_total: int
    error: str | None


class ErrorEntry(BaseModel):
    """One error of a tracking job (not an exception: see `vigil.jobs.errors` for those)."""

    video: str | None = Field(description="null for an error of the whole job")
    error: str


class TrackOptions(BaseModel):
    engine: str
    workers: int
    chunk_size: int | None
    chunk_min: int
    chunk_max: int
    out_dir: str | None
    force: bool


class JobStatus(BaseModel):
    id: str
    state: JobState
    created_at: str
    started_at: str | None
    finished_at: str | None
    overall: float = Field(description="0..1; at most 0.99 until every video is really done")
    videos: list[VideoStatus]
    errors: list[ErrorEntry]
    report: TrackResult | None = Field(description="Set when the job has finished")
    options: TrackOptions = Field(description="The effective options of the run")


class JobList(BaseModel):
    jobs: list[JobStatus]


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def job_status(record: JobRecord) -> JobStatus:
    """A `track` job in the shape of the seed-era API: the generic view (`job_out`, as an admin
    sees it: these routes are admin only) reshaped, with the typed parameters and result."""
    view = job_out({KIND.name: KIND}, record, admin=True)
    params = KIND.params_of(record)
    videos = [
        VideoStatus(
            video=item.name,
            state=item.state,
            frames_done=item.units_done,
            total_frames=item.units_total,
            chunks_done=item.steps_done,
            chunks_total=item.steps_total,
            error=item.error,
        )
        for item in view.progress.items
    ]
    errors = [ErrorEntry(video=video.video, error=video.error) for video in videos if video.error]
    if view.error is not None:
        errors.append(ErrorEntry(video=None, error=view.error))
    settings = params.settings
    return JobStatus(
        id=view.id,
        state=view.state,
        created_at=_iso(view.created_at) or "",
        started_at=_iso(view.started_at),
        finished_at=_iso(view.finished_at),
        overall=view.progress.overall,
        videos=videos,
        errors=errors,
        report=KIND.result_of(record),
        options=TrackOptions(
            engine=settings.engine,
            workers=settings.cpu_workers,
            chunk_size=settings.chunk_size,
            chunk_min=settings.chunk_min,
            chunk_max=settings.chunk_max,
            out_dir=params.out_dir,
            force=params.force,
        ),
    )


def _step5(ctx: WebContext) -> Step5Config:
    return ctx.step5.get()


# InputError and ModelError are BadRequestError (400): the one refusal handler answers them.
def _videos(paths: list[str]) -> list[Path]:
    try:
        videos = discover_videos([Path(path) for path in paths])
    except OSError as exc:  # e.g. a name too long for the file system
        raise InputError(f"cannot read the input paths: {exc.strerror or exc}") from None
    if not videos:
        extensions = " ".join(sorted(VIDEO_EXTENSIONS))
        raise InputError(f"no video files ({extensions}) found in {', '.join(paths)}")
    return videos


def _out_dir(value: str | None) -> Path | None:
    if value is None:
        return None
    out_dir = Path(value).absolute()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"out_dir {value} cannot be created: {exc.strerror or exc}") from None
    return out_dir


# Settings field -> request field, for error locations.
_REQUEST_NAMES = {"cpu_workers": "workers"}


def _settings(body: JobRequest, base: BatchSettings, step5: Step5Config) -> BatchSettings:
    """Request options first, then what /api/step5/* set, then the app's batch settings."""
    overrides: dict[str, Any] = {
        "cpu_workers": body.workers or step5.cpu_workers,
        "chunk_min": body.chunk_min if body.chunk_min is not None else step5.effective_chunk_min,
        "chunk_max": body.chunk_max if body.chunk_max is not None else step5.effective_chunk_max,
    }
    if body.engine is not None:
        overrides["engine"] = body.engine
    if body.chunk_size is not None:
        overrides["chunk_size"] = body.chunk_size
    try:
        # model_validate, not the constructor: the environment was read once, into `base`.
        settings = BatchSettings.model_validate({**base.model_dump(), **overrides})
        settings.set_search_dirs(base.models_dirs())  # not a field: model_dump leaves it out
        return settings
    except ValidationError as exc:
        problems = [
            {
                "loc": ["body", *(_REQUEST_NAMES.get(str(part), str(part)) for part in error["loc"])],
                "msg": error["msg"],
                "type": error["type"],
            }
            for error in exc.errors(include_url=False, include_context=False, include_input=False)
        ]
        raise HTTPException(status_code=422, detail=problems) from None


@router.post(
    "/jobs",
    status_code=201,
    response_model=JobStatus,
    responses={429: {"description": "Too many jobs queued or running (see Retry-After)"}},
)
def create_job(body: JobRequest, ctx: Ctx, response: Response) -> JobStatus:
    """Start tracking every video found in `paths`; returns the new job (state `queued`)."""
    videos = _videos(body.paths)
    out_dir = _out_dir(body.out_dir)
    settings = _settings(body, ctx.settings.track, _step5(ctx))
    check_engine(settings)  # an engine whose model files are missing fails now (ModelError), not later
    split_pending(videos, out_dir, body.force)  # so do output collisions (InputError)
    record = ctx.jobs.submit(KIND.name, track_params(videos, settings, out_dir, body.force))
    response.headers["Location"] = f"{router.prefix}/jobs/{record.id}"
    return job_status(record)


@router.get("/jobs", response_model=JobList)
def list_jobs(ctx: Ctx) -> JobList:
    """Every tracking job kept in the database, oldest first."""
    return JobList(jobs=[job_status(record) for record in ctx.jobs.list(kind=KIND.name)])


def _track_job(jobs: JobManager, job_id: str) -> JobRecord:
    try:
        record = jobs.get(job_id)
    except JobNotFound:
        record = None
    if record is None or record.kind != KIND.name:
        raise JobNotFound(job_id, "tracking job")
    return record


@router.get("/jobs/{job_id}", response_model=JobStatus)
def get_job(job_id: str, ctx: Ctx) -> JobStatus:
    """State, per-video progress, overall fraction and errors of one job."""
    return job_status(_track_job(ctx.jobs, job_id))


@router.delete("/jobs/{job_id}", status_code=202, response_model=JobStatus)
def cancel_job(job_id: str, ctx: Ctx) -> JobStatus:
    """Cancel a job: a queued one is `cancelled` at once, a running one is `cancelling` until it
    stops after the chunks in progress (202). A finished job is 409."""
    _track_job(ctx.jobs, job_id)
    return job_status(ctx.jobs.cancel(job_id))
