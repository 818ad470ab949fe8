"""Recurring-visitor analytics ("clients fidèles", seed 001 §4.2), as a service the CLI and web use.

Loyal visitors on a day D: seen on D, and with at least `min_visits` visits before D within the
window (`window_days` days ending with D). Days are local calendar days in `tz`."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any, Literal

from sqlalchemy import Connection, Integer, case, func, select
from sqlalchemy.orm import aliased
from sqlalchemy.sql import Select

from vigil.store.schema import Camera, Sighting, Visit, Visitor

SortKey = Literal["arrival", "visits", "last_seen"]


@dataclass(frozen=True)
class VisitorSummary:
    visitor_id: uuid.UUID
    name: str | None
    reference_photo: str | None  # relative to the faces directory
    today_photo: str | None
    visits_in_window: int
    past_visits: int
    frequency: str
    arrival: datetime | None  # first sighting on the day, in `tz`
    cameras: list[str]
    first_seen_at: datetime
    last_seen_at: datetime
    visit_count: int

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["visitor_id"] = str(self.visitor_id)
        for key in ("arrival", "first_seen_at", "last_seen_at"):
            data[key] = data[key].isoformat() if data[key] else None
        return data


@dataclass(frozen=True)
class VisitorPage:
    total: int
    items: list[VisitorSummary]


WINDOW_PATTERN = r"^\s*([1-9][0-9]{0,2})\s*([dwDW]?)\s*$"
MAX_WINDOW_DAYS = 365


def parse_window(text: str) -> int | None:
    """'7d', '2w' or '30' (days) -> days; None when malformed or longer than a year."""
    match = re.fullmatch(WINDOW_PATTERN, text)
    if not match:
        return None
    days = int(match.group(1)) * (7 if match.group(2).lower() == "w" else 1)
    return days if days <= MAX_WINDOW_DAYS else None


def local_tz() -> tzinfo:
    """The server's time zone: "today" and arrival times are local calendar days."""
    tz = datetime.now().astimezone().tzinfo
    assert tz is not None
    return tz


def frequency_text(visits: int, window_days: int) -> str:
    times = "once" if visits == 1 else f"{visits} times"
    if window_days == 7:
        return f"seen {times} this week"
    if window_days == 1:
        return f"seen {times} today"
    return f"seen {times} in the last {window_days} days"


def day_bounds(day: date, tz: tzinfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tz)
    return start, datetime.combine(day + timedelta(days=1), time.min, tz)


@dataclass(frozen=True)
class _Span:
    window_start: datetime
    day_start: datetime
    day_end: datetime


def visitor_summaries(
    conn: Connection,
    day: date,
    tz: tzinfo,
    *,
    window_days: int = 7,
    min_visits: int = 1,
    loyal: bool = False,
    sort: SortKey = "arrival",
    limit: int = 50,
    offset: int = 0,
) -> VisitorPage:
    """Visitors with ≥ `min_visits` visits in the window (loyal: seen on `day` and ≥ `min_visits`
    earlier visits in the window), one page of them, with photos, arrival and cameras.

    Two steps keep it fast with 100k visitors: the candidates are counted and ranked on the sort
    key alone (index-only reads), then the page's few rows get their details."""
    day_start, day_end = day_bounds(day, tz)
    span = _Span(day_start - timedelta(days=window_days - 1), day_start, day_end)
    rank = _loyal_page if loyal else _window_page
    total, ids = rank(conn, span, min_visits, sort, _Page(limit, offset))
    details = _Details.read(conn, ids, span, day_start if loyal else span.window_start)
    return VisitorPage(total, [details.summary(i, window_days, tz) for i in ids])


@dataclass(frozen=True)
class _Page:
    limit: int
    offset: int


