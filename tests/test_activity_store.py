"""The activity history in the store (issue 18 item 4), on SQLite and PostgreSQL: segments added
and kept live (one row per camera and segment start, a restart neither duplicating nor
bridging the gap), listed with filters, and statistics checked against sums made by hand: a
segment across midnight and one across a week's end are split, transitions skip gaps, trends
compare this ISO week with the last."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest

from vigil.activity.history import NewSegment, SegmentFilter, Transition, Trend
from vigil.activity.labels import Activity as A
from vigil.activity.repository import ActivityRepository
from vigil.activity.result import CueSummary
from vigil.store.database import Database

CUES = CueSummary(present=1.0, motion=0.1, eyes_closed=0.0, head_down=0.6, hand_at_ear=0.0,
                  hand_at_mouth=0.0, hands_in_front=0.7, voice=0.0, objects=["book"], sounds=[])  # fmt: skip


def at(day: int, hour: int, minute: int = 0, month: int = 12) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def seg(camera: str, activity: A, start: datetime, end: datetime, confidence: float = 0.8) -> NewSegment:
    return NewSegment(camera, activity, start, end, confidence, CUES, source="file")


# 2026-11-30 is a Monday (ISO week 49); 2026-12-07 starts week 50.
HISTORY = [
    seg("door", A.READING, at(30, 23, month=11), at(1, 1)),  # across midnight: 3600 s + 3600 s
    seg("door", A.EATING, at(1, 1), at(1, 1, 30)),  # 1800 s, right after: reading -> eating
    seg("door", A.READING, at(1, 1, 31), at(1, 2)),  # 1740 s, 60 s later: eating -> reading
    seg("door", A.ASLEEP, at(1, 10), at(1, 11)),  # 3600 s, 8 h later: no transition
    seg("door", A.BUSY, at(6, 23, 30), at(7, 0, 30)),  # Sunday night to Monday: 1800 s per week
    seg("kitchen", A.EATING, at(1, 12), at(1, 12, 10)),  # 600 s
]


@pytest.fixture
def history(db: Database) -> ActivityRepository:
    repo = ActivityRepository(db)
    assert repo.add(HISTORY) == len(HISTORY)
    return repo


def test_time_per_activity_per_day_and_iso_week(history: ActivityRepository) -> None:
    stats = history.statistics(at(30, 0, month=11), at(8, 0))
    assert [d.label for d in stats.days] == ["2026-11-30"] + [f"2026-12-0{n}" for n in range(1, 8)]
    assert stats.days[2].seconds == {} and stats.days[2].total_s == 0.0  # empty days are listed too
    days = {d.label: d.seconds for d in stats.days if d.seconds}
    assert days == {
        "2026-11-30": {A.READING: 3600.0},
        "2026-12-01": {A.ASLEEP: 3600.0, A.EATING: 1800.0 + 600.0, A.READING: 3600.0 + 1740.0},
        "2026-12-06": {A.BUSY: 1800.0},
        "2026-12-07": {A.BUSY: 1800.0},
    }
    weeks = {w.label: w.seconds for w in stats.weeks}
    assert weeks == {
        "2026-W49": {A.ASLEEP: 3600.0, A.EATING: 2400.0, A.READING: 8940.0, A.BUSY: 1800.0},
        "2026-W50": {A.BUSY: 1800.0},
    }
    assert [w.period for w in stats.weeks] == [date(2026, 11, 30), date(2026, 12, 7)]  # Mondays
    assert stats.totals[A.READING] == 8940.0 and stats.totals[A.BUSY] == 3600.0
    # One camera only
    kitchen = history.statistics(at(30, 0, month=11), at(8, 0), camera="kitchen")
    assert [(d.label, d.seconds) for d in kitchen.days if d.seconds] == [("2026-12-01", {A.EATING: 600.0})]


def test_statistics_clip_to_the_range_and_follow_the_time_zone(history: ActivityRepository) -> None:
    clipped = history.statistics(at(1, 0, 30), at(1, 1, 15), camera="door")
    assert [d.seconds for d in clipped.days] == [{A.READING: 1800.0, A.EATING: 900.0}]
    # Paris is UTC+1 in December: the reading from 23:00 UTC starts at midnight there, all on Dec 1.
    paris = history.statistics(at(30, 0, month=11), at(2, 0), camera="door", tz="Europe/Paris")
    assert [d.label for d in paris.days] == ["2026-11-30", "2026-12-01", "2026-12-02"]
    assert [(d.label, d.seconds.get(A.READING)) for d in paris.days if d.seconds] == [("2026-12-01", 8940.0)]
    assert paris.days[1].seconds == {A.ASLEEP: 3600.0, A.EATING: 1800.0, A.READING: 7200.0 + 1740.0}


def test_transitions_count_changes_between_close_segments(history: ActivityRepository) -> None:
    stats = history.statistics(at(1, 0, month=11), at(31, 0))
    assert stats.transitions == [Transition(A.EATING, A.READING, 1), Transition(A.READING, A.EATING, 1)]


def test_trends_compare_this_iso_week_with_the_last(history: ActivityRepository) -> None:
    trends = history.trends(now=at(8, 12))  # a Tuesday of week 50
    assert trends == [
        Trend(A.ASLEEP, 0.0, 3600.0),
        Trend(A.EATING, 0.0, 2400.0),
        Trend(A.READING, 0.0, 8940.0),
        Trend(A.BUSY, 1800.0, 1800.0),
    ]
    assert trends[2].change_s == -8940.0


def test_listing_filters_and_pages_newest_first(history: ActivityRepository) -> None:
    page = history.segments(SegmentFilter(camera="door", limit=2))
    assert page.total == 5
    assert [(s.activity, s.started_at) for s in page.segments] == [
        (A.BUSY, at(6, 23, 30)),
        (A.ASLEEP, at(1, 10)),
    ]
    second = history.segments(SegmentFilter(camera="door", limit=2, offset=2))
    assert [s.activity for s in second.segments] == [A.READING, A.EATING]
    eating = history.segments(SegmentFilter(activity=A.EATING))
    assert eating.total == 2 and {s.camera for s in eating.segments} == {"door", "kitchen"}
    window = history.segments(SegmentFilter(start=at(1, 1, 45), end=at(1, 10, 30)))  # overlapping
    assert [s.activity for s in window.segments] == [A.ASLEEP, A.READING]
    one = window.segments[1]
    assert one.cues == CUES and one.source == "file" and one.confidence == pytest.approx(0.8)
    assert one.duration_s == 1740.0 and not one.open
    assert history.cameras() == ["door", "kitchen"]


def test_live_segments_are_keyed_by_camera_and_start(db: Database) -> None:
    """A run sends its current segment again as it grows: one row per (camera, start), its end and
    confidence the last send's; a change closes it where the next one starts; the stop closes it."""
    repo = ActivityRepository(db)
    t = at(5, 9)
    first = NewSegment("desk", A.INACTIVE, t, t + timedelta(seconds=10), 0.5, CUES)
    assert repo.record_live(first)
    assert repo.record_live(dataclasses.replace(first, ended_at=t + timedelta(seconds=20), confidence=0.7))
    # The timeline closes it where the next activity began winning, then sends the next one.
    assert repo.record_live(dataclasses.replace(first, ended_at=t + timedelta(seconds=15)))
    busy = NewSegment("desk", A.BUSY, t + timedelta(seconds=15), t + timedelta(seconds=22), 0.9, CUES)
    assert repo.record_live(busy)
    assert repo.record_live(dataclasses.replace(busy, ended_at=t + timedelta(seconds=30)), final=True)
    listed = repo.segments(SegmentFilter(camera="desk")).segments
    assert [(s.activity, s.started_at, s.duration_s, s.confidence, s.open) for s in listed] == [
        (A.BUSY, t + timedelta(seconds=15), 15.0, 0.9, False),
        (A.INACTIVE, t, 15.0, 0.5, False),
    ]


