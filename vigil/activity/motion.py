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
    """Keeps the previous sample's small grey frame; `measure` compares a new frame with it, then
    `region` and `scene` read the change (0 on the first frame or after a frame size change)."""

    def __init__(self, width: int = MOTION_WIDTH) -> None:
        self._width = width
        self._previous: np.ndarray | None = None
        self._diff: np.ndarray | None = None

    def measure(self, image_bgr: Image) -> None:
        height, width = image_bgr.shape[:2]
        small_h = max(1, round(height * self._width / width))
        grey = cv2.cvtColor(
            cv2.resize(image_bgr, (self._width, small_h), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY
        )
        previous, self._previous = self._previous, grey
        same = previous is not None and previous.shape == grey.shape
        self._diff = cv2.absdiff(grey, previous) if previous is not None and same else None

    @property
    def measured(self) -> bool:
        """Whether the last frame had a previous one to compare with."""
        return self._diff is not None

    def reset(self) -> None:
        self._previous = self._diff = None

    def scene(self) -> float:
        return 0.0 if self._diff is None else float(self._diff.mean()) / 255.0

    def region(self, region: tuple[float, float, float, float] | None) -> float:
        """The change in `region`, (x0, y0, x1, y1) as fractions of the frame; 0 without one."""
        if self._diff is None or region is None:
            return 0.0
        small_h, small_w = self._diff.shape
        x0, y0 = int(region[0] * small_w), int(region[1] * small_h)
        x1 = max(x0 + 1, int(np.ceil(region[2] * small_w)))
        y1 = max(y0 + 1, int(np.ceil(region[3] * small_h)))
        return float(self._diff[y0:y1, x0:x1].mean()) / 255.0

    def update(
        self, image_bgr: Image, region: tuple[float, float, float, float] | None
    ) -> tuple[float, float]:
        """`measure`, then (region motion, scene motion) in 0..1."""
        self.measure(image_bgr)
        return self.region(region), self.scene()
