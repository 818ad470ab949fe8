"""OpenCV Haar cascade (frontal faces). Slow and score-less; kept for comparison and old setups."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from pydantic import Field

from vigil.detect.base import DetectorConfigBase, FaceDetector
from vigil.errors import ModelError
from vigil.types import Detections, Image

_CASCADE = "haarcascade_frontalface_default.xml"


class HaarConfig(DetectorConfigBase):
    type: Literal["haar"] = "haar"
    score_threshold: float = Field(0.0, ge=0.0, le=1.0, description="Haar reports no score (1.0)")
    scale_factor: float = Field(1.1, gt=1.0, le=2.0, description="Image pyramid scale step")
    min_neighbors: int = Field(5, ge=0, le=50, description="Neighbour rectangles needed")
    min_size: int = Field(20, ge=8, le=1000, description="Smallest face side in pixels")

    box_to_roi = (1.50, 0.08)

    def create(self, models_dirs: list[Path]) -> FaceDetector:
        return HaarDetector(self)


class HaarDetector(FaceDetector):
    name = "haar"

    def __init__(self, config: HaarConfig) -> None:
        super().__init__(config)
        self._haar_config = config
        data_dir = getattr(getattr(cv2, "data", None), "haarcascades", None)
        if data_dir is None:
            raise ModelError("this OpenCV build ships no Haar cascades (OpenCV 5 wheels); use OpenCV 4.x")
        self._cascade = cv2.CascadeClassifier(data_dir + _CASCADE)
        if self._cascade.empty():
            raise ModelError(f"cannot load {data_dir + _CASCADE}")

    def _detect(self, image: Image) -> Detections:
        grey = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
        side = self._haar_config.min_size
        rects = self._cascade.detectMultiScale(
            grey, self._haar_config.scale_factor, self._haar_config.min_neighbors, minSize=(side, side)
        )
        if len(rects) == 0:
            return Detections.empty()
        boxes = np.asarray(rects, dtype=np.float32)
        xyxy = np.column_stack([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]])
        return Detections(xyxy, np.ones(len(boxes), np.float32))
