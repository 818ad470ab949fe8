"""The JSON of a file analysis (`vigil activity analyse --json`, the API job's result)."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from vigil.activity.features import WindowFeatures
from vigil.activity.labels import Activity
from vigil.activity.timeline import Segment

__all__ = ["ActivityAnalysis", "CueSummary", "SegmentOut", "cue_summary", "distribution", "dominant"]

_SHOWN = 0.2  # an object or sound is listed when it was there in this share of the segment


class CueSummary(BaseModel):
    """What the segment's cues were, on average: why it got its activity."""

    model_config = ConfigDict(extra="forbid")

    present: float
    motion: float
    eyes_closed: float
    head_down: float
    hand_at_ear: float
    hand_at_mouth: float
    hands_in_front: float
    voice: float
    objects: list[str] = Field(description="objects near the person in at least 20% of the segment")
    sounds: list[str] = Field(description="sound events scoring at least 0.2 on average")


class SegmentOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: float = Field(description="seconds from the start of the media")
    end: float
    activity: Activity
    confidence: float = Field(ge=0, le=1)
    cues: CueSummary


class ActivityAnalysis(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: str
    duration_s: float
    classifier: str
    sample_interval_s: float
    window_s: float
    hop_s: float
    has_audio: bool
    samples: int = Field(description="video frames analysed")
    dominant: Activity = Field(description="the activity that lasted longest")
    distribution: dict[Activity, float] = Field(description="share of the media's duration per activity")
    segments: list[SegmentOut]
    seconds: float = Field(description="wall time of the analysis")


def _mean(features: Sequence[WindowFeatures], name: str) -> float:
    return round(sum(getattr(f, name) for f in features) / len(features), 3) if features else 0.0


def cue_summary(features: Sequence[WindowFeatures]) -> CueSummary:
    objects = ("phone", "book", "food", "table", "bed", "laptop")
    sounds = ("speech", "conversation", "telephone", "chewing", "cutlery", "snoring", "music", "tv")
    return CueSummary(
        present=_mean(features, "present"),
        motion=_mean(features, "motion"),
        eyes_closed=_mean(features, "eyes_closed_frac"),
        head_down=_mean(features, "head_down"),
        hand_at_ear=_mean(features, "hand_at_ear"),
        hand_at_mouth=_mean(features, "hand_at_mouth"),
        hands_in_front=_mean(features, "hands_in_front"),
        voice=_mean(features, "voice_frac"),
        objects=[name for name in objects if _mean(features, name) >= _SHOWN],
        sounds=[name for name in sounds if _mean(features, name) >= _SHOWN],
    )


def segment_out(segment: Segment, features: Sequence[WindowFeatures]) -> SegmentOut:
    inside = [f for f in features if segment.start <= (f.start + f.end) / 2 < segment.end] or list(features)
    return SegmentOut(
        start=segment.start,
        end=segment.end,
        activity=segment.activity,
        confidence=segment.confidence,
        cues=cue_summary(inside),
    )


def distribution(segments: Sequence[Segment], duration: float) -> dict[Activity, float]:
    shares: dict[Activity, float] = {}
    for segment in segments:
        shares[segment.activity] = shares.get(segment.activity, 0.0) + segment.duration
    return (
        {a: round(s / duration, 4) for a, s in sorted(shares.items(), key=lambda kv: -kv[1])}
        if duration
        else {}
    )


def dominant(segments: Sequence[Segment]) -> Activity:
    totals: dict[Activity, float] = {}
    for segment in segments:
        totals[segment.activity] = totals.get(segment.activity, 0.0) + segment.duration
    return max(totals, key=lambda a: totals[a]) if totals else Activity.ABSENT
