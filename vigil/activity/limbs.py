"""Limb motion: how fast the arms, legs and head move relative to the torso, in shoulder widths
per second.

Grey-level motion in the person's box also moves with a hand-held camera, a cut or the light;
limbs measured against the body's own centre and scale do not, so this is the cue that tells a
person exercising or working with their hands from a shaky shot of someone sitting still."""

from __future__ import annotations

from typing import Final

import numpy as np

from vigil.activity.pose import HIPS, SHOULDERS, Body

__all__ = ["LimbTracker", "body_scale"]

# Nose, elbows, wrists, knees, ankles (MediaPipe pose indices).
JOINTS: Final = (0, 13, 14, 15, 16, 25, 26, 27, 28)
MAX_GAP_S: Final = 2.0  # samples further apart than this are not compared


def body_scale(body: Body) -> float | None:
    """About a shoulder width in pixels, robust to a side view: the shoulders' distance shrinks
    to nothing in profile, so the torso's length and the head's size stand in when larger."""
    candidates = [body.shoulder_width() or 0.0]
    if body.seen(*SHOULDERS, *HIPS):
        torso = body.points[list(SHOULDERS)].mean(axis=0) - body.points[list(HIPS)].mean(axis=0)
        candidates.append(0.7 * float(np.linalg.norm(torso)))
    candidates.append(2.2 * (body.head_size() or 0.0))
    scale = max(candidates)
    return scale if scale >= 4.0 else None  # a few pixels: the scale would be noise


def _relative(body: Body) -> tuple[np.ndarray, np.ndarray] | None:
    """Joint positions relative to the shoulders' middle, in body scales, and which are seen."""
    scale = body_scale(body)
    if scale is None or not body.seen(*SHOULDERS):
        return None
    centre = body.points[list(SHOULDERS)].mean(axis=0)
    joints = list(JOINTS)
    return (body.points[joints] - centre) / scale, body.visibility[joints] > 0.5


class LimbTracker:
    """Fed the main body of each sample in time order; `update` gives the limb motion since the
    previous sample (None when either sample has no usable body)."""

    def __init__(self) -> None:
        self._previous: tuple[float, np.ndarray, np.ndarray] | None = None

    def update(self, body: Body | None, t: float) -> float | None:
        current = _relative(body) if body is not None else None
        previous, self._previous = self._previous, None if current is None else (t, *current)
        if current is None or previous is None:
            return None
        dt = t - previous[0]
        if not 0.0 < dt <= MAX_GAP_S:
            return None
        both = current[1] & previous[2]
        if not both.any():
            return None
        moved = np.linalg.norm(current[0][both] - previous[1][both], axis=1)
        return float(moved.mean() / dt)
