"""Per-camera polygon masks: dead zones where faces are never searched (seed 001 §5.3)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from vigil.types import Detections

Polygons = Sequence[Sequence[tuple[float, float]]]


def polygon_mask(polygons: Polygons, height: int, width: int, scale: float = 1.0) -> np.ndarray:
    """uint8 mask, 255 inside any polygon; `scale` maps frame pixels to mask pixels."""
    mask = np.zeros((height, width), np.uint8)
    for poly in polygons:
        points = np.round(np.asarray(poly, np.float32) * scale).astype(np.int32)
        cv2.fillPoly(mask, [points], 255)
    return mask


class DeadZones:
    """Drops faces whose box centre lies in a dead zone. Filtering after detection costs
    nothing; blanking the zones before detection would copy every frame for the same result."""

    def __init__(self, polygons: Polygons) -> None:
        self.polygons = [list(p) for p in polygons]
        self._mask: np.ndarray | None = None

    def __bool__(self) -> bool:
        return bool(self.polygons)

    def filter(self, found: Detections, height: int, width: int) -> Detections:
        if not self.polygons or len(found) == 0:
            return found
        if self._mask is None or self._mask.shape != (height, width):
            self._mask = polygon_mask(self.polygons, height, width)
        cx = ((found.xyxy[:, 0] + found.xyxy[:, 2]) / 2).astype(int).clip(0, width - 1)
        cy = ((found.xyxy[:, 1] + found.xyxy[:, 3]) / 2).astype(int).clip(0, height - 1)
        return found[self._mask[cy, cx] == 0]
