"""The activity history's API (issue 18 items 4-5): stored segments (JSON pages and a CSV export),
statistics (time per activity per day and ISO week, transitions, trends), each camera's current
activity from its live analysis, and the state of the reports' outbox. JSON shaped for charts: one
object per day or week with seconds per activity id. The Statistics and History pages
(routes/activity_pages.py) draw these."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from vigil.activity.history import PeriodTotals, SegmentFilter, StoredSegment
from vigil.activity.history_export import history_csv
from vigil.activity.labels import Activity
from vigil.activity.live_audio import AudioSource, AudioStatus, SoundProblem
from vigil.activity.reports import ActivityReport, ReportOutbox
from vigil.activity.repository import ActivityRepository
from vigil.activity.result import CueSummary
from vigil.outbox.store import OutboxEntry
from vigil.redact import redact
from vigil.web.auth import Principal, require_admin, require_viewer
from vigil.web.context import WebContext, get_ctx
from vigil.web.templating import language_of

router = APIRouter(prefix="/api/activity", tags=["activity history"])
Ctx = Annotated[WebContext, Depends(get_ctx)]
Viewer = Annotated[Principal, Depends(require_viewer)]
Admin = Annotated[Principal, Depends(require_admin)]
CameraQuery = Annotated[str | None, Query(max_length=200, description="Only this camera (all when absent)")]
FromQuery = Annotated[datetime | None, Query(alias="from", description="Start (ISO-8601 with a zone)")]
ToQuery = Annotated[datetime | None, Query(alias="to", description="End, exclusive (ISO-8601 with a zone)")]
ActivityQuery = Annotated[Activity | None, Query(description="Only this activity")]
VisitorQuery = Annotated[uuid.UUID | None, Query(description="Only this visitor's")]
DEFAULT_DAYS = 28
MAX_RANGE_DAYS = 400
MAX_CSV_ROWS = 100_000  # a year of one camera's segments at a change every ~5 minutes


class HistorySegmentOut(BaseModel):
    id: int
    camera: str
    visitor_id: uuid.UUID | None
    activity: Activity
    start: datetime
    end: datetime
    duration_s: float
    confidence: float
    cues: CueSummary
    visitor_name: str | None = Field(None, description="The visitor's stored name, when known")
    source: Literal["live", "file"]
    open: bool = Field(description="Still extended by the live analysis")

    @classmethod
    def of(cls, s: StoredSegment, visitor_name: str | None = None) -> HistorySegmentOut:
        return cls(
            id=s.id, camera=s.camera, visitor_id=s.visitor_id, activity=s.activity, start=s.started_at,
            end=s.ended_at, duration_s=round(s.duration_s, 3), confidence=round(s.confidence, 4), cues=s.cues,
            visitor_name=visitor_name, source=s.source, open=s.open,
        )  # fmt: skip


class HistorySegmentListOut(BaseModel):
    total: int = Field(description="Segments matching the filters (all pages)")
    segments: list[HistorySegmentOut]


class PeriodOut(BaseModel):
    period: date = Field(description="The day, or the Monday of the ISO week")
    label: str = Field(description="2026-12-05, or 2026-W49")
    seconds: dict[Activity, float] = Field(description="Seconds per activity (absent: none)")
    total_s: float

    @classmethod
    def of(cls, p: PeriodTotals) -> PeriodOut:
        return cls(period=p.period, label=p.label, seconds=p.seconds, total_s=round(p.total_s, 3))


class TransitionOut(BaseModel):
    source: Activity = Field(serialization_alias="from")
    target: Activity = Field(serialization_alias="to")
    count: int


class TrendOut(BaseModel):
    activity: Activity
    this_week_s: float = Field(description="This ISO week up to now")
    last_week_s: float = Field(description="The whole previous ISO week")
    change_s: float


class StatisticsOut(BaseModel):
    start: datetime
    end: datetime
    timezone: str
    camera: str | None
    activities: list[Activity] = Field(description="Every activity id, in a stable order for legends")
    totals: dict[Activity, float]
    days: list[PeriodOut]
    weeks: list[PeriodOut]
    transitions: list[TransitionOut]
    trends: list[TrendOut]


class LiveSoundOut(BaseModel):
    """The sound a camera's live activity asked for and what it hears now."""

    source: AudioSource = Field(description="Asked: the camera's activity_audio, or activity.live_audio")
    heard: str | None = Field(
        description="What is heard now ('stream AAC 48 kHz', 'microphone <name>'); null: nothing"
    )
    codec: str | None = Field(description="The stream's audio codec (FFmpeg's name, e.g. 'aac')")
    sample_rate: int | None = Field(description="The stream's audio rate in Hz")
    device: str | None = Field(description="The microphone: its name once open, else the one asked")
    problem: SoundProblem | None = Field(description="Why sound was asked but nothing is heard")
    error: str | None = Field(description="That reason in words (redacted)")
    samples: int = Field(description="Windows of sound analysed so far")
    dropped: int = Field(description="Chunks of stream sound the analysis could not keep up with")

    @classmethod
    def of(cls, status: AudioStatus) -> LiveSoundOut:
        # Its fields by name (the error is redacted where the status is made: live_audio.py).
        return cls.model_validate(status, from_attributes=True)