def _seen_on_day(span: _Span) -> Select[uuid.UUID, datetime]:
    """Visitors seen on the day with their arrival (index-only: ix_sightings_captured_visitor)."""
    return (
        select(Sighting.visitor_id.label("visitor_id"), func.min(Sighting.captured_at).label("arrival"))
        .where(Sighting.captured_at >= span.day_start, Sighting.captured_at < span.day_end)
        .group_by(Sighting.visitor_id)
    )


def _visits_between(visitor: Any, start: datetime, end: datetime) -> Any:
    """Correlated count of a visitor's visits started in [start, end) (an index range)."""
    return (
        select(func.count())
        .where(Visit.visitor_id == visitor, Visit.started_at >= start, Visit.started_at < end)
        .scalar_subquery()
    )


def _has_visits(visitor: Any, start: datetime, end: datetime, at_least: int) -> Any:
    """`at_least` visits started in [start, end); one is an index probe that stops at the first."""
    if at_least > 1:
        return _visits_between(visitor, start, end) >= at_least
    return (
        select(Visit.visitor_id)  # in the index: no table row read
        .where(Visit.visitor_id == visitor, Visit.started_at >= start, Visit.started_at < end)
        .exists()
    )


def _loyal_page(
    conn: Connection, span: _Span, min_visits: int, sort: SortKey, page: _Page
) -> tuple[int, list[uuid.UUID]]:
    """Seen on the day with ≥ `min_visits` earlier visits in the window: (count, the page's ids).

    Earlier visits are probed per visitor of the day (an index range each, in visitor order)
    rather than by grouping every visit of the window: the day's visitors are a small part."""
    keep = _loyal_keep(span, min_visits)
    if sort == "arrival" and page.offset + page.limit <= WALK_MAX:
        return _day_count(conn, span, keep), _day_by_arrival(conn, span, keep, page)
    seen = _seen_on_day(span).having(keep(Sighting.visitor_id))  # the group's key inside HAVING
    if sort == "visits":  # only counted for the visitors kept
        n = _visits_between(Sighting.visitor_id, span.window_start, span.day_end)
        seen = seen.add_columns(n.label("n"))
    # MATERIALIZED: filtered once, then counted and sorted (SQLite would re-run the probes).
    kept = seen.cte("loyal").prefix_with("MATERIALIZED")
    query = select(kept.c.visitor_id, select(func.count()).select_from(kept).scalar_subquery().label("total"))
    if sort == "visits":
        query = query.order_by(kept.c.n.desc(), kept.c.visitor_id)
    elif sort == "last_seen":
        query = query.join(Visitor, Visitor.id == kept.c.visitor_id)
        query = query.order_by(Visitor.last_seen_at.desc(), kept.c.visitor_id)
    else:
        query = query.order_by(kept.c.arrival, kept.c.visitor_id)
    return _run(conn, query, page)


Keep = Callable[[Any], Any]  # a visitor id expression -> a condition on that visitor
# Walking the day's sightings costs a few µs per sighting skipped; past this many rows, ranking
# them all once (one sort) is cheaper.
WALK_MAX = 2000


def _loyal_keep(span: _Span, min_visits: int) -> Keep:
    if min_visits >= 1:
        return lambda visitor: _has_visits(visitor, span.window_start, span.day_start, min_visits)
    # 0: as in the window listing, at least one visit in the window.
    return lambda visitor: _has_visits(visitor, span.window_start, span.day_end, 1)


def _day_count(conn: Connection, span: _Span, keep: Keep) -> int:
    """How many visitors seen on the day pass `keep` (one grouping of the day's sightings).

    `keep` filters the grouped rows in WHERE, not HAVING: PostgreSQL turns that into a hash
    semi-join; SQLite probes either way."""
    seen = (
        select(Sighting.visitor_id)
        .where(Sighting.captured_at >= span.day_start, Sighting.captured_at < span.day_end)
        .group_by(Sighting.visitor_id)
        .subquery("seen")
    )
    return conn.execute(select(func.count()).select_from(seen).where(keep(seen.c.visitor_id))).scalar_one()


