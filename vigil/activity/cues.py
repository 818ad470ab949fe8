"""The cues the classifier reads, as typed values (one contract between the extractors, the
window features, the rules and the trained model).

Vision cues are sampled at instants (`VisualSample`, every `activity.sample_interval_s`); audio
cues cover short windows (`AudioSample`, YAMNet's 0.975 s frames). Both carry their time in
seconds from the start of the media, so they can be joined by time."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["NEAR_OBJECTS", "AudioSample", "PersonCues", "SoundEvents", "VisualSample"]

# COCO classes that say something about an activity when they are near the person.
NEAR_OBJECTS: tuple[str, ...] = (
    "cell phone", "book", "cup", "bowl", "fork", "knife", "spoon", "dining table", "bed", "laptop",
    "remote", "tv", "couch", "wine glass", "bottle", "sandwich", "pizza", "donut", "cake",
)  # fmt: skip


@dataclass(frozen=True)
class SoundEvents:
    """YAMNet scores in [0, 1] grouped into what matters here (max over the group's classes)."""

    speech: float = 0.0
    conversation: float = 0.0
    telephone: float = 0.0  # telephone, telephone bell ringing, ringtone, dial tone
    chewing: float = 0.0
    cutlery: float = 0.0  # cutlery, dishes, pots and pans
    snoring: float = 0.0  # snoring, breathing
    music: float = 0.0
    tv: float = 0.0  # television, radio
    silence: float = 0.0


@dataclass(frozen=True)
class AudioSample:
    """One audio window of the media (or of a live microphone)."""

    t: float  # start, seconds
    duration: float  # seconds
    voice: float  # voice activity probability (Silero VAD), 0..1
    loudness_db: float  # RMS level in dBFS (digital silence: -100)
    events: SoundEvents = field(default_factory=SoundEvents)


@dataclass(frozen=True)
class PersonCues:
    """The main person of one sampled frame (the largest; `VisualSample.people` counts all)."""

    box: tuple[float, float, float, float]  # x0, y0, x1, y1, as fractions of the frame
    pose_visible: bool  # body landmarks found
    lying: float  # 0 upright .. 1 torso horizontal (shoulders-hips line); 0 without pose
    hand_at_ear: bool
    hand_at_mouth: bool
    hands_in_front: bool  # a hand in front of the chest/face (holding a book, a cup, a phone)
    hands_visible: int  # hands found near this person (0..2)
    face_visible: bool
    eyes_closed: float | None  # mean of eyeBlinkLeft/Right blendshapes, None without a face
    head_pitch: float | None  # degrees, positive = looking down, None without a face
    jaw_open: float | None  # jawOpen blendshape (mouth movement over time = talking/chewing)
    motion: float  # mean absolute grey-level change in the person's box since the last sample, 0..1
    objects: frozenset[str] = frozenset()  # NEAR_OBJECTS classes overlapping the person's surroundings
    # Arms, legs and head against the torso since the last sample, in body widths per second
    # (limbs.py): blind to a moving camera, unlike `motion`. None without a body in both samples.
    limb_motion: float | None = None
    face_px: float | None = None  # the face's height in pixels: small faces give unreliable eyes/jaw


@dataclass(frozen=True)
class VisualSample:
    """One sampled frame."""

    t: float  # seconds
    people: int  # persons found in the frame
    person: PersonCues | None  # None when nobody is there
    scene_motion: float  # mean absolute grey-level change of the whole frame since the last sample, 0..1
