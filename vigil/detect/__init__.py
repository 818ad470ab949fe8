"""Face detectors: one module per engine, each owning its config class (see `registry`)."""

from __future__ import annotations

import logging
from pathlib import Path

from vigil.detect.base import DetectorConfigBase, FaceDetector
from vigil.detect.blazeface import BlazeFaceConfig
from vigil.detect.yunet import YUNET_FILENAME, YuNetConfig, find_model
from vigil.errors import ModelError

log = logging.getLogger(__name__)

__all__ = ["DetectorConfigBase", "FaceDetector", "create_detector", "find_model"]


def create_detector(config: DetectorConfigBase, models_dirs: list[Path]) -> FaceDetector:
    """Build the configured detector. A default YuNet (no explicit model_path) whose file is
    missing falls back to BlazeFace with a warning; an explicit missing path is an error."""
    if isinstance(config, YuNetConfig) and find_model(config, models_dirs) is None:
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
        return BlazeFaceConfig(max_width=config.max_width, max_faces=config.max_faces).create(models_dirs)
    return config.create(models_dirs)
