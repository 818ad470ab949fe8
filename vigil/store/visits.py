"""Visits: a visitor's sightings closer than `visit_gap` belong to one visit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum


class Placement(Enum):
    EXTEND = "extend"  # inside the latest visit or within the gap after its end
    NEW = "new"  # after the latest visit's end + gap
    REBUILD = "rebuild"  # before the latest visit: recompute the visitor's visits from scratch


def place(captured_at: datetime, started: datetime, ended: datetime, gap: timedelta) -> Placement:
    if captured_at > ended + gap:
        return Placement.NEW
    if captured_at >= started:
        return Placement.EXTEND
    return Placement.REBUILD


@dataclass
class VisitSpan:
    started: datetime
    ended: datetime
    members: list[int]  # indexes into the input sequence


def group_visits(times: Sequence[datetime], gap: timedelta) -> list[VisitSpan]:
    """Split sighting times (any order) into visits: consecutive times at most `gap` apart."""
    order = sorted(range(len(times)), key=lambda i: times[i])
    spans: list[VisitSpan] = []
    for index in order:
        t = times[index]
        if spans and t - spans[-1].ended <= gap:
            spans[-1].ended = t
            spans[-1].members.append(index)
        else:
            spans.append(VisitSpan(t, t, [index]))
    return spans