def _day_by_arrival(conn: Connection, span: _Span, keep: Keep, page: _Page) -> list[uuid.UUID]:
    """A page of the day's visitors passing `keep`, by (arrival, id): the day's sightings are
    walked in index order (captured_at, visitor_id), each visitor at its first sighting, and the
    walk stops at the page's end: no grouping or sorting of the whole day."""
    earlier = aliased(Sighting)
    first = ~(
        select(earlier.visitor_id)
        .where(earlier.visitor_id == Sighting.visitor_id, earlier.captured_at >= span.day_start)
        .where(earlier.captured_at < Sighting.captured_at)
        .exists()
    )
    walk = (
        select(Sighting.captured_at, Sighting.visitor_id)
        .distinct()  # a visitor's two first sightings at the same instant
        .where(Sighting.captured_at >= span.day_start, Sighting.captured_at < span.day_end)
        .where(first, keep(Sighting.visitor_id))
        .order_by(Sighting.captured_at, Sighting.visitor_id)
        .limit(page.limit)
        .offset(page.offset)
    )
    return [row.visitor_id for row in conn.execute(walk)]


def _run(conn: Connection, ranked: Select[Any], page: _Page) -> tuple[int, list[uuid.UUID]]:
    """One page of a (visitor_id, total) ranking; past the end, the total is counted alone."""
    rows = conn.execute(ranked.limit(page.limit).offset(page.offset)).all()
    if rows:
        return int(rows[0].total), [r.visitor_id for r in rows]
    return conn.execute(select(func.count()).select_from(ranked.subquery())).scalar_one(), []


def _window_page(
    conn: Connection, span: _Span, min_visits: int, sort: SortKey, page: _Page
) -> tuple[int, list[uuid.UUID]]:
    """Visitors with ≥ `min_visits` visits in the window: (count, the page's ids), ordered by
    `sort` (arrival: the day's visitors first, by arrival time)."""
    at_least = max(1, min_visits)
    if sort == "last_seen":
        # Walk visitors from the most recent (index on last_seen_at) and stop at the page's end;
        # anyone with a visit in the window was last seen after the window started.
        ids = conn.scalars(
            select(Visitor.id)
            .where(Visitor.last_seen_at >= span.window_start)
            .where(_has_visits(Visitor.id, span.window_start, span.day_end, at_least))
            .order_by(Visitor.last_seen_at.desc(), Visitor.id)
            .limit(page.limit)
            .offset(page.offset)
        ).all()
        return _window_total(conn, span, min_visits), list(ids)
    if sort == "arrival":
        return _window_total(conn, span, min_visits), _window_by_arrival(conn, span, at_least, page)
    in_window = (
        select(Visit.visitor_id.label("visitor_id"), func.count().label("n"))
        .where(Visit.started_at >= span.window_start, Visit.started_at < span.day_end)
        .group_by(Visit.visitor_id)
        .having(func.count() >= at_least)
        .cte("in_window")
        .prefix_with("MATERIALIZED")
    )
    total = select(func.count()).select_from(in_window).scalar_subquery().label("total")
    ranked = select(in_window.c.visitor_id, total).order_by(in_window.c.n.desc(), in_window.c.visitor_id)
    return _run(conn, ranked, page)


def _window_by_arrival(conn: Connection, span: _Span, at_least: int, page: _Page) -> list[uuid.UUID]:
    """The day's visitors first, by arrival (a walk, as for loyal visitors), then the others by id."""

    def keep(visitor: Any) -> Any:
        return _has_visits(visitor, span.window_start, span.day_end, at_least)

    ids = _day_by_arrival(conn, span, keep, page)
    if len(ids) == page.limit:
        return ids
    # The page runs past the day's visitors: how many there are tells where the others start.
    on_day = page.offset + len(ids) if ids else _day_count(conn, span, keep)
    seen = (
        select(Sighting.visitor_id)
        .where(Sighting.visitor_id == Visitor.id)
        .where(Sighting.captured_at >= span.day_start, Sighting.captured_at < span.day_end)
        .exists()
    )
    others = (
        select(Visitor.id)
        .where(keep(Visitor.id), ~seen)
        .order_by(Visitor.id)
        .limit(page.limit - len(ids))
        .offset(max(0, page.offset - on_day))
    )
    return ids + list(conn.scalars(others))


