"""Motion energy: the mean absolute grey-level change between two samples, in a region (the
person) and over the whole frame, on a small grey copy of the frame (160 px wide: ~0.2 ms, and
sensor noise averages out)."""

from __future__ import annotations

import cv2
import numpy as np

from vigil.types import Image

__all__ = ["MotionMeter"]

MOTION_WIDTH = 160


class MotionMeter:
    """Keeps the previous sample's small grey frame; `update` measures against it."""

    def __init__(self, width: int = MOTION_WIDTH) -> None:
        self._width = width
        self._previous: np.ndarray | None = None

    def update(
        self, image_bgr: Image, region: tuple[float, float, float, float] | None
    ) -> tuple[float, float]:
        """(region motion, scene motion) in 0..1 since the previous call; 0 on the first call
        (or after a frame size change). `region` is (x0, y0, x1, y1) as fractions of the frame."""
        height, width = image_bgr.shape[:2]
        small_h = max(1, round(height * self._width / width))
        grey = cv2.cvtColor(
            cv2.resize(image_bgr, (self._width, small_h), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY
        )
        previous, self._previous = self._previous, grey
        if previous is None or previous.shape != grey.shape:
            return 0.0, 0.0
        diff = cv2.absdiff(grey, previous)
        scene = float(diff.mean()) / 255.0
        if region is None:
            return 0.0, scene
        x0, y0 = int(region[0] * self._width), int(region[1] * small_h)
        x1, y1 = (
            max(x0 + 1, int(np.ceil(region[2] * self._width))),
            max(y0 + 1, int(np.ceil(region[3] * small_h))),
        )
        return float(diff[y0:y1, x0:x1].mean()) / 255.0, scene
