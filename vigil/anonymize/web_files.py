"""Files behind the anonymisation API besides its uploads (`vigil.web.uploads`): outputs under
`<data_dir>/anonymize/outputs`, and a side-by-side before/after frame for the UI.

A job's files are found from its stored result, then checked to be under the data dir."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vigil.types import Image
from vigil.web.video_frames import FrameUnavailable, frame_at

COMPARE_HEIGHT = 360


def outputs_dir(data_dir: Path) -> Path:
    return data_dir / "anonymize" / "outputs"


def inside(path: Path, root: Path) -> bool:
    try:
        return path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):
        return False


def compare_jpeg(before: Path, after: Path, at: float, quality: int = 85) -> bytes:
    """The frame at fraction `at` of the input beside the same frame of its anonymised output."""
    left, right = frame_at(before, at), frame_at(after, at)
    pair = np.hstack([_to_height(left), np.full((COMPARE_HEIGHT, 8, 3), 255, np.uint8), _to_height(right)])
    ok, buffer = cv2.imencode(".jpg", pair, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise FrameUnavailable("cannot encode the comparison")
    return bytes(buffer.tobytes())


def _to_height(image: Image) -> Image:
    height, width = image.shape[:2]
    size = (max(1, round(width * COMPARE_HEIGHT / height)), COMPARE_HEIGHT)
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)
