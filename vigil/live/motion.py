"""Motion gate: skip face detection on frames where nothing moves.

Compares each analysed frame with the previous one on a small blurred grey copy (160 px
wide by default: ~0.1 ms). Masked areas (dead zones, clocks, screens) are ignored. A
detection is still forced every `force_every_s` seconds so tracks refresh and end."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vigil.config import MotionConfig
from vigil.live.dead_zones import Polygons, polygon_mask
from vigil.types import Image


@dataclass(frozen=True)
class MotionResult:
    moving_fraction: float
    run_detection: bool
    forced: bool


class MotionGate:
    """Not thread-safe: owned by one camera's analysis thread."""

    def __init__(self, config: MotionConfig, ignore: Polygons = ()) -> None:
        self.config = config
        self._ignore = [list(p) for p in ignore]
        self._previous: np.ndarray | None = None
        self._keep: np.ndarray | None = None  # 1 where motion counts
        self._last_detection_pts: float | None = None

    def check(self, image: Image, pts: float) -> MotionResult:
        grey = self._small_grey(image)
        fraction = self._moving_fraction(grey)
        self._previous = grey
        if not self.config.enabled:
            return self._detect(pts, fraction, forced=False)
        if fraction > self.config.area_threshold:
            return self._detect(pts, fraction, forced=False)
        last = self._last_detection_pts
        overdue = (
            last is None
            or pts < last
            or (self.config.force_every_s > 0 and pts - last >= self.config.force_every_s)
        )
        if overdue:
            return self._detect(pts, fraction, forced=True)
        return MotionResult(fraction, run_detection=False, forced=False)

    def _detect(self, pts: float, fraction: float, forced: bool) -> MotionResult:
        self._last_detection_pts = pts
        return MotionResult(fraction, run_detection=True, forced=forced)

    def _small_grey(self, image: Image) -> np.ndarray:
        height, width = image.shape[:2]
        scale = self.config.width / width
        size = (self.config.width, max(1, round(height * scale)))
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
        if self._ignore and (self._keep is None or self._keep.shape != grey.shape):
            self._keep = (polygon_mask(self._ignore, grey.shape[0], grey.shape[1], scale) == 0).astype(
                np.uint8
            )
        return cv2.GaussianBlur(grey, (5, 5), 0)

    def _moving_fraction(self, grey: np.ndarray) -> float:
        if self._previous is None or self._previous.shape != grey.shape:
            return 1.0  # first frame (or new resolution): everything is new
        diff = cv2.absdiff(grey, self._previous)
        moving = (diff > self.config.pixel_threshold).astype(np.uint8)
        if self._keep is not None:
            moving &= self._keep
            return float(moving.sum()) / max(int(self._keep.sum()), 1)
        return float(moving.mean())
