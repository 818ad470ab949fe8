"""Live decisions -> the current activity, without looking ahead.

Files are smoothed with the whole timeline in hand (timeline.py); a live camera cannot wait for
the future. Here a new activity replaces the current one once it has won every decision for
`min_segment_s` (`asleep`: `asleep_min_s`), so one odd window never flips the state, and the
state's start is put back to when the new activity began winning. Each change closes the previous
segment."""

from __future__ import annotations

from dataclasses import dataclass, field

from vigil.activity.labels import Activity
from vigil.activity.rules import Decision
from vigil.activity.settings import ActivitySettings

__all__ = ["OnlineSegment", "OnlineTimeline"]


@dataclass
class OnlineSegment:
    activity: Activity
    start: float  # seconds, the caller's clock
    end: float
    confidences: list[float] = field(default_factory=list)

    @property
    def confidence(self) -> float:
        return round(float(sum(self.confidences)) / len(self.confidences), 4) if self.confidences else 0.0


class OnlineTimeline:
    def __init__(self, options: ActivitySettings) -> None:
        self.options = options
        self.current: OnlineSegment | None = None
        self._challenger: OnlineSegment | None = None  # the activity winning since, not yet held long enough

    def push(self, decision: Decision, t: float) -> OnlineSegment | None:
        """Adds the decision made at `t` (its window's end); returns the segment it closed, if any."""
        if self.current is None:
            self.current = OnlineSegment(decision.activity, max(0.0, t - self.options.window_s), t)
        if decision.activity == self.current.activity:
            self._challenger = None
            self.current.end = t
            self.current.confidences.append(decision.confidence)
            return None
        if self._challenger is None or self._challenger.activity != decision.activity:
            self._challenger = OnlineSegment(decision.activity, t - self.options.hop_s, t)
        self._challenger.end = t
        self._challenger.confidences.append(decision.confidence)
        self.current.end = t
        if self._challenger.end - self._challenger.start < self._needed(decision.activity):
            return None
        closed = self.current
        closed.end = self._challenger.start
        self.current, self._challenger = self._challenger, None
        return closed

    def _needed(self, activity: Activity) -> float:
        base = self.options.min_segment_s
        return max(base, self.options.asleep_min_s) if activity == Activity.ASLEEP else base
