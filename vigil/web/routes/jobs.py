"""Jobs of every kind: `/api/jobs` (list, show: any user; cancel: admin) and the /jobs page
with progress bars, refreshed by polling the API. Only admins see a job's parameters and result
(server paths); viewers see its inputs by file name."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import PurePath
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from vigil.jobs.kinds import AnyKind, get_kind
from vigil.jobs.model import JobProgress, JobRecord, JobState, JsonObject
from vigil.web.auth import Principal, require_admin, require_viewer
from vigil.web.context import WebContext, get_ctx
from vigil.web.templating import page_viewer, render

router = APIRouter()
Ctx = Annotated[WebContext, Depends(get_ctx)]
Viewer = Annotated[Principal, Depends(require_viewer)]
Admin = Annotated[Principal, Depends(require_admin)]
ERRORS: dict[int | str, dict[str, str]] = {404: {"description": "No such job"}}


class JobOut(BaseModel):
    id: str
    kind: str = Field(description="track (batch tracking); later anonymize, activity")
    title: str = Field(description="What this kind of job does")
    summary: str = Field(description="Its inputs in one line")
    state: JobState
    progress: JobProgress
    result: JsonObject | None = Field(
        description="The kind's result, once finished; null for non-admins (server paths)"
    )
    error: str | None = Field(description="Why the whole job failed (item errors are in progress)")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    params: JsonObject | None = Field(
        description="The kind's parameters; null for non-admins (they hold server paths)"
    )


class JobsOut(BaseModel):
    jobs: list[JobOut]


def job_out(kinds: Mapping[str, AnyKind], record: JobRecord, *, admin: bool) -> JobOut:
    """The view of a job of any kind (`/api/track/jobs` reshapes it for the seed's clients).
    Non-admins see no server paths: no parameters, no result, items by their last path part."""
    kind = kinds.get(record.kind)
    progress = record.progress if admin else _without_paths(record.progress)
    return JobOut(
        id=record.id,
        kind=record.kind,
        title=record.kind if kind is None else kind.title,
        summary="" if kind is None else kind.summary(record),
        state=record.state,
        progress=progress,
        result=record.result if admin else None,
        error=record.error,
        created_at=record.created_at,
        started_at=record.started_at,
        finished_at=record.finished_at,
        params=record.params if admin else None,
    )


def _without_paths(progress: JobProgress) -> JobProgress:
    items = [item.model_copy(update={"name": PurePath(item.name).name}) for item in progress.items]
    return progress.model_copy(update={"items": items})


def _view(ctx: WebContext, user: Principal, record: JobRecord) -> JobOut:
    return job_out(ctx.jobs.kinds, record, admin=user.is_admin)


@router.get("/api/jobs", response_model=JobsOut, tags=["jobs"])
def list_jobs(
    ctx: Ctx,
    user: Viewer,
    kind: Annotated[str | None, Query(max_length=64, description="Only jobs of this kind")] = None,
) -> JobsOut:
    """Every job kept in the database (all kinds), oldest first."""
    if kind is not None:
        get_kind(kind, ctx.jobs.kinds)  # an unknown kind is 422, not an empty list
    return JobsOut(jobs=[_view(ctx, user, record) for record in ctx.jobs.list(kind)])


@router.get("/api/jobs/{job_id}", response_model=JobOut, tags=["jobs"], responses=ERRORS)
def get_job(job_id: str, ctx: Ctx, user: Viewer) -> JobOut:
    """One job: state, progress (overall and per item), result or error."""
    return _view(ctx, user, ctx.jobs.get(job_id))


@router.delete(
    "/api/jobs/{job_id}",
    status_code=202,
    response_model=JobOut,
    tags=["jobs"],
    responses={**ERRORS, 409: {"description": "The job has already finished"}},
)
def cancel_job(job_id: str, ctx: Ctx, user: Admin) -> JobOut:
    """Cancel a job: queued ones end at once (`cancelled`), running ones are `cancelling` until
    they stop after their current step."""
    return _view(ctx, user, ctx.jobs.cancel(job_id))


@router.get("/jobs", response_class=HTMLResponse, include_in_schema=False)
def jobs_page(request: Request, ctx: Ctx, user: Annotated[Principal, Depends(page_viewer)]) -> Response:
    jobs = [_view(ctx, user, record) for record in reversed(ctx.jobs.list())]
    return render(request, "jobs.html", active="jobs", jobs=jobs, poll_ms=JOBS_POLL_MS)


JOBS_POLL_MS = 1500