def test_a_restarted_run_neither_duplicates_nor_bridges_the_gap(db: Database) -> None:
    """A camera actor whose node died left its segment open; the restarted run (same activity, a
    new start) closes it where the lost run last saw it and opens its own. A late send of the lost
    run (a retried write, or the old incarnation still finishing) changes nothing."""
    repo = ActivityRepository(db)
    t = at(5, 9)
    lost = NewSegment("desk", A.ASLEEP, t, t + timedelta(seconds=40), 0.8, CUES)
    assert repo.record_live(lost)
    assert repo.record_live(lost)  # the same send twice: still one row
    restarted = NewSegment("desk", A.ASLEEP, t + timedelta(seconds=70), t + timedelta(seconds=80), 0.6, CUES)
    assert repo.record_live(restarted)
    assert repo.record_live(dataclasses.replace(restarted, ended_at=t + timedelta(seconds=90)))
    assert not repo.record_live(dataclasses.replace(lost, ended_at=t + timedelta(seconds=95)))
    assert not repo.record_live(dataclasses.replace(lost, ended_at=t + timedelta(seconds=95)), final=True)
    listed = repo.segments(SegmentFilter(camera="desk")).segments
    assert [(s.started_at, s.ended_at, s.open) for s in listed] == [
        (t + timedelta(seconds=70), t + timedelta(seconds=90), True),
        (t, t + timedelta(seconds=40), False),
    ]
    assert repo.statistics(t, t + timedelta(hours=1), "desk").totals == {A.ASLEEP: 60.0}
