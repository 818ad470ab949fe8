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
    # Limbs against the torso, body widths per second (limbs.py): breathing and small head moves
    # stay under `limb_still`, gestures and eating reach `limb_moving`, exercise passes `limb_busy`.
    limb_still: float = 0.06
    limb_moving: float = 0.2
    limb_busy: float = 0.6
    # Grey-level change in the person's box, 0..1, when no body was measured.
    still: float = 0.015
    moving: float = 0.04
    busy: float = 0.12
    # jawOpen's spread over a window: a mouth that talks or chews, not one that smiles.
    jaw_still: float = 0.03
    jaw_talk: float = 0.1
    # Objects are found on some samples only (the detector misses and runs every few samples).
    object_seen: tuple[float, float] = (0.05, 0.3)
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
    seen_lo, seen_hi = t.object_seen
    body_measured = f.limb_seen >= 0.3
    # Still and active: from the limbs when a body was measured; else from the grey-level motion
    # of the person's box, discounted when the whole frame moves as much (a hand-held camera).
    if body_measured:
        still = 1.0 - _ramp(f.limb_motion, t.limb_still, t.limb_moving)
        active = _ramp(f.limb_motion, t.limb_moving, t.limb_busy)
    else:
        still = 1.0 - _ramp(f.motion, t.still, t.moving)
        camera = _ramp(f.scene_motion / max(f.motion, 1e-6), 0.5, 0.9)
        active = _ramp(f.motion, t.moving, t.busy) * (1.0 - camera)
    # Talking: the person's own mouth moves and the sound does not contradict it (clear audio
    # without voice means chewing or a smile). Music or TV mask the voice detector.
    voice_heard = f.voice_frac * _ramp(f.speech + f.conversation, 0.1, 0.4)
    audio_clear = f.audio_seen * (1.0 - _ramp(f.music + f.tv, 0.3, 0.7))
    mouth = f.face_seen * _ramp(f.jaw_motion, t.jaw_still, t.jaw_talk)
    talking = max(mouth * (1.0 - audio_clear * (1.0 - f.voice_frac)), 0.5 * voice_heard * (1.0 - f.face_seen))
    eyes_shut = f.face_seen * _ramp(f.eyes_closed_frac, 0.5, 0.9)
    lying_still = _ramp(f.lying, 0.6, 0.85) * still
    phone_held = max(f.hand_at_ear, _ramp(f.phone, seen_lo, seen_hi) * max(f.hands_in_front, f.hand_at_ear))
    food_near = max(_ramp(f.food, seen_lo, seen_hi), 0.5 * _ramp(f.table, seen_lo, seen_hi))
    eating_acts = max(f.hand_at_mouth, _ramp(f.chewing + f.cutlery, 0.1, 0.4), mouth * (1.0 - voice_heard))
    held_page = max(_ramp(f.book, seen_lo, seen_hi), f.hands_in_front * f.head_down)
    present = f.present
    return {
        Activity.ABSENT: _ramp(1.0 - present, 0.3, 0.8),
        Activity.ASLEEP: present
        * max(eyes_shut * still, lying_still)
        * (1.0 - talking)
        * (1.0 - f.hands_in_front),
        Activity.ON_PHONE: present * phone_held * max(talking, voice_heard, f.telephone),
        # A person who exercises while talking is busy: the body's activity comes first.
        Activity.CONVERSATION: present * talking * (1.0 - phone_held) * (1.0 - food_near) * (1.0 - active),
        Activity.EATING: present * food_near * max(eating_acts, 0.5),
        Activity.READING: present * held_page * (1.0 - talking) * (1.0 - active),
        Activity.BUSY: present * active,
        Activity.INACTIVE: present * t.inactive_floor * still * (1.0 - talking),
    }


def classify_window(f: WindowFeatures, t: RuleThresholds | None = None) -> Decision:
    scores = rule_scores(f, t)
    total = sum(scores.values())
    if total <= 0:  # present but nothing fired and not still: a moving person doing nothing known
        scores[Activity.INACTIVE] = 1.0
        total = 1.0
    shares = {a: s / total for a, s in scores.items()}
    winner = max(shares, key=lambda a: shares[a])
    return Decision(f.start, f.end, winner, round(shares[winner], 4), shares)
