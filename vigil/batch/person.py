"""Person detectors, the fallback of the object fallback (objects.py) when no COCO model is installed.

The seed used MediaPipe Tasks' EfficientDet, whose weights do not ship in a package. Both
detectors here do (they find persons only):
- `mediapipe_pose` (default): MediaPipe Pose (full model, in the mediapipe==0.10.14 wheel), one
  person per frame, finds upper bodies and people seen from behind; ~100 ms per call here.
- `hog`: OpenCV's HOG people detector (weights built into OpenCV), several people, but only
  upright full bodies taller than ~128 px at 640 px width; ~200 ms per call here.
Both are slow, so the frame loop calls them only on detection frames and holds the boxes between.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import cv2
import numpy as np

from vigil.detect.base import downscale
from vigil.mediapipe_lazy import import_mediapipe
from vigil.native_logs import started_quietly
from vigil.types import FloatArray, Image

PERSON_WIDTH = 640  # frames are downscaled to this width before person detection


class PersonDetector(Protocol):
    closed: bool

    def detect(self, image_bgr: Image) -> tuple[FloatArray, FloatArray, list[str]]:
        """(boxes xyxy (N, 4) in `image_bgr` pixels, confidences (N,) in [0, 1], N labels)."""
        ...

    def close(self) -> None: ...


class HogPersonDetector:
    def __init__(self, min_score: float) -> None:
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(np.asarray(cv2.HOGDescriptor.getDefaultPeopleDetector(), np.float32))
        self._min_score = min_score
        self.closed = False

    def detect(self, image_bgr: Image) -> tuple[FloatArray, FloatArray, list[str]]:
        small, scale = downscale(image_bgr, PERSON_WIDTH)
        rects, weights = self._hog.detectMultiScale(small, winStride=(8, 8), padding=(8, 8), scale=1.05)
        if len(rects) == 0:
            return np.empty((0, 4), np.float32), np.empty(0, np.float32), []
        boxes = np.asarray(rects, np.float32)
        xyxy = np.column_stack([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]]) * scale
        # SVM margins are unbounded; a logistic maps margin 0 -> 0.5 (as for dlib's HOG faces).
        scores = 1.0 / (1.0 + np.exp(-2.0 * np.asarray(weights, np.float32).reshape(-1)))
        keep = scores >= self._min_score
        return xyxy[keep], scores[keep], ["person"] * int(keep.sum())

    def close(self) -> None:
        self.closed = True


class PosePersonDetector:
    """Box = visible pose landmarks (visibility >= 0.5), grown 10%; confidence = their mean visibility."""

    def __init__(self, min_score: float) -> None:
        import_mediapipe()  # slow import, only when used
        from mediapipe.python.solutions import pose

        # model_complexity=1: the only pose landmark model the 0.10.14 wheel ships.
        self._pose: Any = started_quietly(
            lambda: pose.Pose(static_image_mode=True, model_complexity=1, min_detection_confidence=0.5)
        )
        self._min_score = min_score
        self.closed = False

    def detect(self, image_bgr: Image) -> tuple[FloatArray, FloatArray, list[str]]:
        small, scale = downscale(image_bgr, PERSON_WIDTH)
        height, width = small.shape[:2]
        result = self._pose.process(cv2.cvtColor(small, cv2.COLOR_BGR2RGB))
        if result.pose_landmarks is None:
            return np.empty((0, 4), np.float32), np.empty(0, np.float32), []
        points = np.array([[p.x, p.y, p.visibility] for p in result.pose_landmarks.landmark], np.float32)
        visible = points[points[:, 2] >= 0.5]
        score = float(visible[:, 2].mean()) if len(visible) >= 3 else 0.0
        if score < self._min_score or math.isnan(score):
            return np.empty((0, 4), np.float32), np.empty(0, np.float32), []
        lo = visible[:, :2].min(axis=0) * (width, height)
        hi = visible[:, :2].max(axis=0) * (width, height)
        margin = (hi - lo) * 0.1
        box = np.concatenate([np.maximum(lo - margin, 0), np.minimum(hi + margin, (width, height))])
        return (box * scale).reshape(1, 4).astype(np.float32), np.array([score], np.float32), ["person"]

    def close(self) -> None:
        if not self.closed:
            self._pose.close()
            self.closed = True


def create_person_detector(name: str, min_score: float) -> PersonDetector:
    if name == "hog":
        return HogPersonDetector(min_score)
    if name == "mediapipe_pose":
        return PosePersonDetector(min_score)
    raise ValueError(f"unknown person detector {name!r}")
