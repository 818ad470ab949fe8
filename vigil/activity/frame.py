"""Single-frame analysis (the seed's "analyse this image"): one picture, or the frame of a file at
a chosen time, classified by the same rules as a window holding that one sample.

What one frame cannot show is left out: motion (no previous frame), sound, and how long a state
lasts, so `asleep` is said on closed eyes alone and the confidence is lower than over time.

The vision models are loaded once per process and kept (loading them costs more than analysing a
picture): the pose model in IMAGE mode, since two pictures do not follow each other, and the
extractor reset before each picture so nothing of the previous one (motion, kept objects, a reused
body) carries over. The models are not thread-safe, so pictures are analysed one at a time."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from vigil.activity.cues import VisualSample
from vigil.activity.features import window_features
from vigil.activity.labels import Activity
from vigil.activity.result import CueSummary, cue_summary
from vigil.activity.rules import classify_window
from vigil.types import Image

if TYPE_CHECKING:
    from vigil.activity.vision import VisionModelFiles, VisualCueExtractor

__all__ = ["FrameAnalysis", "analyse_image", "model_loads"]


class FrameAnalysis(BaseModel):
    model_config = ConfigDict(extra="forbid")

    activity: Activity
    confidence: float = Field(ge=0, le=1)
    scores: dict[Activity, float] = Field(description="every activity's share")
    people: int
    cues: CueSummary


class _LoadedModels:
    """One extractor for independent pictures, kept for the files it was loaded from: another
    set of model files (another models dir) replaces it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # held while the extractor is built, replaced or used
        self._files: VisionModelFiles | None = None
        self._extractor: VisualCueExtractor | None = None
        self.loads = 0  # how many times the models were loaded (tests, diagnostics)

    def sample(self, image: Image, model_dirs: list[Path]) -> VisualSample:
        from vigil.activity.vision import VisionModelFiles, VisionRates  # heavy imports only when used

        with self.lock:
            files = VisionModelFiles.find(model_dirs, VisionRates())  # ModelError when one is missing
            extractor = self._extractor_for(files, model_dirs)
            extractor.reset()
            return extractor.sample(image, 0.0)

    def _extractor_for(self, files: VisionModelFiles, model_dirs: list[Path]) -> VisualCueExtractor:
        from vigil.activity.vision import VisualCueExtractor

        if self._extractor is None or files != self._files:
            if self._extractor is not None:
                self._extractor.close()
                self._extractor = None
            self._extractor = VisualCueExtractor(model_dirs, independent_frames=True)
            self._files = files
            self.loads += 1
        return self._extractor


_MODELS = _LoadedModels()


def model_loads() -> int:
    """How many times this process loaded the single-frame vision models."""
    return _MODELS.loads


def analyse_image(image: Image, model_dirs: list[Path]) -> FrameAnalysis:
    """Raises ModelError when a vision model file is missing."""
    sample = _MODELS.sample(image, model_dirs)
    features = window_features(0.0, 1.0, [sample], [])
    decision = classify_window(features)
    return FrameAnalysis(
        activity=decision.activity,
        confidence=decision.confidence,
        scores={a: round(s, 4) for a, s in decision.scores.items()},
        people=sample.people,
        cues=cue_summary([features]),
    )
