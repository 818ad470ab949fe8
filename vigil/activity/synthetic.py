"""Synthetic cue sequences of each activity, drawn from what the activity looks and sounds like.

Two uses: tests of the rules and the timeline (including `on_phone`, which no shared clip shows),
and prior examples for the trained model, so a class with few labelled clips (or whose only clip
is held out in leave-one-clip-out) still has examples. The prototypes state the same knowledge
as the rules, as distributions instead of thresholds; docs/activity.md reports the model with
and without them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vigil.activity.cues import AudioSample, PersonCues, SoundEvents, VisualSample
from vigil.activity.labels import Activity

__all__ = ["PROTOTYPES", "Prototype", "synthetic_cues"]


@dataclass(frozen=True)
class Prototype:
    """Probabilities of boolean cues and (mean, sd) of continuous ones while doing the activity."""

    present: float = 1.0
    motion: tuple[float, float] = (0.008, 0.004)
    limbs: tuple[float, float] = (0.03, 0.02)  # body widths per second
    lying: tuple[float, float] = (0.05, 0.05)
    eyes_closed: tuple[float, float] = (0.15, 0.1)
    pitch: tuple[float, float] = (0.0, 8.0)
    jaw: tuple[float, float] = (0.05, 0.02)
    hand_at_ear: float = 0.02
    hand_at_mouth: float = 0.03
    hands_in_front: float = 0.1
    objects: tuple[tuple[str, float], ...] = ()
    voice: float = 0.05  # probability that an audio window holds voice
    speech: float = 0.05
    events: tuple[tuple[str, float], ...] = ()


PROTOTYPES: dict[Activity, Prototype] = {
    Activity.ASLEEP: Prototype(
        motion=(0.004, 0.002), limbs=(0.02, 0.01), eyes_closed=(0.85, 0.08), pitch=(10.0, 10.0), voice=0.02
    ),
    Activity.EATING: Prototype(
        motion=(0.03, 0.015),
        limbs=(0.15, 0.08),
        pitch=(15.0, 10.0),
        jaw=(0.15, 0.1),
        hand_at_mouth=0.35,
        hands_in_front=0.4,
        objects=(("dining table", 0.6), ("fork", 0.4), ("bowl", 0.3), ("cup", 0.3)),
        voice=0.15,
        speech=0.15,
        events=(("cutlery", 0.2), ("chewing", 0.15)),
    ),
    Activity.READING: Prototype(
        motion=(0.01, 0.006),
        limbs=(0.06, 0.04),
        pitch=(22.0, 8.0),
        hands_in_front=0.7,
        objects=(("book", 0.6),),
        voice=0.05,
    ),
    Activity.ON_PHONE: Prototype(
        motion=(0.015, 0.008),
        limbs=(0.08, 0.05),
        jaw=(0.15, 0.12),
        hand_at_ear=0.8,
        objects=(("cell phone", 0.4),),
        voice=0.7,
        speech=0.7,
        events=(("telephone", 0.1),),
    ),
    Activity.CONVERSATION: Prototype(
        motion=(0.025, 0.012), limbs=(0.12, 0.06), jaw=(0.2, 0.15), hands_in_front=0.2, voice=0.8, speech=0.8
    ),
    Activity.BUSY: Prototype(
        motion=(0.14, 0.06), limbs=(1.0, 0.5), lying=(0.2, 0.2), pitch=(5.0, 20.0), hands_in_front=0.3
    ),
    Activity.INACTIVE: Prototype(motion=(0.007, 0.004), eyes_closed=(0.12, 0.08)),
    Activity.ABSENT: Prototype(present=0.0, voice=0.02),
}


def synthetic_cues(
    activity: Activity, seconds: float, interval_s: float, rng: np.random.Generator, start: float = 0.0
) -> tuple[list[VisualSample], list[AudioSample]]:
    """`seconds` of cues of `activity`, visual samples every `interval_s` and 1 s audio windows."""
    proto = PROTOTYPES[activity]
    visual = [_visual(proto, float(t), rng) for t in np.arange(start, start + seconds - 1e-9, interval_s)]
    audio = [_audio(proto, float(t), rng) for t in np.arange(start, start + seconds - 1e-9, 1.0)]
    return visual, audio


def _draw(pair: tuple[float, float], rng: np.random.Generator, lo: float = 0.0, hi: float = 1.0) -> float:
    return float(np.clip(rng.normal(*pair), lo, hi))


def _visual(proto: Prototype, t: float, rng: np.random.Generator) -> VisualSample:
    if rng.random() >= proto.present:
        return VisualSample(t=t, people=0, person=None, scene_motion=_draw((0.003, 0.002), rng))
    motion = _draw(proto.motion, rng)
    person = PersonCues(
        box=(0.3, 0.1, 0.7, 0.95),
        pose_visible=True,
        lying=_draw(proto.lying, rng),
        hand_at_ear=bool(rng.random() < proto.hand_at_ear),
        hand_at_mouth=bool(rng.random() < proto.hand_at_mouth),
        hands_in_front=bool(rng.random() < proto.hands_in_front),
        hands_visible=int(rng.integers(0, 3)),
        face_visible=True,
        eyes_closed=_draw(proto.eyes_closed, rng),
        head_pitch=_draw(proto.pitch, rng, -60.0, 60.0),
        jaw_open=_draw(proto.jaw, rng),
        motion=motion,
        objects=frozenset(name for name, p in proto.objects if rng.random() < p),
        limb_motion=_draw(proto.limbs, rng, 0.0, 10.0),
        face_px=120.0,
    )
    return VisualSample(t=t, people=1, person=person, scene_motion=motion * 0.5)


def _audio(proto: Prototype, t: float, rng: np.random.Generator) -> AudioSample:
    voiced = rng.random() < proto.voice
    speech = rng.random() < proto.speech
    events = {name: float(rng.random() < p) * _draw((0.6, 0.2), rng) for name, p in proto.events}
    return AudioSample(
        t=t,
        duration=1.0,
        voice=_draw((0.85, 0.1), rng) if voiced else _draw((0.05, 0.05), rng),
        loudness_db=_draw((-30.0 if voiced else -55.0, 5.0), rng, -100.0, 0.0),
        events=SoundEvents(speech=_draw((0.7, 0.15), rng) if speech else _draw((0.05, 0.05), rng), **events),
    )
