"""Mouth opening of one face from its landmarks: the inner-lip gap over the nose-bridge-to-chin
length. A ratio of two lengths on the same face, so it does not depend on the face's size in pixels,
nor on a blendshape engine's scale or calibration; both lengths are vertical, so turning the head
(yaw) barely changes it, whereas the distance between the eyes shrinks on a profile (measured on
hamilton's audience: docs/speaking.md)."""

from __future__ import annotations

import math
from typing import Final

import numpy as np

from vigil.batch.headpose import LandmarkLayout
from vigil.types import FloatArray

# (upper inner lip, lower inner lip, nose bridge between the eyes, chin) per layout.
_POINTS: Final[dict[LandmarkLayout, tuple[int, int, int, int]]] = {
    "facemesh478": (13, 14, 168, 152),
    "dlib68": (62, 66, 27, 8),
}
_MIN_FACE_LENGTH_PX: Final = 8.0  # below this the ratio is noise


def mouth_opening(landmarks: FloatArray | None, layout: LandmarkLayout) -> float | None:
    """Inner-lip gap / nose-bridge-to-chin length (about 0.0 closed, 0.2-0.3 wide open); None
    without landmarks, for an unknown layout, or when the face is too small to measure."""
    points = _POINTS.get(layout)
    if landmarks is None or points is None or len(landmarks) <= max(points):
        return None
    upper, lower, bridge, chin = (landmarks[i, :2].astype(np.float64) for i in points)
    length = float(np.linalg.norm(bridge - chin))
    if not length >= _MIN_FACE_LENGTH_PX:
        return None
    gap = float(np.linalg.norm(upper - lower)) / length
    return gap if math.isfinite(gap) else None


def mouth_signal(
    landmarks: FloatArray | None, layout: LandmarkLayout, learned_jaw_open: float | None = None
) -> float | None:
    """What the speaking detector follows for one face: the Face Landmarker's learned jawOpen when
    the engine made one for this face, else `mouth_opening` of its landmarks. The learned score is
    steadier on small and turned faces (measured in docs/speaking.md: same thresholds, fewer false
    positives); the geometric estimate of jawOpen is not used, the opening ratio does better."""
    if learned_jaw_open is not None and math.isfinite(learned_jaw_open):
        return float(learned_jaw_open)
    return mouth_opening(landmarks, layout)
