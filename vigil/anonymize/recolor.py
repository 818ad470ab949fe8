"""A new colour with the shading kept: each pixel keeps its luminance Y (BT.601, OpenCV's
YCrCb) and gets the chroma of the new hue, so folds, light and the weave still read as cloth.

The new value is Y + s * d, where d is the BGR direction of the hue with zero luminance
(0.114 dB + 0.587 dG + 0.299 dR = 0): the luminance is unchanged by construction. The
amount s is the chosen chroma, cut per pixel where it would leave [0, 255] (a clipped channel
would change the luminance), so near-black and near-white cloth gets a paler tint."""

from __future__ import annotations

import cv2
import numpy as np

from vigil.types import FloatArray, Image

_GOLDEN = 0.6180339887498949
# BT.601 (OpenCV's YCrCb): R = Y + 1.403 Cr', G = Y - 0.714 Cr' - 0.344 Cb', B = Y + 1.773 Cb'.
_FROM_CR = np.array([0.0, -0.714, 1.403], np.float32)  # B, G, R
_FROM_CB = np.array([1.773, -0.344, 0.0], np.float32)
_LUMA = np.array([0.114, 0.587, 0.299], np.float32)  # B, G, R


def hue_for(key: int) -> float:
    """A hue in [0, 1) for a person key: golden-ratio steps, so consecutive keys (people met one
    after another) get far-apart hues, and the same key always the same hue."""
    return (key * _GOLDEN) % 1.0


def direction(hue: float) -> FloatArray:
    """BGR change per unit of chroma toward `hue` (zero luminance)."""
    angle = 2 * np.pi * hue
    d = (np.cos(angle) * _FROM_CR + np.sin(angle) * _FROM_CB).astype(np.float32)
    return np.asarray(d - _LUMA @ d, np.float32)  # exact zero luminance despite rounded coefficients


def recolor(
    region: Image, alpha: FloatArray, hue: float, strength: float, ycrcb: Image | None = None
) -> None:
    """Recolours `region` (BGR uint8, in place) where `alpha` (same H x W, float32 [0, 1]) is set;
    `ycrcb`: the region already converted to YCrCb, when the caller has it.

    Worked in YCrCb with OpenCV's vectorised calls (a float NumPy version cost 55 ms for a 720p
    close-up): the target chroma depends only on Y (the gamut cut), so it is a 256-entry table
    per channel, and Cr, Cb are blended toward it by `alpha` (blendLinear). The blend stays in
    gamut: for a given Y the colours inside [0, 255]^3 form a convex set holding both ends."""
    d = direction(hue)
    angle = 2 * np.pi * hue
    room = _room(d, strength)
    table_cr = np.clip(np.rint(128 + room * np.cos(angle)), 0, 255).astype(np.uint8)
    table_cb = np.clip(np.rint(128 + room * np.sin(angle)), 0, 255).astype(np.uint8)
    if ycrcb is None:
        ycrcb = cv2.cvtColor(region, cv2.COLOR_BGR2YCrCb)
    luma, cr, cb = cv2.split(ycrcb)
    weight = np.ascontiguousarray(alpha, dtype=np.float32)
    keep = np.subtract(np.float32(1.0), weight)
    cr = cv2.blendLinear(cr, cv2.LUT(luma, table_cr), keep, weight)
    cb = cv2.blendLinear(cb, cv2.LUT(luma, table_cb), keep, weight)
    recoloured = cv2.cvtColor(cv2.merge([luma, cr, cb]), cv2.COLOR_YCrCb2BGR)
    # The round trip through YCrCb moves some pixels by 1: only those painted take its result.
    cv2.copyTo(recoloured, np.greater(weight, 0).view(np.uint8), region)


def _room(d: FloatArray, strength: float) -> FloatArray:
    """Per luminance 0..255: the chroma toward `d` that keeps every channel of Y + s*d inside
    [0, 255] (a clipped channel would change the luminance), at most `strength`; one unit less
    for the rounding of the tables and of the conversion back."""
    luma = np.arange(256, dtype=np.float32)
    room = np.full(256, np.float32(strength), np.float32)
    for channel in range(3):
        step = float(d[channel])
        if step > 1e-6:
            room = np.minimum(room, (255.0 - luma) / step)
        elif step < -1e-6:
            room = np.minimum(room, luma / -step)
    return np.asarray(np.maximum(room - 1.0, 0.0), np.float32)


def flat_colour(hue: float, strength: float, luma: float = 110.0) -> tuple[int, int, int]:
    """A BGR fill of the person's hue (silhouettes)."""
    value = luma + strength * direction(hue)
    return (
        int(np.clip(round(value[0]), 0, 255)),
        int(np.clip(round(value[1]), 0, 255)),
        int(np.clip(round(value[2]), 0, 255)),
    )
