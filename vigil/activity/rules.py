"""The default classifier: readable rules over window features.

Each activity has one rule, a score in [0, 1] built from named cues with soft thresholds
(`_ramp`: 0 below `lo`, 1 above `hi`), so a decision can be explained by the cues that fired.
The scores are normalised into a distribution; the confidence is the winner's share. The rules
were written from what each activity looks and sounds like, not fitted to the shared clips
(docs/activity.md says how they were checked)."""

from __future__ import annotations

from dataclasses import dataclass

from vigil.activity.features import WindowFeatures
from vigil.activity.labels import Activity

__all__ = ["Decision", "RuleThresholds", "classify_window"]


@dataclass(frozen=True)
class RuleThresholds:
    still: float = 0.012  # person-box motion below this: still (breathing, small head moves)
    moving: float = 0.04  # above this: the body moves (gestures, eating)
    busy: float = 0.09  # above this: physically active (exercise, housework)
    inactive_floor: float = 0.25  # a present person who does nothing else is inactive


@dataclass(frozen=True)
class Decision:
    """One window's decision: the winner, its confidence and every activity's share."""

    start: float
    end: float
    activity: Activity
    confidence: float
    scores: dict[Activity, float]

    def runner_up(self, excluded: Activity) -> Activity:
        others = {a: s for a, s in self.scores.items() if a != excluded}
        return max(others, key=lambda a: others[a])


def _ramp(value: float, lo: float, hi: float) -> float:
    return min(1.0, max(0.0, (value - lo) / (hi - lo)))


def rule_scores(f: WindowFeatures, t: RuleThresholds | None = None) -> dict[Activity, float]:
    t = t or RuleThresholds()
    still = 1.0 - _ramp(f.motion, t.still, t.moving)
    quiet = 1.0 - f.voice_frac
    talking = max(
        f.voice_frac * _ramp(f.speech + f.conversation, 0.1, 0.4),
        f.voice_frac * f.face_seen * _ramp(f.jaw_motion, 0.02, 0.08),
    )
    eyes_shut = f.face_seen * _ramp(f.eyes_closed_frac, 0.5, 0.9)
    lying_still = _ramp(f.lying, 0.5, 0.8) * still
    phone_held = max(f.hand_at_ear, f.phone * max(f.hands_in_front, f.hand_at_ear))
    food_near = max(f.food, f.table * 0.5)
    eating_acts = max(
        f.hand_at_mouth, f.chewing, f.cutlery, f.face_seen * _ramp(f.jaw_motion, 0.02, 0.08) * quiet
    )
    held_page = max(f.book, f.hands_in_front * f.head_down)
    scores = {
        Activity.ABSENT: 1.0 - f.present,
        Activity.ASLEEP: f.present * max(eyes_shut * still, lying_still) * quiet * (1.0 - f.hands_in_front),
        Activity.ON_PHONE: f.present * phone_held * max(talking, f.telephone),
        Activity.CONVERSATION: f.present * talking * (1.0 - phone_held) * (1.0 - food_near),
        Activity.EATING: f.present * food_near * max(eating_acts, 0.3),
        Activity.READING: f.present * held_page * quiet * (1.0 - _ramp(f.motion, t.moving, t.busy)),
        Activity.BUSY: f.present * _ramp(max(f.motion, f.scene_motion * 0.5), t.moving, t.busy),
        Activity.INACTIVE: f.present * t.inactive_floor * still * quiet,
    }
    return scores


def classify_window(f: WindowFeatures, t: RuleThresholds | None = None) -> Decision:
    scores = rule_scores(f, t)
    total = sum(scores.values())
    if total <= 0:  # present but nothing fired and not still: a moving person doing nothing known
        scores[Activity.INACTIVE] = 1.0
        total = 1.0
    shares = {a: s / total for a, s in scores.items()}
    winner = max(shares, key=lambda a: shares[a])
    return Decision(f.start, f.end, winner, round(shares[winner], 4), shares)
