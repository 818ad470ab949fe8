"""Face detector registry: the config's `type` picks the engine."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vigil.config import (
    YUNET_FILENAME,
    BlazeFaceConfig,
    DetectorConfig,
    YuNetConfig,
)
from vigil.detect.base import FaceDetector
from vigil.errors import ModelError

log = logging.getLogger(__name__)

__all__ = ["DETECTORS", "FaceDetector", "create_detector", "find_yunet_model"]


def _yunet(config: Any, models_dirs: list[Path]) -> FaceDetector:
    from vigil.detect.yunet import YuNetDetector

    path = find_yunet_model(config, models_dirs)
    if path is None:
        raise ModelError(f"YuNet model {config.model_path} not found")
    return YuNetDetector(config, path)


def _blazeface(config: Any, _: list[Path]) -> FaceDetector:
    from vigil.detect.blazeface import BlazeFaceDetector

    return BlazeFaceDetector(config)


def _haar(config: Any, _: list[Path]) -> FaceDetector:
    from vigil.detect.haar import HaarDetector

    return HaarDetector(config)


def _dlib_hog(config: Any, _: list[Path]) -> FaceDetector:
    from vigil.detect.dlib_hog import DlibHogDetector

    return DlibHogDetector(config)


def _facemesh(config: Any, _: list[Path]) -> FaceDetector:
    from vigil.detect.facemesh import FaceMeshDetector

    return FaceMeshDetector(config)


# Explicit: one entry per engine, keyed by the config's `type` literal. Imports are lazy
# so that choosing YuNet never pays for importing mediapipe.
DETECTORS: dict[str, Callable[[Any, list[Path]], FaceDetector]] = {
    "yunet": _yunet,
    "blazeface": _blazeface,
    "haar": _haar,
    "dlib_hog": _dlib_hog,
    "mediapipe_facemesh": _facemesh,
}


def find_yunet_model(config: YuNetConfig, models_dirs: list[Path]) -> Path | None:
    """The configured file, else the first models directory that holds the default file."""
    if config.model_path is not None:
        return config.model_path if config.model_path.is_file() else None
    for directory in models_dirs:
        if (directory / YUNET_FILENAME).is_file():
            return directory / YUNET_FILENAME
    return None


def create_detector(config: DetectorConfig, models_dirs: list[Path]) -> FaceDetector:
    """Build the configured detector. A default YuNet (no explicit model_path) whose file is
    missing falls back to BlazeFace with a warning; an explicit missing path is an error."""
    if isinstance(config, YuNetConfig) and find_yunet_model(config, models_dirs) is None:
        if config.model_path is not None:
            raise ModelError(
                f"YuNet model {config.model_path} not found; run `vigil models fetch` "
                "or fix detector.model_path"
            )
        log.warning(
            "YuNet model %s not found in %s; falling back to BlazeFace (misses small faces). "
            "Run `vigil models fetch` to install YuNet.",
            YUNET_FILENAME,
            ", ".join(str(d) for d in models_dirs),
        )
        fallback = BlazeFaceConfig(max_width=config.max_width, max_faces=config.max_faces)
        return DETECTORS["blazeface"](fallback, models_dirs)
    return DETECTORS[config.type](config, models_dirs)
