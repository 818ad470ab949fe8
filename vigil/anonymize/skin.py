"""Skin colour of one person, learnt from their own face: a Gaussian in CrCb (the chroma of
YCrCb, nearly independent of light), turned into a 256 x 256 lookup table so classifying a
region costs one table read per pixel. Fixed HSV/YCrCb ranges (the seed's approach) fit no
skin tone well and took light clothes for skin."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vigil.types import FloatArray, Image

# The part of a detector's face box that is skin on most faces: cheeks, nose, mouth and chin
# (below the eyes and brows, inside the hairline and the background at the sides).
_SAMPLE_X = (0.25, 0.75)
_SAMPLE_Y = (0.45, 0.9)
_MIN_PIXELS = 20
_MAX_PIXELS = 3000
# Faces in shadow are dark: at 30 the face of askanything_making_cake gave no model at all.
_DARKEST = 15
_MIN_STD = 2.0  # CrCb units: a face sampled from a few flat pixels still gets a usable spread


@dataclass(frozen=True)
class SkinModel:
    """`table[cr, cb]` is 1.0 for skin chroma, else 0 (float32: calcBackProject's histogram)."""

    mean: tuple[float, float]
    table: FloatArray

    def mask(self, region: Image) -> Image:
        """Skin pixels of a BGR region (uint8, 1 for skin): the table read by calcBackProject,
        several times faster than NumPy's fancy indexing on a 720p close-up."""
        return self.mask_ycrcb(cv2.cvtColor(region, cv2.COLOR_BGR2YCrCb))

    def mask_ycrcb(self, ycrcb: Image) -> Image:
        """`mask` of a region already in YCrCb (OpenCV's)."""
        return np.asarray(cv2.calcBackProject([ycrcb], [1, 2], self.table, [0, 256, 0, 256], 1))


# Faces' skin chroma across people: the medians of 50 faces (YuNet boxes, the sample area
# below) of the shared group photos and clips (hamilton, crowd, expressions, the activity
# clips), their mean and covariance, plus a little of a face's own spread (more would take in
# grey: at +16 neutral chroma fell 2.7 sigma from the mean, +4 puts it at 3.4). Only for people
# none of whose faces has been seen (a body turned away, a yoga pose the detector misses):
# wider than any one face's model, so it also keeps beige and tan cloth.
_GENERIC_MEAN = (146.7, 121.7)
_GENERIC_COV = ((47.7 + 4.0, -60.4), (-60.4, 118.8 + 4.0))


def generic_model(max_distance: float) -> SkinModel:
    """The skin chroma of people in general (see _GENERIC_MEAN)."""
    return gaussian_model(np.array(_GENERIC_MEAN), np.array(_GENERIC_COV), max_distance)


def gaussian_model(mean: FloatArray, cov: FloatArray, max_distance: float) -> SkinModel:
    """The table of the ellipse `max_distance` (Mahalanobis) around `mean`. The distance is
    computed only in the ellipse's box, which reaches `max_distance * sqrt(cov[i, i])` from the
    mean on axis i (plus a unit of margin): the whole 256 x 256 grid, built for every face of
    every frame, was ~2.5% of a `recolor` run's CPU (py-spy); the table is the same."""
    inv = np.linalg.inv(cov)
    reach = max_distance * np.sqrt(np.diag(cov))
    low = np.clip(np.floor(mean - reach) - 1, 0, 255).astype(int)
    high = np.clip(np.ceil(mean + reach) + 2, 0, 256).astype(int)
    dcr = np.arange(low[0], high[0], dtype=np.float64)[:, None] - mean[0]
    dcb = np.arange(low[1], high[1], dtype=np.float64)[None, :] - mean[1]
    distance2 = inv[0, 0] * dcr**2 + 2 * inv[0, 1] * dcr * dcb + inv[1, 1] * dcb**2
    table = np.zeros((256, 256), np.float32)
    table[low[0] : high[0], low[1] : high[1]] = distance2 <= max_distance**2
    return SkinModel((float(mean[0]), float(mean[1])), table)


def skin_model(image: Image, box: tuple[float, float, float, float], max_distance: float) -> SkinModel | None:
    """The skin model of the face in `box` (x1, y1, x2, y2), or None when too little of it is
    in the frame or well exposed."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    height, width = image.shape[:2]
    left, right = max(0, int(x1 + w * _SAMPLE_X[0])), min(width, int(x1 + w * _SAMPLE_X[1]))
    top, bottom = max(0, int(y1 + h * _SAMPLE_Y[0])), min(height, int(y1 + h * _SAMPLE_Y[1]))
    if right - left < 2 or bottom - top < 2:
        return None
    ycrcb = cv2.cvtColor(image[top:bottom, left:right], cv2.COLOR_BGR2YCrCb).reshape(-1, 3)
    # A few thousand pixels describe the colour as well as all of a 720p close-up's 40 000.
    ycrcb = ycrcb[:: max(1, len(ycrcb) // _MAX_PIXELS)]
    exposed = ycrcb[(ycrcb[:, 0] > _DARKEST) & (ycrcb[:, 0] < 240), 1:].astype(np.float64)
    if len(exposed) < _MIN_PIXELS:
        return None
    # Robust centre first: nostrils, lips and stray hair would pull a plain mean and widen it.
    median = np.median(exposed, axis=0)
    spread = np.median(np.abs(exposed - median), axis=0) * 1.4826 + _MIN_STD
    core = exposed[(np.abs(exposed - median) <= 2.5 * spread).all(axis=1)]
    if len(core) < _MIN_PIXELS:
        core = exposed
    mean = core.mean(axis=0)
    return gaussian_model(mean, np.cov(core.T) + np.eye(2) * _MIN_STD**2, max_distance)


def merged(models: list[SkinModel]) -> SkinModel | None:
    """Every face's skin at once: for people whose own face is not seen (turned away, too small)."""
    if not models:
        return None
    table = np.maximum.reduce([m.table for m in models])
    mean = (float(np.mean([m.mean[0] for m in models])), float(np.mean([m.mean[1] for m in models])))
    return SkinModel(mean, table)
