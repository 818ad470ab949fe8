"""Single-frame analysis (the seed's "analyse this image"): one picture, or the frame of a file at
a chosen time, classified by the same rules as a window holding that one sample.

What one frame cannot show is left out: motion (no previous frame), sound, and how long a state
lasts, so `asleep` is said on closed eyes alone and the confidence is lower than over time."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from vigil.activity.features import window_features
from vigil.activity.labels import Activity
from vigil.activity.result import CueSummary, cue_summary
from vigil.activity.rules import classify_window
from vigil.types import Image

__all__ = ["FrameAnalysis", "analyse_image"]


class FrameAnalysis(BaseModel):
    model_config = ConfigDict(extra="forbid")

    activity: Activity
    confidence: float = Field(ge=0, le=1)
    scores: dict[Activity, float] = Field(description="every activity's share")
    people: int
    cues: CueSummary


def analyse_image(image: Image, model_dirs: list[Path]) -> FrameAnalysis:
    """Raises ModelError when a vision model file is missing."""
    from vigil.activity.vision import VisualCueExtractor  # heavy imports only when used

    with VisualCueExtractor(model_dirs) as extractor:
        sample = extractor.sample(image, 0.0)
    features = window_features(0.0, 1.0, [sample], [])
    decision = classify_window(features)
    return FrameAnalysis(
        activity=decision.activity,
        confidence=decision.confidence,
        scores={a: round(s, 4) for a, s in decision.scores.items()},
        people=sample.people,
        cues=cue_summary([features]),
    )
