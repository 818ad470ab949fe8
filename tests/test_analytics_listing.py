"""The recurrence listings (`visitor_summaries`) against a brute-force Python computation over a small
random store, on both backends: every filter, sort, page and count strategy gives exactly the
visitors, order, totals and details that the definitions give.

The store is written row by row (not through `observe`) so it holds the awkward cases on purpose:
visits across midnight, sightings exactly on the day's bounds, equal arrival times, sightings
without a camera, visitors seen only after the day, one first seen by two cameras at once."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo

import numpy as np
import pytest
from sqlalchemy import Connection, insert

from vigil.store import analytics
from vigil.store.analytics import SortKey, day_bounds, frequency_text, visitor_summaries
from vigil.store.database import Database, connect
from vigil.store.schema import Camera, Sighting, Visit, Visitor

TZ: tzinfo = timezone(timedelta(hours=5, minutes=30))  # a half-hour offset: days are not UTC days
DAY = date(2026, 11, 20)
GAP = timedelta(minutes=30)  # sightings closer than this are one visit


@dataclass
class Row:
    """One visitor as the brute force sees it."""

    id: uuid.UUID
    name: str | None
    photo: str | None
    visit_count: int
    sightings: list[tuple[datetime, str | None, float, str | None]] = field(default_factory=list)
    visits: list[tuple[datetime, datetime]] = field(default_factory=list)  # (start, end)

    @property
    def first_seen(self) -> datetime:
        return min(s[0] for s in self.sightings)

    @property
    def last_seen(self) -> datetime:
        return max(s[0] for s in self.sightings)


def random_people(rng: np.random.Generator, n: int) -> list[Row]:
    day_start, _ = day_bounds(DAY, TZ)
    people = []
    for i in range(n):
        row = Row(uuid.uuid4(), f"p{i}" if i % 3 else None, f"visitors/{i}.webp" if i % 4 else None, 0)
        for offset in rng.choice(np.arange(-9, 3), size=int(rng.integers(1, 6)), replace=False):
            start = day_start + timedelta(days=int(offset), minutes=int(rng.integers(0, 24 * 4)) * 15)
            if rng.random() < 0.1:  # exactly on a day's bound, or just before midnight (crosses it)
                start = (
                    day_start + timedelta(days=int(offset)) - (GAP / 3 if rng.random() < 0.5 else timedelta())
                )
            for k in range(int(rng.integers(1, 4))):
                at = start + k * GAP / 3
                camera = None if rng.random() < 0.1 else f"cam-{'AbCd'[int(rng.integers(4))]}"
                image = None if rng.random() < 0.15 else f"{at:%Y%m%d%H%M%S}-{i}-{k}.webp"
                row.sightings.append((at, camera, float(rng.integers(1, 5)) / 4, image))
        if i == 0:  # first seen on the day by two cameras at the same instant
            twice = day_start + timedelta(hours=1)
            row.sightings += [(twice, "cam-A", 0.5, None), (twice, "cam-b", 0.5, None)]
        row.visits = visit_spans(sorted(s[0] for s in row.sightings))
        row.visit_count = len(row.visits)
        people.append(row)
    return people


def visit_spans(times: list[datetime]) -> list[tuple[datetime, datetime]]:
    spans = [(times[0], times[0])]
    for current in times[1:]:
        start, end = spans[-1]
        spans[-1:] = [(start, current)] if current - end <= GAP else [(start, end), (current, current)]
    return spans


def write(conn: Connection, people: list[Row]) -> None:
    names = sorted({s[1] for p in people for s in p.sightings if s[1]})
    cameras = {
        n: conn.execute(insert(Camera).values(name=n).returning(Camera.id)).scalar_one() for n in names
    }
    vector = np.zeros(4, np.float32)
    for p in people:
        conn.execute(
            insert(Visitor).values(
                id=p.id, name=p.name, best_image_path=p.photo, visit_count=p.visit_count,
                first_seen_at=p.first_seen, last_seen_at=p.last_seen,
            )
        )  # fmt: skip
        for start, end in p.visits:
            conn.execute(insert(Visit).values(visitor_id=p.id, started_at=start, ended_at=end, sightings=1))
        for k, (at, camera, quality, image) in enumerate(p.sightings):
            conn.execute(
                insert(Sighting).values(
                    visitor_id=p.id, camera_id=cameras.get(camera or ""), track_id=k, captured_at=at,
                    model="m", dim=4, embedding=vector, quality=quality, image_path=image,
                )
            )  # fmt: skip


@dataclass(frozen=True)
class Expected:
    visitor_id: uuid.UUID
    visits_in_window: int
    past_visits: int
    arrival: datetime | None
    today_photo: str | None
    cameras: list[str]


def brute_force(
    people: list[Row], window_days: int, min_visits: int, loyal: bool, sort: SortKey
) -> list[tuple[Row, Expected]]:
    """The definitions, written out: every matching visitor in listing order, with its details."""
    day_start, day_end = day_bounds(DAY, TZ)
    window_start = day_start - timedelta(days=window_days - 1)
    out = []
    for p in people:
        n = sum(window_start <= start < day_end for start, _ in p.visits)
        past = sum(window_start <= start < day_start for start, _ in p.visits)
        today = [s for s in p.sightings if day_start <= s[0] < day_end]
        if loyal:
            keep = bool(today) and (past >= min_visits if min_visits >= 1 else n >= 1)
        else:
            keep = n >= max(1, min_visits)
        if not keep:
            continue
        photos = [s for s in today if s[3]]
        best = max(photos, key=lambda s: (s[2], s[0]))[3] if photos else None
        since = day_start if loyal else window_start
        cameras = sorted({s[1] for s in p.sightings if s[1] and since <= s[0] < day_end})
        arrival = min(s[0] for s in today) if today else None
        out.append((p, Expected(p.id, n, past, arrival, best, cameras)))
    far = datetime.max.replace(tzinfo=UTC)
    keys = {
        "arrival": lambda e: (e[1].arrival is None, e[1].arrival or far, e[0].id),
        "visits": lambda e: (-e[1].visits_in_window, e[0].id),
        "last_seen": lambda e: (-e[0].last_seen.timestamp(), e[0].id),
    }
    return sorted(out, key=keys[sort])


@pytest.fixture(scope="module")
def people() -> list[Row]:
    return random_people(np.random.default_rng(3), 70)


@pytest.fixture
def filled(db_url: str, people: list[Row]) -> Iterator[Database]:
    db = connect(db_url)
    with db.writer.begin() as conn:
        write(conn, people)
    yield db
    db.dispose()


CASES = list(itertools.product([True, False], ["arrival", "visits", "last_seen"], [0, 1, 2, 3], [1, 3, 7]))


@pytest.mark.parametrize("walk_max", [analytics.WALK_MAX, 0], ids=["walk", "sort"])
def test_listings_match_the_brute_force(
    filled: Database, people: list[Row], walk_max: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`walk_max` 0: loyal visitors by arrival are ranked by one sort instead of an index walk."""
    monkeypatch.setattr(analytics, "WALK_MAX", walk_max)
    checked = 0
    with filled.reader.connect() as conn:
        for loyal, sort, min_visits, window_days in CASES:
            expected = brute_force(people, window_days, min_visits, loyal, sort)  # type: ignore[arg-type]
            for limit, offset in ((50, 0), (4, 0), (4, 5), (3, len(expected) - 1), (5, 500)):
                page = visitor_summaries(
                    conn, DAY, TZ, window_days=window_days, min_visits=min_visits, loyal=loyal,
                    sort=sort, limit=limit, offset=max(0, offset),  # type: ignore[arg-type]
                )  # fmt: skip
                want = expected[max(0, offset) : max(0, offset) + limit]
                label = f"loyal={loyal} sort={sort} min={min_visits} window={window_days} {limit}@{offset}"
                assert page.total == len(expected), label
                assert [s.visitor_id for s in page.items] == [e.visitor_id for _, e in want], label
                for item, (row, e) in zip(page.items, want, strict=True):
                    assert (item.visits_in_window, item.past_visits) == (e.visits_in_window, e.past_visits)
                    assert item.arrival == (e.arrival.astimezone(TZ) if e.arrival else None), label
                    assert (item.today_photo, item.cameras) == (e.today_photo, e.cameras), label
                    assert item.frequency == frequency_text(e.visits_in_window, window_days)
                    assert (item.name, item.reference_photo, item.visit_count) == (
                        row.name,
                        row.photo,
                        row.visit_count,
                    )
                    assert (item.first_seen_at, item.last_seen_at) == (row.first_seen, row.last_seen)
                checked += len(page.items)
    assert checked > 1000  # the random store exercises every case with visitors in it


def test_both_window_count_strategies_agree(filled: Database, people: list[Row]) -> None:
    """The window's total is counted per visitor or by grouping the window's visits, whichever
    reads less; both must give the brute-force count."""
    with filled.reader.connect() as conn:
        for min_visits, window_days in itertools.product([0, 1, 2, 3], [1, 3, 7]):
            day_start, day_end = day_bounds(DAY, TZ)
            span = analytics._Span(day_start - timedelta(days=window_days - 1), day_start, day_end)
            want = len(brute_force(people, window_days, min_visits, False, "visits"))
            by_visitor = analytics._window_total(conn, span, min_visits, per_visitor=True)
            grouped = analytics._window_total(conn, span, min_visits, per_visitor=False)
            assert by_visitor == grouped == want, (min_visits, window_days)
