"""User-supplied ArcFace/SFace-style ONNX embedder (square RGB/BGR input, one vector out).

Alignment: a similarity transform from the detector's landmarks to the ArcFace 112x112
reference points (InsightFace's template), scaled to `input_size`. Without landmarks the
box is resized as is (less accurate)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from pydantic import Field

from vigil.embed.base import EmbedderConfigBase, FaceCrop, FaceEmbedder
from vigil.errors import ModelError
from vigil.types import FaceEmbedding, FloatArray, Image

# Right eye, left eye, nose tip, right mouth corner, left mouth corner (image coordinates).
ARCFACE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)


class OnnxEmbedderConfig(EmbedderConfigBase):
    type: Literal["onnx"] = "onnx"
    model_path: Path = Field(description="ArcFace/SFace-style ONNX model, 112x112 input")
    name: str | None = Field(None, description="Model name stored with vectors; default file stem")
    input_size: int = Field(112, ge=32, le=512, description="Square input side in pixels")
    mean: float = Field(127.5, ge=0, le=255, description="Subtracted from pixel values")
    std: float = Field(127.5, gt=0, le=255, description="Pixel values divided by this")
    rgb: bool = Field(True, description="Feed RGB (True) or BGR (False)")
    threads: int = Field(1, ge=0, le=64, description="onnxruntime intra-op threads (0: auto)")

    def create(self, use_gpu: bool) -> FaceEmbedder:
        return OnnxEmbedder(self, use_gpu=use_gpu)

    def vector_model(self) -> str:
        return self.name or Path(self.model_path).stem  # as OnnxEmbedder names its vectors


def reference_points(landmark_count: int, size: int) -> FloatArray:
    """Template points matching the detector's landmark layout (see detect/base.py)."""
    ref = ARCFACE_112 * (size / 112.0)
    if landmark_count == 5:
        return ref
    if landmark_count == 4:  # BlazeFace: mouth centre instead of corners
        return np.vstack([ref[:3], ref[3:5].mean(axis=0, keepdims=True)])
    return ref[:landmark_count]


def align(crop: FaceCrop, size: int) -> Image:
    if crop.landmarks is not None and len(crop.landmarks) >= 2:
        ref = reference_points(len(crop.landmarks), size)
        matrix, _ = cv2.estimateAffinePartial2D(crop.landmarks.astype(np.float32), ref)
        if matrix is not None:
            return cv2.warpAffine(crop.image, matrix, (size, size), borderMode=cv2.BORDER_REPLICATE)
    x0, y0, x1, y1 = (round(v) for v in crop.box)
    face = crop.image[max(y0, 0) : y1, max(x0, 0) : x1]
    return cv2.resize(face if face.size else crop.image, (size, size))


class OnnxEmbedder(FaceEmbedder):
    def __init__(self, config: OnnxEmbedderConfig, use_gpu: bool = False) -> None:
        self.config = config
        self.name = config.name or Path(config.model_path).stem
        if not Path(config.model_path).is_file():
            raise ModelError(f"ONNX embedder model {config.model_path} not found")
        import onnxruntime as ort  # here, not at module top: the registry imports every module

        options = ort.SessionOptions()
        options.intra_op_num_threads = config.threads
        providers = ["CPUExecutionProvider"]
        if use_gpu and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        try:
            self._session = ort.InferenceSession(str(config.model_path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"cannot load ONNX embedder {config.model_path}: {exc}") from exc
        self._input = self._session.get_inputs()[0].name
        out_shape = self._session.get_outputs()[0].shape
        self.dim = int(out_shape[-1]) if isinstance(out_shape[-1], int) else 0

    def embed(self, crop: FaceCrop) -> FaceEmbedding:
        face = align(crop, self.config.input_size)
        if self.config.rgb:
            face = face[:, :, ::-1]
        blob = (face.astype(np.float32) - self.config.mean) / self.config.std
        blob = np.ascontiguousarray(blob.transpose(2, 0, 1)[None])
        vector = np.asarray(self._session.run(None, {self._input: blob})[0], np.float32).reshape(-1)
        embedding = self._wrap(vector)
        self.dim = embedding.dim
        return embedding
