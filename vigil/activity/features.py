"""Window features: the cues of a few seconds summarised into one fixed vector.

Both classifiers read these: the rules by name (`WindowFeatures.eyes_closed_frac`), the trained
model the rules' scores and a few of them (model.py). A cue that was not observed in the window
(no face, no audio track) is a fraction of 0 and its `*_seen` fraction says so, so a vector
never holds NaN."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, dataclass, fields

import numpy as np

from vigil.activity.cues import AudioSample, PersonCues, VisualSample

__all__ = ["FEATURE_NAMES", "WindowFeatures", "window_features", "windows"]

EYES_CLOSED = 0.5  # eyeBlink blendshape above this: the eye is closed
HEAD_DOWN_DEG = 15.0  # head pitch above this: looking down (a book, a plate, a phone)
VOICE = 0.5  # Silero probability above this: someone speaks
# Eyes and mouth are read from faces at least this tall: on smaller ones the landmark model's
# eyelids and jaw are guesses (a juggler's 40 px face read "eyes closed" on every sample).
MIN_FACE_PX = 48.0
FOOD = frozenset(
    {"cup", "bowl", "fork", "knife", "spoon", "wine glass", "bottle", "sandwich", "pizza", "donut", "cake"}
)

_EVENTS = ("speech", "conversation", "telephone", "chewing", "cutlery", "snoring", "music", "tv")


@dataclass(frozen=True)
class WindowFeatures:
    """Cues of [start, end) seconds. Fractions are of the window's visual samples unless named
    otherwise; means of face cues are over the samples with a face."""

    start: float
    end: float
    # presence and body
    present: float
    people: float  # mean persons per sample
    pose_seen: float
    lying: float
    motion: float  # mean person-box motion (0 when nobody)
    motion_peak: float
    scene_motion: float
    limb_motion: float  # mean over the samples where it was measured
    limb_seen: float
    # hands
    hand_at_ear: float
    hand_at_mouth: float
    hands_in_front: float
    hands_seen: float  # mean hands per sample
    # face
    face_seen: float
    eyes_closed: float  # mean eyeBlink over face samples
    eyes_closed_frac: float  # share of face samples with the eyes closed
    head_down: float  # share of face samples looking down
    pitch: float  # mean head pitch, degrees
    jaw_open: float
    jaw_motion: float  # std of jawOpen: a mouth that moves (talking, chewing)
    # objects near the person
    phone: float
    book: float
    food: float
    table: float
    bed: float
    laptop: float
    # audio (fractions of audio windows overlapping the window)
    audio_seen: float
    voice: float
    voice_frac: float
    loudness_db: float
    speech: float
    conversation: float
    telephone: float
    chewing: float
    cutlery: float
    snoring: float
    music: float
    tv: float

    def vector(self) -> list[float]:
        """The features the trained model reads (all but start and end)."""
        return [float(v) for v in astuple(self)[2:]]


FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in fields(WindowFeatures))[2:]


def windows(duration: float, window_s: float, hop_s: float) -> list[tuple[float, float]]:
    """[start, end) windows every hop_s covering [0, duration); the last is cut at the end. A
    clip shorter than a window gets one window over all of it."""
    if duration <= 0:
        return []
    starts = np.arange(0.0, max(duration - window_s, 0.0) + 1e-9, hop_s)
    spans = [(float(s), float(min(s + window_s, duration))) for s in starts]
    if spans[-1][1] < duration - 1e-6:  # the tail that the hop did not reach
        spans.append((max(duration - window_s, 0.0), duration))
    return spans


def window_features(
    start: float, end: float, visual: Sequence[VisualSample], audio: Sequence[AudioSample]
) -> WindowFeatures:
    shown = [s for s in visual if start <= s.t < end]
    heard = [a for a in audio if a.t < end and a.t + a.duration > start]
    persons = [s.person for s in shown if s.person is not None]
    faces = [
        p
        for p in persons
        if p.face_visible and p.eyes_closed is not None and (p.face_px is None or p.face_px >= MIN_FACE_PX)
    ]
    return WindowFeatures(
        start=start,
        end=end,
        **_body(shown, persons),
        **_face(faces, len(shown)),
        **_objects(persons, len(shown)),
        **_audio(heard),
    )


def _frac(count: int, total: int) -> float:
    return count / total if total else 0.0


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if values else 0.0


def _body(shown: Sequence[VisualSample], persons: Sequence[PersonCues]) -> dict[str, float]:
    n = len(shown)
    motions = [p.motion for p in persons]
    limbs = [p.limb_motion for p in persons if p.limb_motion is not None]
    return {
        "present": _frac(len(persons), n),
        "people": _mean([s.people for s in shown]),
        "pose_seen": _frac(sum(p.pose_visible for p in persons), n),
        "lying": _mean([p.lying for p in persons]),
        "motion": _mean(motions),
        "motion_peak": max(motions, default=0.0),
        "scene_motion": _mean([s.scene_motion for s in shown]),
        "limb_motion": _mean(limbs),
        "limb_seen": _frac(len(limbs), n),
        "hand_at_ear": _frac(sum(p.hand_at_ear for p in persons), n),
        "hand_at_mouth": _frac(sum(p.hand_at_mouth for p in persons), n),
        "hands_in_front": _frac(sum(p.hands_in_front for p in persons), n),
        "hands_seen": _mean([p.hands_visible for p in persons]),
    }


def _face(faces: Sequence[PersonCues], n: int) -> dict[str, float]:
    eyes = [p.eyes_closed or 0.0 for p in faces]
    pitch = [p.head_pitch for p in faces if p.head_pitch is not None]
    jaw = [p.jaw_open for p in faces if p.jaw_open is not None]
    return {
        "face_seen": _frac(len(faces), n),
        "eyes_closed": _mean(eyes),
        "eyes_closed_frac": _frac(sum(e > EYES_CLOSED for e in eyes), len(eyes)),
        "head_down": _frac(sum(p > HEAD_DOWN_DEG for p in pitch), len(pitch)),
        "pitch": _mean(pitch),
        "jaw_open": _mean(jaw),
        "jaw_motion": float(np.std(jaw)) if len(jaw) > 1 else 0.0,
    }


def _objects(persons: Sequence[PersonCues], n: int) -> dict[str, float]:
    def share(*names: str) -> float:
        return _frac(sum(bool(p.objects.intersection(names)) for p in persons), n)

    return {
        "phone": share("cell phone"),
        "book": share("book"),
        "food": share(*FOOD),
        "table": share("dining table"),
        "bed": share("bed", "couch"),
        "laptop": share("laptop", "tv"),
    }


def _audio(heard: Sequence[AudioSample]) -> dict[str, float]:
    voices = [a.voice for a in heard]
    return {
        "audio_seen": 1.0 if heard else 0.0,
        "voice": _mean(voices),
        "voice_frac": _frac(sum(v > VOICE for v in voices), len(voices)),
        "loudness_db": _mean([a.loudness_db for a in heard]) if heard else -100.0,
        **{name: _mean([getattr(a.events, name) for a in heard]) for name in _EVENTS},
    }