def _window_total(conn: Connection, span: _Span, min_visits: int, per_visitor: bool | None = None) -> int:
    """How many visitors have ≥ `min_visits` (at least 1) visits in the window.

    Grouping the window's visits sorts them all (SQLite has no hash aggregate); when the window
    holds at least as many visits as there are visitors, one index probe per visitor, in id
    order (the order of ix_visits_visitor_started too), reads less. `per_visitor` forces a way."""
    at_least = max(1, min_visits)
    if per_visitor is None:
        per_visitor = conn.dialect.name == "sqlite" and _window_has_a_visit_per_visitor(conn, span)
    if per_visitor:
        enough = _has_visits(Visitor.id, span.window_start, span.day_end, at_least)
        return conn.execute(select(func.count()).select_from(Visitor).where(enough)).scalar_one()
    grouped = (
        select(Visit.visitor_id)
        .where(Visit.started_at >= span.window_start, Visit.started_at < span.day_end)
        .group_by(Visit.visitor_id)
        .having(func.count() >= at_least)
        .subquery()
    )
    return conn.execute(select(func.count()).select_from(grouped)).scalar_one()


def _window_has_a_visit_per_visitor(conn: Connection, span: _Span) -> bool:
    """Whether the window holds ≥ one visit per visitor (skips that many index entries, no sort)."""
    visitors = conn.execute(select(func.count()).select_from(Visitor)).scalar_one()
    nth = (
        select(Visit.started_at)  # index-only: ix_visits_started_visitor
        .where(Visit.started_at >= span.window_start, Visit.started_at < span.day_end)
        .limit(1)
        .offset(max(0, visitors - 1))
    )
    return visitors > 0 and conn.execute(nth).first() is not None


_VISITOR_COLUMNS = (
    Visitor.id, Visitor.name, Visitor.best_image_path, Visitor.first_seen_at, Visitor.last_seen_at,
    Visitor.visit_count,
)  # fmt: skip


@dataclass(frozen=True)
class _Details:
    """What a page's visitors show, read with three queries for the whole page."""

    span: _Span
    visitors: dict[uuid.UUID, Any]
    visits: dict[uuid.UUID, tuple[int, int]]  # (in the window, of which before the day)
    sightings: dict[uuid.UUID, list[Any]]  # (captured_at, camera, quality, image_path) since `since`

    @classmethod
    def read(cls, conn: Connection, ids: list[uuid.UUID], span: _Span, since: datetime) -> _Details:
        """`since`: where the cameras list starts (the day for loyal visitors, else the window)."""
        if not ids:
            return cls(span, {}, {}, {})
        visitors = {r.id: r for r in conn.execute(select(*_VISITOR_COLUMNS).where(Visitor.id.in_(ids)))}
        rows = conn.execute(
            select(Sighting.visitor_id, Sighting.captured_at, Camera.name, Sighting.quality)
            .add_columns(Sighting.image_path)
            .outerjoin(Camera, Camera.id == Sighting.camera_id)
            .where(Sighting.visitor_id.in_(ids), Sighting.captured_at >= since)
            .where(Sighting.captured_at < span.day_end)
        ).all()
        sightings: dict[uuid.UUID, list[Any]] = {}
        for row in rows:
            sightings.setdefault(row[0], []).append(row[1:])
        return cls(span, visitors, _visits_in_window(conn, ids, span), sightings)

    def summary(self, visitor_id: uuid.UUID, window_days: int, tz: tzinfo) -> VisitorSummary:
        v, (n, past) = self.visitors[visitor_id], self.visits.get(visitor_id, (0, 0))
        rows = self.sightings.get(visitor_id, [])
        today = [r for r in rows if r[0] >= self.span.day_start]
        arrival = min((r[0] for r in today), default=None)
        # The day's best crop: highest quality, the latest of equals (the same on every backend).
        photo = max(((r[2], r[0], r[3]) for r in today if r[3]), default=None)
        return VisitorSummary(
            visitor_id=visitor_id,
            name=v.name,
            reference_photo=v.best_image_path,
            today_photo=photo[2] if photo else None,
            visits_in_window=n,
            past_visits=past,
            frequency=frequency_text(n, window_days),
            arrival=arrival.astimezone(tz) if arrival else None,
            cameras=sorted({r[1] for r in rows if r[1] is not None}),  # code-point order everywhere
            first_seen_at=v.first_seen_at,
            last_seen_at=v.last_seen_at,
            visit_count=v.visit_count,
        )


