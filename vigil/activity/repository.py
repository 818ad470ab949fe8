"""The activity history in the store: segments added (files) or kept open and extended (live),
listed with filters, and summed into statistics (time per activity per day and ISO week,
transitions, trends). Sums are computed here, not in SQL: a segment across midnight or a week's
end is split at the boundary of the asked time zone, the same way on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Row as SqlRow
from sqlalchemy import Select, func, insert, select, update

from vigil.activity.history import (
    NewSegment,
    PeriodTotals,
    SegmentFilter,
    SegmentPage,
    Span,
    Statistics,
    StoredSegment,
    Transition,
    Trend,
)
from vigil.activity.labels import Activity
from vigil.activity.result import CueSummary
from vigil.activity.tables import ActivitySegmentRow as Row
from vigil.store.database import Database

S = TypeVar("S", bound=Select[*tuple[Any, ...]])  # any columns
Seconds = dict[Activity, float]
Timed = Span | StoredSegment  # what statistics and transitions read of a segment
_ACTIVITIES = {a.value: a for a in Activity}  # faster than Activity(value) per row
TRANSITION_GAP_S = 300.0  # two segments further apart than this are not a transition (camera off)


class ActivityRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    # ------------------------------------------------------------------ writes
    def add(self, segments: Sequence[NewSegment]) -> int:
        """Stores closed segments (a file's analysis, an import); how many."""
        if not segments:
            return 0
        with self.db.writer.begin() as conn:
            conn.execute(insert(Row), [_values(s, open_=False) for s in segments])
        return len(segments)

    def record_live(self, segment: NewSegment, final: bool = False) -> bool:
        """The live path of a camera run: `segment` is the run's current (or just closed) activity
        from `started_at` to `ended_at`, sent again as it grows. Its key is (camera, started_at):
        the same segment is one row however often it comes, its end and confidence those of the
        last send (the run's timeline averages the whole segment). A new key closes the camera's
        rows still open from before it (a lost run's included: a restarted camera's first segment
        ends the segment its dead run left open where that run last saw it, never across the gap).
        A closed row is never reopened nor moved (a late send of a run already replaced is
        dropped); `final`: the run stopped, the segment is closed. Whether it was written.

        The key needs no unique index: a start is a wall-clock instant of one run's timeline, so a
        key has one writer, which sends in order."""
        with self.db.writer.begin() as conn:
            camera_rows = select(Row).where(Row.camera == segment.camera)
            still_open = conn.execute(camera_rows.where(Row.open.is_(True)).with_for_update()).all()
            query = camera_rows.where(Row.source == "live", Row.started_at == segment.started_at)
            same = conn.execute(query.order_by(Row.id).limit(1)).first()
            if same is not None and not same.open:
                return False
            values = _values(segment, open_=not final)
            if same is None:
                conn.execute(insert(Row).values(**values))
            else:
                values["visitor_id"] = segment.visitor_id or same.visitor_id
                conn.execute(update(Row).where(Row.id == same.id).values(**values))
            for row in still_open:
                if row.started_at < segment.started_at:
                    closed_at = max(row.started_at, min(row.ended_at, segment.started_at))
                    conn.execute(update(Row).where(Row.id == row.id).values(open=False, ended_at=closed_at))
        return True

    # ------------------------------------------------------------------ reads
    def segments(self, filters: SegmentFilter) -> SegmentPage:
        """Matching segments, newest first (overlapping [start, end) when given)."""
        query = _filtered(select(Row), filters)
        with self.db.reader.connect() as conn:
            total = int(conn.execute(_filtered(select(func.count()).select_from(Row), filters)).scalar_one())
            page = (
                query.order_by(Row.started_at.desc(), Row.id.desc())
                .limit(filters.limit)
                .offset(filters.offset)
            )
            rows = conn.execute(page).all()
        return SegmentPage(total, [_stored(r) for r in rows])

    def cameras(self) -> list[str]:
        with self.db.reader.connect() as conn:
            return list(conn.execute(select(Row.camera).distinct().order_by(Row.camera)).scalars())

    def overlapping(self, start: datetime, end: datetime, camera: str | None = None) -> list[StoredSegment]:
        """Every segment overlapping [start, end), oldest first."""
        query = _filtered(select(Row), SegmentFilter(camera=camera, start=start, end=end))
        with self.db.reader.connect() as conn:
            rows = conn.execute(query.order_by(Row.camera, Row.started_at, Row.id)).all()
        return [_stored(r) for r in rows]

    def spans(self, start: datetime, end: datetime, camera: str | None = None) -> list[Span]:
        """Every segment overlapping [start, end), oldest first, without its cues."""
        columns = select(Row.id, Row.camera, Row.activity, Row.started_at, Row.ended_at)
        query = _filtered(columns, SegmentFilter(camera=camera, start=start, end=end))
        with self.db.reader.connect() as conn:
            rows = conn.execute(query.order_by(Row.camera, Row.started_at, Row.id)).all()
        return [Span(r.id, r.camera, _ACTIVITIES[r.activity], r.started_at, r.ended_at) for r in rows]

    def statistics(
        self, start: datetime, end: datetime, camera: str | None = None, tz: str = "UTC"
    ) -> Statistics:
        """Time per activity per day and per ISO week of `tz` (segments clipped to [start, end);
        every day and week of the range, empty ones with no seconds), and the transitions between
        consecutive segments of a camera."""
        zone = ZoneInfo(tz)
        segments = self.spans(start, end, camera)
        days: dict[date, Seconds] = defaultdict(lambda: defaultdict(float))
        weeks: dict[date, Seconds] = defaultdict(lambda: defaultdict(float))
        totals: Seconds = defaultdict(float)
        for segment in segments:
            for day, seconds in _split_by_day(segment, start, end, zone):
                days[day][segment.activity] += seconds
                weeks[day - timedelta(days=day.weekday())][segment.activity] += seconds
                totals[segment.activity] += seconds
        # Every day and week of the range, empty ones too: a chart's axis needs no gap filling.
        all_days = _local_days(start, end, zone)
        mondays = sorted({d - timedelta(days=d.weekday()) for d in all_days})
        return Statistics(
            start=start, end=end, timezone=tz,
            days=[PeriodTotals(d, d.isoformat(), _rounded(days.get(d, {}))) for d in all_days],
            weeks=[PeriodTotals(w, _week_label(w), _rounded(weeks.get(w, {}))) for w in mondays],
            transitions=transitions_of(segments), totals=_rounded(totals),
        )  # fmt: skip

    def trends(self, now: datetime, camera: str | None = None, tz: str = "UTC") -> list[Trend]:
        """Per activity: time in this ISO week up to `now` against the whole previous week."""
        zone = ZoneInfo(tz)
        local = now.astimezone(zone)
        monday = datetime.combine(local.date() - timedelta(days=local.weekday()), datetime.min.time(), zone)
        last_monday = monday - timedelta(days=7)
        this_week = self.statistics(monday.astimezone(UTC), now, camera, tz).totals
        last_week = self.statistics(last_monday.astimezone(UTC), monday.astimezone(UTC), camera, tz).totals
        return [
            Trend(a, this_week.get(a, 0.0), last_week.get(a, 0.0))
            for a in Activity
            if a in this_week or a in last_week
        ]


def transitions_of(segments: Iterable[Timed], max_gap_s: float = TRANSITION_GAP_S) -> list[Transition]:
    """From->to counts between consecutive segments of each camera (a change of activity no
    further than `max_gap_s` apart), most frequent first."""
    counts: Counter[tuple[Activity, Activity]] = Counter()
    by_camera: dict[str, list[Timed]] = defaultdict(list)
    for segment in segments:
        by_camera[segment.camera].append(segment)
    for runs in by_camera.values():
        runs.sort(key=lambda s: (s.started_at, s.id))
        for before, after in pairwise(runs):
            gap = (after.started_at - before.ended_at).total_seconds()
            if before.activity != after.activity and gap <= max_gap_s:
                counts[(before.activity, after.activity)] += 1
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0][0].value, item[0][1].value))
    return [Transition(source, target, n) for (source, target), n in ordered]


