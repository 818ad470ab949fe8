"""dlib's HOG + linear SVM frontal face detector."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from vigil.detect.base import DetectorConfigBase, FaceDetector
from vigil.types import Detections, Image


class DlibHogConfig(DetectorConfigBase):
    type: Literal["dlib_hog"] = "dlib_hog"
    score_threshold: float = Field(0.0, ge=0.0, le=1.0, description="Minimum mapped HOG score")
    upsample: int = Field(0, ge=0, le=3, description="Times to upsample (finds smaller faces)")

    batch_landmarks = "dlib68"

    def create(self, models_dirs: list[Path]) -> FaceDetector:
        return DlibHogDetector(self)


class DlibHogDetector(FaceDetector):
    name = "dlib_hog"

    def __init__(self, config: DlibHogConfig) -> None:
        super().__init__(config)
        self._upsample = config.upsample
        import dlib  # here, not at module top: the detector registry imports every module

        self._hog = dlib.get_frontal_face_detector()

    def _detect(self, image: Image) -> Detections:
        rgb = np.ascontiguousarray(image[:, :, ::-1])
        rects, margins, _ = self._hog.run(rgb, self._upsample, 0.0)
        if not rects:
            return Detections.empty()
        xyxy = np.array([[r.left(), r.top(), r.right(), r.bottom()] for r in rects], np.float32)
        # The SVM margin is unbounded; a logistic maps it to (0,1), margin 0 -> 0.5.
        scores = 1.0 / (1.0 + np.exp(-2.0 * np.asarray(margins, np.float32)))
        return Detections(xyxy, scores)
