"""How a face is covered: `blur`, `pixelate`, `solid` or `mask`, drawn in place on a BGR frame.

Shared by the file pipeline and the live privacy mode, so both hide a face the same way. The
strength scales with the face: a blur or a pixel grid fixed in pixels would leave a large face
recognisable and waste work on a small one. Blur and pixelate also keep only part of the cells'
contrast around the colour at the patch's edge, so the patch is not a face-shaped blob to a
detector; pixelate's blocks are cut from that blur, not from the face."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from vigil.types import FloatArray, Image

FaceStyle = Literal["blur", "pixelate", "solid", "mask"]
FACE_STYLES: tuple[FaceStyle, ...] = ("blur", "pixelate", "solid", "mask")
# Detail kept across a face. Measured on obama_and_biden.jpg: blurred from 8 cells YuNet still
# found both faces (0.76, 0.61), from 6 one (0.35), from 4 none.
BLUR_CELLS = 4
# Blocks across a pixelated face. They are blocks of the (flattened) blur, so they carry only the
# blur's 4 cells of detail and differ by its small steps. Blocks of the face itself read as a face
# on video: 6 cells to YuNet@0.6 (hamilton and crowd_1080p: 28 faces) and BlazeFace (67 frames),
# 4 flattened cells still to both (crowd_1080p: 9-15 BlazeFace frames; even a flat square of the
# edge colour scored 0.62 there). Over the blur, 6 or 10 blocks leak on the shared clips as the
# blur does (2026-12-07): only crowd_1080p frame 102, a 300 px BlazeFace box over three covers at
# ~0.6 that comes and goes with the covers' exact pixels for both. 6 shows the blocks best.
PIXEL_CELLS = 6
# Share of the cells' contrast kept around the patch's edge colour. Even 4 blurred cells keep a
# skin-coloured oval under darker hair, which BlazeFace still scored 0.6-0.7 with a mouth, hand or
# collar below the patch (crowd_1080p: 6 face-frames, hamilton: 1); at half the contrast no
# detector found one on hamilton or crowd_1080p, and the patch still reads as a blur.
FLATTEN = 0.5
SOLID_BGR = (40, 40, 40)


@dataclass(frozen=True)
class FaceRegion:
    """A face to cover: its box (x1, y1, x2, y2, pixels) and, when known, its landmarks (N x 2)."""

    box: tuple[float, float, float, float]
    landmarks: FloatArray | None = None


def padded_box(
    box: tuple[float, float, float, float], pad: float, width: int, height: int
) -> tuple[int, int, int, int] | None:
    """The box grown by `pad` of its size on every side (a detector's box is tight: hair, ears and
    chin would show), clipped to the frame; None when nothing of it is inside the frame."""
    x1, y1, x2, y2 = box
    grow_x, grow_y = (x2 - x1) * pad, (y2 - y1) * pad
    left, top = max(0, int(np.floor(x1 - grow_x))), max(0, int(np.floor(y1 - grow_y)))
    right, bottom = min(width, int(np.ceil(x2 + grow_x))), min(height, int(np.ceil(y2 + grow_y)))
    if right - left < 1 or bottom - top < 1:
        return None
    return left, top, right, bottom


def cover_faces(image: Image, faces: Sequence[FaceRegion], style: FaceStyle, pad: float = 0.25) -> Image:
    """Covers every face of `image` in place (and returns it)."""
    height, width = image.shape[:2]
    for face in faces:
        area = padded_box(face.box, pad, width, height)
        if area is None:
            continue
        if style == "mask":
            _mask(image, face, area)
            continue
        left, top, right, bottom = area
        region = image[top:bottom, left:right]
        if style == "blur":
            region[:] = _blurred(region)
        elif style == "pixelate":
            region[:] = _pixelated(region)
        else:
            region[:] = SOLID_BGR
    return image


def _cells(region: Image, across: int) -> tuple[int, int]:
    height, width = region.shape[:2]
    across = max(1, min(across, width))
    return across, max(1, min(height, round(across * height / max(width, 1))))


def _edge_colour(region: Image) -> FloatArray:
    """Mean colour of the region's outermost pixels: what surrounds the face (background, hair,
    collar), the colour a flattened patch tends to."""
    edge = np.concatenate((region[0], region[-1], region[:, 0], region[:, -1]))
    colour: FloatArray = edge.mean(axis=0, dtype=np.float32)
    return colour


def _flattened(cells: Image, toward: FloatArray) -> Image:
    """`cells` with only FLATTEN of their contrast around `toward` left: the face's light and dark
    parts (skin against hair, eyes, mouth) no longer make a face-shaped blob."""
    flat = toward + FLATTEN * (cells.astype(np.float32) - toward)
    flattened: Image = np.clip(flat + 0.5, 0, 255).astype(np.uint8)
    return flattened


def _pixelated(region: Image) -> Image:
    """Blocks of the blurred face, not of the face: the mosaic has no more detail than the blur,
    and neighbouring blocks differ by the blur's small steps, which no longer draw a face."""
    blocks = cv2.resize(_blurred(region), _cells(region, PIXEL_CELLS), interpolation=cv2.INTER_AREA)
    return cv2.resize(blocks, (region.shape[1], region.shape[0]), interpolation=cv2.INTER_NEAREST)


def _blurred(region: Image) -> Image:
    """Down to a few cells, back up smoothly, then a Gaussian over it: no more detail than a
    coarse pixelation, without its blocks (and cheap: most of the work is on the small image).

    The Gaussian runs on a copy about sigma/2 times smaller, scaled back up: the picture is already
    smooth at that scale, so it differs by at most one grey level from blurring at full size, and
    costs ~0.2 ms instead of ~28 ms on a 150 x 170 face (sigma 19 px: a 115 px kernel)."""
    height, width = region.shape[:2]
    small = cv2.resize(region, _cells(region, BLUR_CELLS), interpolation=cv2.INTER_AREA)
    sigma = max(1.0, width / (2 * BLUR_CELLS))
    scale = max(1.0, sigma / 2)
    mid_size = (max(1, round(width / scale)), max(1, round(height / scale)))
    smooth = cv2.resize(small, mid_size, interpolation=cv2.INTER_LINEAR)
    smooth = cv2.GaussianBlur(smooth, (0, 0), sigma / scale)
    smooth = _flattened(smooth, _edge_colour(region))
    return cv2.resize(smooth, (width, height), interpolation=cv2.INTER_LINEAR)


def _mask(image: Image, face: FaceRegion, area: tuple[int, int, int, int]) -> None:
    """A filled ellipse fitted to the face's landmarks (grown like the box), else the one inscribed
    in the padded box."""
    left, top, right, bottom = area
    center = ((left + right) / 2, (top + bottom) / 2)
    axes = ((right - left) / 2, (bottom - top) / 2)
    angle = 0.0
    points = face.landmarks
    if points is not None and len(points) >= 5:
        (cx, cy), (w, h), angle = cv2.fitEllipse(np.asarray(points, np.float32).reshape(-1, 1, 2))
        if w > h:  # keep the long axis as the face's height whatever OpenCV's convention
            w, h, angle = h, w, angle - 90
        # Landmarks sit inside the face: the ellipse still reaches the padded box's size.
        center = (cx, cy)
        axes = (max(w * 0.6, axes[0]), max(h * 0.6, axes[1]))
    cv2.ellipse(
        image,
        (round(center[0]), round(center[1])),
        (max(1, round(axes[0])), max(1, round(axes[1]))),
        angle, 0, 360, SOLID_BGR, cv2.FILLED, cv2.LINE_AA,
    )  # fmt: skip