class LiveActivityOut(BaseModel):
    """One camera with activity analysis on, as its live analysis holds it (memory, no database)."""

    camera_id: int
    camera: str
    running: bool = Field(description="The camera's pipeline runs")
    activity: Activity | None = Field(description="None until the first window of cues is full")
    confidence: float | None
    since: datetime | None = Field(description="When the current activity began")
    updated: datetime | None = Field(description="The last decision (one every activity.hop_s)")
    cues: CueSummary | None = Field(description="The last window's mean cues")
    sound: LiveSoundOut | None = Field(None, description="Its sound (null while the camera is stopped)")


class ReportEntryOut(BaseModel):
    id: int
    status: Literal["pending", "delivered", "failed"]
    created_at: datetime
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    last_error: str = Field(description="Redacted")
    report: ActivityReport

    @classmethod
    def of(cls, e: OutboxEntry[ActivityReport]) -> ReportEntryOut:
        return cls(
            id=e.id, status=e.status, created_at=e.created_at, attempts=e.attempts,
            next_attempt_at=e.next_attempt_at, delivered_at=e.delivered_at, last_error=redact(e.last_error),
            report=e.message,
        )  # fmt: skip


class ReportsOut(BaseModel):
    enabled: bool
    url: str | None = Field(description="The receiver, redacted")
    interval_s: float
    pending: int
    delivered: int = Field(description="Delivered and not yet pruned")
    failed: int
    reports: list[ReportEntryOut] = Field(description="Newest first")


def segment_filters(
    camera: CameraQuery = None,
    start: FromQuery = None,
    end: ToQuery = None,
    activity: ActivityQuery = None,
    visitor_id: VisitorQuery = None,
) -> SegmentFilter:
    """The query filters /segments and /segments.csv share (each route sets its page)."""
    return SegmentFilter(camera, _aware(start), _aware(end), activity, visitor_id)


SegmentFilters = Annotated[SegmentFilter, Depends(segment_filters)]


@dataclass(frozen=True)
class PageQuery:
    """/segments' page: a dependency declared after the filters', so OpenAPI lists it after them."""

    limit: Annotated[int, Query(ge=1, le=1000)] = 100
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0


@router.get("/segments", response_model=HistorySegmentListOut, summary="Activity segments, newest first")
async def list_segments(
    ctx: Ctx,
    _: Viewer,
    filters: SegmentFilters,
    page_query: Annotated[PageQuery, Depends()],
) -> HistorySegmentListOut:
    page_filters = replace(filters, limit=page_query.limit, offset=page_query.offset)
    page = await run_in_threadpool(ActivityRepository(ctx.store.db).segments, page_filters)
    names = await run_in_threadpool(_visitor_names, ctx, page.segments)
    return HistorySegmentListOut(
        total=page.total,
        segments=[HistorySegmentOut.of(s, names.get(s.visitor_id) if s.visitor_id else None)
                  for s in page.segments],
    )  # fmt: skip


