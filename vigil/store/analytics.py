"""Recurring-visitor analytics ("clients fidèles", seed 001 §4.2), as a service the CLI and web use.

Loyal visitors on a day D: seen on D, and with at least `min_visits` visits before D within the
window (`window_days` days ending with D). Days are local calendar days in `tz`."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any, Literal

from sqlalchemy import Connection, Integer, case, func, select
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
    earlier visits in the window), one page of them, with photos, arrival and cameras."""
    day_start, day_end = day_bounds(day, tz)
    window_start = day_start - timedelta(days=window_days - 1)
    query = _ranked(day_start, day_end, window_start, min_visits, loyal)
    total = conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    arrival, visits = query.selected_columns.arrival, query.selected_columns.n
    orders: dict[str, list[Any]] = {
        "arrival": [arrival.is_(None), arrival],
        "visits": [visits.desc()],
        "last_seen": [Visitor.last_seen_at.desc()],
    }
    order = orders[sort]
    rows = conn.execute(query.order_by(*order, Visitor.id).limit(limit).offset(offset)).all()
    ids = [r.id for r in rows]
    photos = _today_photos(conn, ids, day_start, day_end)
    cameras = _cameras(conn, ids, day_start if loyal else window_start, day_end)
    items = [
        VisitorSummary(
            visitor_id=r.id,
            name=r.name,
            reference_photo=r.best_image_path,
            today_photo=photos.get(r.id),
            visits_in_window=r.n,
            past_visits=r.past,
            frequency=frequency_text(r.n, window_days),
            arrival=r.arrival.astimezone(tz) if r.arrival else None,
            cameras=cameras.get(r.id, []),
            first_seen_at=r.first_seen_at,
            last_seen_at=r.last_seen_at,
            visit_count=r.visit_count,
        )
        for r in rows
    ]
    return VisitorPage(total, items)


def _ranked(
    day_start: datetime, day_end: datetime, window_start: datetime, min_visits: int, loyal: bool
) -> Select[Any]:
    in_window = (
        select(
            Visit.visitor_id,
            func.count().label("n"),
            func.sum(case((Visit.started_at < day_start, 1), else_=0)).cast(Integer).label("past"),
        )
        .where(Visit.started_at >= window_start, Visit.started_at < day_end)
        .group_by(Visit.visitor_id)
        .subquery()
    )
    today = (
        select(Sighting.visitor_id, func.min(Sighting.captured_at).label("arrival"))
        .where(Sighting.captured_at >= day_start, Sighting.captured_at < day_end)
        .group_by(Sighting.visitor_id)
        .subquery()
    )
    columns = (Visitor.id, Visitor.name, Visitor.best_image_path, Visitor.first_seen_at, Visitor.last_seen_at)
    query = select(*columns, Visitor.visit_count, in_window.c.n, in_window.c.past, today.c.arrival).join(
        in_window, in_window.c.visitor_id == Visitor.id
    )
    if loyal:
        return query.join(today, today.c.visitor_id == Visitor.id).where(in_window.c.past >= min_visits)
    return query.outerjoin(today, today.c.visitor_id == Visitor.id).where(in_window.c.n >= min_visits)


def _today_photos(
    conn: Connection, ids: list[uuid.UUID], start: datetime, end: datetime
) -> dict[uuid.UUID, str]:
    """The best-quality crop of each visitor on the day."""
    rows = conn.execute(
        select(Sighting.visitor_id, Sighting.image_path)
        .where(Sighting.visitor_id.in_(ids), Sighting.captured_at >= start, Sighting.captured_at < end)
        .where(Sighting.image_path.is_not(None))
        .order_by(Sighting.quality)
    ).all()
    return {r[0]: r[1] for r in rows if r[1]}  # later rows (better quality) win


def _cameras(
    conn: Connection, ids: list[uuid.UUID], start: datetime, end: datetime
) -> dict[uuid.UUID, list[str]]:
    rows = conn.execute(
        select(Sighting.visitor_id, Camera.name)
        .join(Camera, Camera.id == Sighting.camera_id)
        .where(Sighting.visitor_id.in_(ids), Sighting.captured_at >= start, Sighting.captured_at < end)
        .distinct()
        .order_by(Camera.name)
    ).all()
    out: dict[uuid.UUID, list[str]] = {}
    for visitor_id, name in rows:
        out.setdefault(visitor_id, []).append(name)
    return out


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
