"""An alert's snapshot: the frame the face was seen in, with the face's box in red, as a JPEG.

Drawn only when an alert is raised or upgraded (not for every embedded face), from the pipeline's
own frame (`SourceFrame`): downscaled first to at most `MAX_SNAPSHOT_WIDTH` pixels wide, so the
drawing and the encode cost the same for a 1080p or a 4K camera."""

from __future__ import annotations

import cv2

from vigil.live.events import SourceFrame
from vigil.store.crops import CropStore
from vigil.types import Image

RED = (0, 0, 255)  # BGR
MAX_SNAPSHOT_WIDTH = 1280
SNAPSHOT_QUALITY = 85
SNAPSHOT_THUMB_PX = 320  # the alert list's preview: enough to see where the person stood


def snapshot_store(crops: CropStore) -> CropStore:
    """Snapshots live beside the alert crops (same private directory, erased with the person), as
    JPEG with a larger thumbnail than a face crop's."""
    return CropStore(crops.root, fmt="jpeg", quality=SNAPSHOT_QUALITY, thumb_px=SNAPSHOT_THUMB_PX)


def render_snapshot(source: SourceFrame, max_width: int = MAX_SNAPSHOT_WIDTH) -> Image:
    """A new image: the frame (downscaled to `max_width` at most) with the face's box in red; the
    pipeline's frame is never drawn on."""
    image = source.image
    width = image.shape[1]
    scale = min(1.0, max_width / width)
    canvas = (
        cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        if scale < 1.0
        else image.copy()
    )
    thickness = max(2, round(canvas.shape[1] / 400))  # 2 px at 640, 3 px at 1280: visible in the thumb
    x1, y1, x2, y2 = (round(float(v) * scale) for v in source.box)
    cv2.rectangle(canvas, (x1, y1), (x2, y2), RED, thickness)
    return canvas
