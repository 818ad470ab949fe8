"""Typed values of the activity history: stored segments, their filters and the statistics."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from vigil.activity.labels import Activity
from vigil.activity.result import CueSummary

Source = Literal["live", "file"]


@dataclass(frozen=True)
class NewSegment:
    camera: str
    activity: Activity
    started_at: datetime
    ended_at: datetime
    confidence: float
    cues: CueSummary
    source: Source = "live"
    visitor_id: uuid.UUID | None = None


@dataclass(frozen=True)
class StoredSegment(NewSegment):
    id: int = 0
    open: bool = False

    @property
    def duration_s(self) -> float:
        return (self.ended_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class Span:
    """What the statistics need of a stored segment: no cue summary, so reading a few months of
    segments is not spent decoding their JSON."""

    id: int
    camera: str
    activity: Activity
    started_at: datetime
    ended_at: datetime


@dataclass(frozen=True)
class SegmentFilter:
    camera: str | None = None
    start: datetime | None = None  # segments ending after it
    end: datetime | None = None  # segments starting before it
    activity: Activity | None = None
    visitor_id: uuid.UUID | None = None
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True)
class SegmentPage:
    total: int  # matching segments, all pages
    segments: list[StoredSegment]


@dataclass(frozen=True)
class PeriodTotals:
    """Seconds per activity in one day, or one ISO week (`period` = its Monday)."""

    period: date
    label: str  # 2026-12-05, or 2026-W49
    seconds: dict[Activity, float]

    @property
    def total_s(self) -> float:
        return sum(self.seconds.values())


@dataclass(frozen=True)
class Transition:
    source: Activity
    target: Activity
    count: int


@dataclass(frozen=True)
class Trend:
    """One activity's time this ISO week (so far) against the whole previous week."""

    activity: Activity
    this_week_s: float
    last_week_s: float

    @property
    def change_s(self) -> float:
        return self.this_week_s - self.last_week_s


@dataclass(frozen=True)
class Statistics:
    start: datetime
    end: datetime
    timezone: str
    days: list[PeriodTotals]
    weeks: list[PeriodTotals]
    transitions: list[Transition]
    totals: dict[Activity, float] = field(default_factory=dict)
