"""MediaPipe BlazeFace (legacy solution; weights ship in the mediapipe==0.10.14 wheel)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
from pydantic import Field

from vigil.detect.base import DetectorConfigBase, FaceDetector
from vigil.mediapipe_lazy import import_mediapipe
from vigil.native_logs import started_quietly
from vigil.types import Detections, Image

# BlazeFace keypoints: 0 right eye, 1 left eye, 2 nose tip, 3 mouth centre, 4-5 ear tragions.
_KEPT_KEYPOINTS = (0, 1, 2, 3)


class BlazeFaceConfig(DetectorConfigBase):
    type: Literal["blazeface"] = "blazeface"
    score_threshold: float = Field(0.5, ge=0.0, le=1.0, description="Minimum detector confidence")
    model_selection: Literal["short", "full"] = Field(
        "full", description="short: faces within ~2 m; full: up to ~5 m"
    )

    box_to_roi = (1.57, -0.02)  # BlazeFace boxes are tighter than YuNet's
    jaw_open_family = "mediapipe"

    def create(self, models_dirs: list[Path]) -> FaceDetector:
        return BlazeFaceDetector(self)


class BlazeFaceDetector(FaceDetector):
    name = "blazeface"
    landmark_count = 4

    def __init__(self, config: BlazeFaceConfig) -> None:
        super().__init__(config)
        import_mediapipe()  # slow import, only when used
        from mediapipe.python.solutions import face_detection

        self._mp: Any = started_quietly(
            lambda: face_detection.FaceDetection(
                model_selection=1 if config.model_selection == "full" else 0,
                min_detection_confidence=min(config.score_threshold, 0.5),
            )
        )

    def _detect(self, image: Image) -> Detections:
        height, width = image.shape[:2]
        result = self._mp.process(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        if not result.detections:
            return Detections.empty(4)
        boxes, scores, points = [], [], []
        for det in result.detections:
            rel = det.location_data.relative_bounding_box
            x0, y0 = rel.xmin * width, rel.ymin * height
            boxes.append([x0, y0, x0 + rel.width * width, y0 + rel.height * height])
            scores.append(det.score[0])
            kps = det.location_data.relative_keypoints
            points.append([[kps[i].x * width, kps[i].y * height] for i in _KEPT_KEYPOINTS])
        return Detections(np.array(boxes), np.array(scores), np.array(points))

    def close(self) -> None:
        self._mp.close()