def _split_by_day(
    segment: Timed, start: datetime, end: datetime, zone: ZoneInfo
) -> Iterable[tuple[date, float]]:
    """The segment clipped to [start, end), cut at each local midnight: (local day, seconds)."""
    at, until = max(segment.started_at, start), min(segment.ended_at, end)
    while at < until:
        local = at.astimezone(zone)
        next_midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), zone)
        cut = min(until, next_midnight.astimezone(UTC))
        yield local.date(), (cut - at).total_seconds()
        at = cut


def _local_days(start: datetime, end: datetime, zone: ZoneInfo) -> list[date]:
    """The local days [start, end) touches."""
    if end <= start:
        return []
    first = start.astimezone(zone).date()
    last = (end - timedelta(microseconds=1)).astimezone(zone).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _week_label(monday: date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def _rounded(seconds: Mapping[Activity, float]) -> dict[Activity, float]:
    return {a: round(seconds[a], 3) for a in Activity if seconds.get(a, 0.0) > 0}


def _filtered(query: S, f: SegmentFilter) -> S:
    if f.camera is not None:
        query = query.where(Row.camera == f.camera)
    if f.activity is not None:
        query = query.where(Row.activity == f.activity.value)
    if f.visitor_id is not None:
        query = query.where(Row.visitor_id == f.visitor_id)
    if f.start is not None:
        query = query.where(Row.ended_at > f.start)
    if f.end is not None:
        query = query.where(Row.started_at < f.end)
    return query


def _values(segment: NewSegment, open_: bool) -> dict[str, object]:
    return {
        "camera": segment.camera, "visitor_id": segment.visitor_id, "activity": segment.activity.value,
        "started_at": segment.started_at, "ended_at": segment.ended_at,
        "confidence": float(segment.confidence), "cues": segment.cues.model_dump(mode="json"),
        "source": segment.source, "open": open_,
    }  # fmt: skip


def _stored(row: SqlRow[Any]) -> StoredSegment:
    return StoredSegment(
        camera=row.camera, activity=Activity(row.activity), started_at=row.started_at, ended_at=row.ended_at,
        confidence=row.confidence, cues=CueSummary.model_validate(row.cues), source=row.source,
        visitor_id=row.visitor_id, id=row.id, open=row.open,
    )  # fmt: skip
