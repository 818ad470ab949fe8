"""The face-detector interface.

Landmark convention (when a detector has landmarks): index 0 = right eye (image left),
1 = left eye, 2 = nose tip; 5-point detectors add 3 = right mouth corner, 4 = left mouth
corner; BlazeFace adds 3 = mouth centre instead (4 points)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar, Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from vigil.types import Detections, Image


class DetectorConfigBase(BaseModel):
    """Settings every detector shares. Each detector module subclasses it with a `type` literal
    and its own keys; the registry (`vigil.detect.registry`) is derived from the subclasses."""

    model_config = ConfigDict(extra="forbid")

    type: str
    score_threshold: float = Field(0.6, ge=0.0, le=1.0, description="Minimum detector confidence")
    max_width: int = Field(
        640, ge=64, le=7680, description="Frames wider than this are downscaled before detection"
    )
    max_faces: int = Field(50, ge=1, le=1000, description="Keep at most this many faces per frame")

    # Traits batch tracking needs from each engine (class constants, not settings):
    # detector box -> FaceMesh region: (scale of the box side, downward shift in box sides), the
    # median over the shared clips of the region MediaPipe converges to relative to this box.
    box_to_roi: ClassVar[tuple[float, float]] = (1.33, 0.05)
    # which of the seed's jawOpen multipliers applies (STEP5_MEDIAPIPE/OPENCV_JAWOPEN_SCALE)
    jaw_open_family: ClassVar[Literal["mediapipe", "opencv"]] = "opencv"
    # landmarks located per face: FaceMesh on a region, or dlib's 68 points
    batch_landmarks: ClassVar[Literal["facemesh", "dlib68"]] = "facemesh"

    def create(self, models_dirs: list[Path]) -> FaceDetector:
        """The detector these settings describe (model files looked up in `models_dirs`)."""
        raise NotImplementedError(f"{type(self).__name__} must implement create()")


class FaceDetector(ABC):
    """Template: downscale to `max_width`, detect, map back, threshold, keep top `max_faces`."""

    name: str
    landmark_count: int | None = None

    def __init__(self, config: DetectorConfigBase) -> None:
        self.config = config

    def detect(self, image: Image) -> Detections:
        height, width = image.shape[:2]
        image, scale = downscale(image, self.config.max_width)
        found = self._detect(image)
        if scale != 1.0:
            found = found.scaled(scale)
        found = found[found.score >= self.config.score_threshold]
        if len(found) > self.config.max_faces:
            found = found[np.argsort(-found.score)[: self.config.max_faces]]
        return _clip(found, width, height)

    @abstractmethod
    def _detect(self, image: Image) -> Detections:
        """Faces in `image` coordinates, any order."""


def _clip(found: Detections, width: int, height: int) -> Detections:
    """Boxes clipped to the frame; boxes left empty by clipping are dropped."""
    found.xyxy[:, [0, 2]] = found.xyxy[:, [0, 2]].clip(0, width)
    found.xyxy[:, [1, 3]] = found.xyxy[:, [1, 3]].clip(0, height)
    keep = (found.xyxy[:, 2] - found.xyxy[:, 0] >= 2) & (found.xyxy[:, 3] - found.xyxy[:, 1] >= 2)
    return found if keep.all() else found[keep]


def downscale(image: Image, max_width: int) -> tuple[Image, float]:
    """`image` at most `max_width` wide, and the factor that maps its pixels back to the original."""
    height, width = image.shape[:2]
    if width <= max_width:
        return image, 1.0
    scale = width / max_width
    size = (max_width, max(1, round(height / scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale
