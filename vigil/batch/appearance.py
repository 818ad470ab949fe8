"""A face's colour appearance, computed in the workers on detection frames, for re-linking.

Two hue x saturation histograms: the face (inner part of its box) and the region below it
(collar and clothes, which tell apart people whose skin tones are alike). Cheap (two small
crops), and within one shot — the only place re-linking looks — lighting is stable enough for
colour to tell people apart once position has narrowed the candidates.
"""

from __future__ import annotations

import cv2
import numpy as np

from vigil.types import FloatArray, Image

HUE_BINS, SAT_BINS = 12, 4
PART = HUE_BINS * SAT_BINS
SIZE = 2 * PART  # face histogram, then the one below the face (zeros when out of the frame)


def describe(rgb: Image, box: FloatArray) -> FloatArray:
    """The appearance of the face in `box` (xyxy, pixels of `rgb`)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    w, h = x1 - x0, y1 - y0
    face = _histogram(rgb, x0 + 0.2 * w, y0 + 0.2 * h, x1 - 0.2 * w, y1 - 0.1 * h)
    below = _histogram(rgb, x0 - 0.25 * w, y1 + 0.15 * h, x1 + 0.25 * w, y1 + 1.1 * h)
    return np.concatenate([face, below]).astype(np.float32)


def similarity(a: FloatArray, b: FloatArray) -> float:
    """Bhattacharyya coefficient (1 = same colours, 0 = disjoint), averaged over the parts both
    descriptors have; 0.5 (undecided) when they share none."""
    values = []
    for part in range(2):
        pa, pb = a[part * PART : (part + 1) * PART], b[part * PART : (part + 1) * PART]
        if pa.sum() > 0 and pb.sum() > 0:
            values.append(float(np.sqrt(pa * pb).sum()))
    return float(np.mean(values)) if values else 0.5


def _histogram(rgb: Image, x0: float, y0: float, x1: float, y1: float) -> FloatArray:
    height, width = rgb.shape[:2]
    c0, r0 = max(int(x0), 0), max(int(y0), 0)
    c1, r1 = min(round(x1), width), min(round(y1), height)
    if c1 - c0 < 2 or r1 - r0 < 2:
        return np.zeros(PART, np.float32)
    hsv = cv2.cvtColor(np.ascontiguousarray(rgb[r0:r1, c0:c1]), cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, [HUE_BINS, SAT_BINS], [0, 180, 0, 256]).ravel()
    total = float(hist.sum())
    return (hist / total).astype(np.float32) if total > 0 else np.zeros(PART, np.float32)
