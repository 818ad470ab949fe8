"""The face chip dlib's ResNet descriptor reads: 150x150 RGB, aligned by dlib's 5-point shape
predictor on the detector's box and `get_face_chip` (padding 0.25), as the network was trained.

Shared by the dlib and onnxruntime engines so that both see the same pixels."""

from __future__ import annotations

import threading

import numpy as np

from vigil.embed.base import FaceCrop
from vigil.types import Image

CHIP_SIZE = 150
CHIP_PADDING = 0.25


class DlibChipper:
    """Thread-safe: dlib's shape predictor is not documented as such, so calls are serialised."""

    def __init__(self) -> None:
        import dlib  # here, not at module top: the embedder registry imports every module
        import face_recognition_models

        self._dlib = dlib
        self._shape = dlib.shape_predictor(face_recognition_models.pose_predictor_five_point_model_location())
        self._lock = threading.Lock()

    def chip(self, crop: FaceCrop) -> Image:
        """The aligned RGB chip of the face in `crop` (BGR, box in crop coordinates)."""
        rgb = np.ascontiguousarray(crop.image[:, :, ::-1])
        x0, y0, x1, y1 = (round(v) for v in crop.box)
        with self._lock:
            shape = self._shape(rgb, self._dlib.rectangle(x0, y0, x1, y1))
            chip = self._dlib.get_face_chip(rgb, shape, size=CHIP_SIZE, padding=CHIP_PADDING)
        return np.asarray(chip, dtype=np.uint8)
