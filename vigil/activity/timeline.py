"""Window decisions -> activity segments: no flicker, a minimum duration, asleep only when it lasts.

Three steps, in order:
1. `asleep` must hold for `asleep_min_s`: a shorter run of asleep decisions (a long blink, a
   glance down) takes each window's second choice.
2. A confidence-weighted majority over 3 neighbouring decisions removes one-window flicker.
3. Runs shorter than `min_segment_s` merge into the neighbour whose activity scored higher over
   the run (the first and last run too, into their only neighbour).
Each decision stands for its window's centre; segment edges fall halfway between centres, the
first starts at 0 and the last ends at the media's end."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby

from vigil.activity.labels import Activity
from vigil.activity.rules import Decision

__all__ = ["Segment", "segments_of"]


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    activity: Activity
    confidence: float  # mean share of the activity over the segment's decisions
    decisions: tuple[Decision, ...]

    @property
    def duration(self) -> float:
        return self.end - self.start


def segments_of(
    decisions: Sequence[Decision], duration: float, min_segment_s: float, asleep_min_s: float
) -> list[Segment]:
    if not decisions:
        return []
    hop = _hop(decisions)
    labels = _hold_asleep(decisions, asleep_min_s, hop)
    labels = _majority(decisions, labels)
    runs = _runs(labels)
    runs = _merge_short(decisions, runs, min_segment_s / hop)
    return _to_segments(decisions, runs, duration)


def _hop(decisions: Sequence[Decision]) -> float:
    if len(decisions) < 2:
        return max(decisions[0].end - decisions[0].start, 1e-6)
    return max(decisions[1].start - decisions[0].start, 1e-6)


def _runs(labels: Sequence[Activity]) -> list[tuple[Activity, int, int]]:
    """(activity, first index, end index exclusive) of each run of equal labels."""
    runs, index = [], 0
    for activity, group in groupby(labels):
        size = len(list(group))
        runs.append((activity, index, index + size))
        index += size
    return runs


def _hold_asleep(decisions: Sequence[Decision], asleep_min_s: float, hop: float) -> list[Activity]:
    labels = [d.activity for d in decisions]
    needed = asleep_min_s / hop
    for activity, first, end in _runs(labels):
        if activity == Activity.ASLEEP and end - first < needed:
            for i in range(first, end):
                labels[i] = decisions[i].runner_up(Activity.ASLEEP)
    return labels


def _majority(decisions: Sequence[Decision], labels: list[Activity]) -> list[Activity]:
    smoothed = list(labels)
    for i in range(1, len(labels) - 1):
        votes: dict[Activity, float] = {}
        for j in (i - 1, i, i + 1):
            votes[labels[j]] = votes.get(labels[j], 0.0) + decisions[j].scores[labels[j]]
        smoothed[i] = max(votes, key=lambda a: votes[a])
    return smoothed


def _merge_short(
    decisions: Sequence[Decision], runs: list[tuple[Activity, int, int]], min_windows: float
) -> list[tuple[Activity, int, int]]:
    while len(runs) > 1:
        short = [k for k, (_, first, end) in enumerate(runs) if end - first < min_windows]
        if not short:
            break
        k = min(short, key=lambda k: runs[k][2] - runs[k][1])  # the shortest run goes first
        _, first, end = runs[k]
        neighbours = [n for n in (k - 1, k + 1) if 0 <= n < len(runs)]
        best = max(neighbours, key=lambda n: sum(decisions[i].scores[runs[n][0]] for i in range(first, end)))
        activity = runs[best][0]
        runs[k] = (activity, first, end)
        runs = _runs([a for a, f, e in runs for _ in range(f, e)])
    return runs


def _to_segments(
    decisions: Sequence[Decision], runs: list[tuple[Activity, int, int]], duration: float
) -> list[Segment]:
    centres = [(d.start + d.end) / 2 for d in decisions]
    segments = []
    for activity, first, end in runs:
        start = 0.0 if first == 0 else (centres[first - 1] + centres[first]) / 2
        stop = duration if end == len(decisions) else (centres[end - 1] + centres[end]) / 2
        own = tuple(decisions[first:end])
        confidence = sum(d.scores[activity] for d in own) / len(own)
        segments.append(Segment(round(start, 3), round(stop, 3), activity, round(confidence, 4), own))
    return segments