def _visits_in_window(
    conn: Connection, ids: list[uuid.UUID], span: _Span
) -> dict[uuid.UUID, tuple[int, int]]:
    """(visits in the window, of which before the day) per visitor."""
    earlier = func.sum(case((Visit.started_at < span.day_start, 1), else_=0)).cast(Integer)
    rows = conn.execute(
        select(Visit.visitor_id, func.count(), earlier)
        .where(
            Visit.visitor_id.in_(ids), Visit.started_at >= span.window_start, Visit.started_at < span.day_end
        )
        .group_by(Visit.visitor_id)
    ).all()
    return {r[0]: (r[1], r[2]) for r in rows}


@dataclass(frozen=True)
class SightingRow:
    sighting_id: uuid.UUID
    captured_at: datetime
    camera: str | None
    track_id: int
    quality: float
    similarity: float | None
    image_path: str | None
    model: str

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["sighting_id"] = str(self.sighting_id)
        data["captured_at"] = self.captured_at.isoformat()
        return data


def visitor_sightings(
    conn: Connection, visitor_id: uuid.UUID, limit: int = 1000, offset: int = 0
) -> list[SightingRow]:
    """A visitor's sighting timeline, newest first."""
    rows = conn.execute(
        select(Sighting.id, Sighting.captured_at, Camera.name, Sighting.track_id, Sighting.quality)
        .add_columns(Sighting.similarity, Sighting.image_path, Sighting.model)
        .outerjoin(Camera, Camera.id == Sighting.camera_id)
        .where(Sighting.visitor_id == visitor_id)
        .order_by(Sighting.captured_at.desc(), Sighting.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return [SightingRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]) for r in rows]


@dataclass(frozen=True)
class VisitorRecord:
    visitor_id: uuid.UUID
    name: str | None
    label: str | None
    reference_photo: str | None
    first_seen_at: datetime
    last_seen_at: datetime
    visit_count: int
    sighting_count: int
    cameras: list[str]


def visitor_record(conn: Connection, visitor_id: uuid.UUID) -> VisitorRecord | None:
    """One visitor with their sighting count and every camera that saw them (None: unknown id)."""
    row = conn.execute(
        select(Visitor.id, Visitor.name, Visitor.label, Visitor.best_image_path, Visitor.first_seen_at)
        .add_columns(Visitor.last_seen_at, Visitor.visit_count)
        .where(Visitor.id == visitor_id)
    ).first()
    if row is None:
        return None
    count = conn.execute(select(func.count()).where(Sighting.visitor_id == visitor_id)).scalar_one()
    cameras = conn.execute(
        select(Camera.name)
        .join(Sighting, Sighting.camera_id == Camera.id)
        .where(Sighting.visitor_id == visitor_id)
        .distinct()
        .order_by(Camera.name)
    ).scalars()
    return VisitorRecord(row[0], row[1], row[2], row[3], row[4], row[5], row[6], count, list(cameras))
