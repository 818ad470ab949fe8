"""Face quality in [0,1]: how worth embedding a face observation is.

    q = size^0.35 * sharpness^0.25 * frontality^0.25 * score^0.15   (weighted geometric mean)

- size       = clip((short_side - min_face_px) / (good_face_px - min_face_px), 0, 1)
- sharpness  = v / (v + sharpness_scale), v = variance of the Laplacian of the face
               crop resized to 64x64 grey (resizing normalises for face size)
- frontality = yaw_term * roll_term from the eyes and nose landmarks:
               yaw  = |nose_x - eyes_mid_x| / eye_distance, term = 1 - clip(yaw / 0.5)
               roll = |eye line angle|,                     term = 1 - clip(roll / 45 deg)
               0.5 when the detector gives no landmarks (unknown, neither good nor bad)
- score      = detector confidence
A geometric mean lets any one bad factor (tiny, blurred, profile) pull the whole score down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from vigil.config import QualityConfig
from vigil.types import FloatArray, Image

WEIGHTS = {"size": 0.35, "sharpness": 0.25, "frontality": 0.25, "score": 0.15}
_EPS = 1e-3


@dataclass(frozen=True)
class QualityParts:
    size: float
    sharpness: float
    frontality: float
    score: float

    @property
    def total(self) -> float:
        logs = sum(w * math.log(max(getattr(self, k), _EPS)) for k, w in WEIGHTS.items())
        return float(min(1.0, max(0.0, math.exp(logs))))


def size_term(box: FloatArray, config: QualityConfig) -> float:
    short = float(min(box[2] - box[0], box[3] - box[1]))
    span = max(config.good_face_px - config.min_face_px, 1e-6)
    return float(np.clip((short - config.min_face_px) / span, 0.0, 1.0))


def sharpness_term(image: Image, box: FloatArray, config: QualityConfig) -> float:
    x0, y0, x1, y1 = (round(v) for v in box)
    crop = image[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)]
    if crop.size == 0:
        return 0.0
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    grey = cv2.resize(grey, (64, 64), interpolation=cv2.INTER_AREA)
    variance = float(cv2.Laplacian(grey, cv2.CV_32F).var())
    return variance / (variance + config.sharpness_scale)


def frontality_term(landmarks: FloatArray | None) -> float:
    if landmarks is None or len(landmarks) < 3:
        return 0.5
    right_eye, left_eye, nose = landmarks[0], landmarks[1], landmarks[2]
    eye_vec = left_eye - right_eye
    eye_dist = float(np.hypot(*eye_vec))
    if eye_dist < 1e-3:
        return 0.0
    if eye_vec[0] <= 0:
        return 0.0  # eyes swapped or stacked: a profile, or landmarks gone wrong
    yaw = abs(float(nose[0] - (right_eye[0] + left_eye[0]) / 2)) / eye_dist
    roll = abs(math.degrees(math.atan2(float(eye_vec[1]), float(eye_vec[0]))))
    yaw_term = 1.0 - min(yaw / 0.5, 1.0)
    roll_term = 1.0 - min(roll / 45.0, 1.0)
    return float(yaw_term * roll_term)


def face_quality(
    image: Image,
    box: FloatArray,
    landmarks: FloatArray | None,
    score: float,
    config: QualityConfig,
) -> QualityParts:
    return QualityParts(
        size=size_term(box, config),
        sharpness=sharpness_term(image, box, config),
        frontality=frontality_term(landmarks),
        score=float(np.clip(score, 0.0, 1.0)),
    )
