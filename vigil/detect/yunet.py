"""YuNet (OpenCV Zoo): boxes, 5 landmarks, scores; run by ONNX Runtime (yunet_onnx.py, less than
half the CPU) or by OpenCV's cv2.FaceDetectorYN, with the same faces."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from pydantic import Field

from vigil.detect.base import DetectorConfigBase, FaceDetector
from vigil.detect.yunet_onnx import YuNetOnnx
from vigil.errors import ModelError
from vigil.types import Detections, FloatArray, Image

YUNET_FILENAME = "face_detection_yunet_2023mar.onnx"
_TOP_K = 5000  # candidates kept by the suppression (OpenCV's default)


class YuNetConfig(DetectorConfigBase):
    type: Literal["yunet"] = "yunet"
    model_path: Path | None = Field(
        None, description="YuNet ONNX file; default: <models_dir>/" + YUNET_FILENAME
    )
    nms_threshold: float = Field(0.3, ge=0.0, le=1.0, description="Non-maximum suppression IoU")
    backend: Literal["onnxruntime", "opencv"] = Field(
        "onnxruntime",
        description="What runs the network: onnxruntime (~2x less CPU) or opencv (cv2.FaceDetectorYN); "
        "the faces are the same. Live cameras and the watchlist; vigil track and anonymize use onnxruntime",
    )
    threads: int = Field(
        0, ge=0, le=64, description="onnxruntime threads; 0: OpenCV's thread setting (runtime.opencv_threads)"
    )

    def create(self, models_dirs: list[Path]) -> FaceDetector:
        path = find_model(self, models_dirs)
        if path is None:
            raise ModelError(f"YuNet model {self.model_path or YUNET_FILENAME} not found")
        return YuNetDetector(self, path)


def find_model(config: YuNetConfig, models_dirs: list[Path]) -> Path | None:
    """The configured file, else the first models directory that holds the default file."""
    if config.model_path is not None:
        return config.model_path if config.model_path.is_file() else None
    for directory in models_dirs:
        if (directory / YUNET_FILENAME).is_file():
            return directory / YUNET_FILENAME
    return None


class YuNetDetector(FaceDetector):
    name = "yunet"
    landmark_count = 5

    def __init__(self, config: YuNetConfig, model_path: Path) -> None:
        super().__init__(config)
        # Threshold low here; the base class applies score_threshold uniformly.
        threshold = min(config.score_threshold, 0.5)
        self._onnx: YuNetOnnx | None = None
        if config.backend == "onnxruntime":
            self._onnx = YuNetOnnx(model_path, threshold, config.nms_threshold, _TOP_K, config.threads)
            return
        try:
            self._net = cv2.FaceDetectorYN.create(
                str(model_path), "", (320, 320), threshold, config.nms_threshold, _TOP_K
            )
        except cv2.error as exc:
            raise ModelError(f"cannot load YuNet model {model_path}: {exc}") from exc
        self._size = (320, 320)

    def _detect(self, image: Image) -> Detections:
        faces = self._onnx.detect(image) if self._onnx is not None else self._opencv(image)
        if faces is None or len(faces) == 0:
            return Detections.empty(5)
        faces = np.asarray(faces, dtype=np.float32)
        xyxy = np.column_stack(
            [faces[:, 0], faces[:, 1], faces[:, 0] + faces[:, 2], faces[:, 1] + faces[:, 3]]
        )
        return Detections(xyxy, faces[:, 14], faces[:, 4:14].reshape(-1, 5, 2))

    def _opencv(self, image: Image) -> FloatArray | None:
        size = (image.shape[1], image.shape[0])
        if size != self._size:
            self._net.setInputSize(size)
            self._size = size
        _, faces = self._net.detect(image)
        return faces