@router.get(
    "/segments.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "One row per segment, newest first"}},
    summary="Activity segments as CSV (the same filters, at most 100 000 rows)",
)
async def segments_csv(request: Request, ctx: Ctx, _: Viewer, filters: SegmentFilters) -> Response:
    """Columns: id, camera, visitor_id, visitor_name, activity (the id), activity_name (in the
    page's language), start, end (ISO-8601 UTC), duration_s, confidence, source, open, then the
    segment's mean cues and its objects and sounds (`;`-separated)."""
    every_row = replace(filters, limit=MAX_CSV_ROWS, offset=0)
    page = await run_in_threadpool(ActivityRepository(ctx.store.db).segments, every_row)
    names = await run_in_threadpool(_visitor_names, ctx, page.segments)
    text = history_csv(page.segments, names, language_of(request))
    headers = {"Content-Disposition": 'attachment; filename="activity-history.csv"'}
    return Response(text, media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/live", response_model=list[LiveActivityOut], summary="Each camera's current activity")
def live_activity(ctx: Ctx, _: Viewer) -> list[LiveActivityOut]:
    """Cameras with activity analysis on, in id order, with the state their live analysis holds
    now; a stopped camera has no activity. The live page's tiles poll this."""
    manager = ctx.cameras
    out: list[LiveActivityOut] = []
    for info in manager.cameras():
        if not info.activity:
            continue
        state = manager.activity_state(info.id)
        running = manager.is_running(info.id)
        sound = None if state is None or state.sound is None else LiveSoundOut.of(state.sound)
        if state is None or state.activity is None:  # stopped, or the first window not full yet
            out.append(LiveActivityOut(camera_id=info.id, camera=info.name, running=running, activity=None,
                                       confidence=None, since=None, updated=None, cues=None,
                                       sound=sound))  # fmt: skip
            continue
        tile = LiveActivityOut(
            camera_id=info.id, camera=info.name, running=running, activity=state.activity,
            confidence=round(state.confidence, 4), since=_stamp(state.since),
            updated=_stamp(state.updated), cues=state.cues, sound=sound,
        )  # fmt: skip
        out.append(tile)
    return out


@router.get(
    "/statistics",
    response_model=StatisticsOut,
    response_model_by_alias=True,
    summary="Time per activity per day and ISO week, transitions and trends",
)
async def statistics(
    ctx: Ctx,
    _: Viewer,
    camera: CameraQuery = None,
    start: FromQuery = None,
    end: ToQuery = None,
    tz: Annotated[str, Query(max_length=64, description="IANA time zone of days and weeks")] = "UTC",
) -> StatisticsOut:
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise HTTPException(422, f"unknown time zone: {tz[:64]}") from exc
    now = datetime.now(UTC)
    until = _aware(end) or now
    since = _aware(start) or until - timedelta(days=DEFAULT_DAYS)
    if since >= until or until - since > timedelta(days=MAX_RANGE_DAYS):
        raise HTTPException(422, f"'from' must be before 'to', at most {MAX_RANGE_DAYS} days apart")
    repo = ActivityRepository(ctx.store.db)
    stats = await run_in_threadpool(repo.statistics, since, until, camera, tz)
    trends = await run_in_threadpool(repo.trends, now, camera, tz)
    return StatisticsOut(
        start=stats.start, end=stats.end, timezone=stats.timezone, camera=camera, activities=list(Activity),
        totals=stats.totals, days=[PeriodOut.of(d) for d in stats.days],
        weeks=[PeriodOut.of(w) for w in stats.weeks],
        transitions=[TransitionOut(source=t.source, target=t.target, count=t.count)
                     for t in stats.transitions],
        trends=[TrendOut(activity=t.activity, this_week_s=round(t.this_week_s, 3),
                         last_week_s=round(t.last_week_s, 3), change_s=round(t.change_s, 3)) for t in trends],
    )  # fmt: skip


@router.get("/reports", response_model=ReportsOut, summary="The reports to the external service (admin)")
async def reports(
    ctx: Ctx,
    _: Admin,
    status: Annotated[Literal["pending", "delivered", "failed"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ReportsOut:
    config = ctx.settings.activity.report
    outbox = ReportOutbox(ctx.store.db)
    counts = await run_in_threadpool(outbox.counts)
    entries = await run_in_threadpool(outbox.entries, status, limit, offset, True)
    return ReportsOut(
        enabled=config.enabled, url=redact(config.url) if config.url else None, interval_s=config.interval_s,
        pending=counts.pending, delivered=counts.delivered, failed=counts.failed,
        reports=[ReportEntryOut.of(e) for e in entries],
    )  # fmt: skip


def _visitor_names(ctx: WebContext, segments: list[StoredSegment]) -> dict[uuid.UUID, str | None]:
    ids = {s.visitor_id for s in segments if s.visitor_id is not None}
    return ctx.store.visitors.names(ids) if ids else {}


def _stamp(wall: float | None) -> datetime | None:
    return None if wall is None else datetime.fromtimestamp(wall, UTC)


def _aware(value: datetime | None) -> datetime | None:
    """Query times without a zone are taken as UTC."""
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
