"""Detector configs by `type`, derived from the `DetectorConfigBase` subclasses of `vigil.detect`."""

from __future__ import annotations

from functools import cache
from typing import Any

import vigil.detect
from vigil.detect.base import DetectorConfigBase
from vigil.plugins import config_registry, parse_typed_config

DEFAULT_DETECTOR = "yunet"


@cache
def detector_configs() -> dict[str, type[DetectorConfigBase]]:
    """Every detector's config class, by its `type` value."""
    return config_registry(DetectorConfigBase, vigil.detect, skip={"base", "registry"})


def parse_detector_config(value: Any) -> Any:
    """A mapping as the config of its detector `type` (default yunet); instances pass."""
    return parse_typed_config(value, detector_configs(), DEFAULT_DETECTOR, "detector")
