"""Detector configs by `type`, derived from the `DetectorConfigBase` subclasses of this package.

Each detector is one module of `vigil.detect` that owns its config class (a `type` literal and
its keys) and builds its detector (`create`); adding a detector touches only its module. Modules
import heavy libraries (dlib, mediapipe) lazily, so importing them all here stays cheap.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import Any

from pydantic import ValidationError

import vigil.detect
from vigil.detect.base import DetectorConfigBase

_NOT_DETECTORS = frozenset({"base", "registry"})
DEFAULT_DETECTOR = "yunet"


def _import_detector_modules() -> None:
    for module in pkgutil.iter_modules(vigil.detect.__path__):
        if module.name not in _NOT_DETECTORS:
            importlib.import_module(f"vigil.detect.{module.name}")


def _subclasses(cls: type[DetectorConfigBase]) -> list[type[DetectorConfigBase]]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


@cache
def detector_configs() -> dict[str, type[DetectorConfigBase]]:
    """Every detector's config class, by its `type` value."""
    _import_detector_modules()
    registry: dict[str, type[DetectorConfigBase]] = {}
    for cls in _subclasses(DetectorConfigBase):
        name = cls.model_fields["type"].default
        if not isinstance(name, str) or name in registry:
            raise TypeError(f"{cls.__qualname__} needs a unique `type` literal default, got {name!r}")
        registry[name] = cls
    return registry


def parse_detector_config(value: Any) -> Any:
    """A mapping (YAML, env, JSON) as the config of its `type` (default yunet); instances pass."""
    if not isinstance(value, dict):
        return value
    name = value.get("type", DEFAULT_DETECTOR)
    configs = detector_configs()
    if name not in configs:
        raise ValueError(f"unknown detector type {name!r}; choose from {', '.join(configs)}")
    try:
        return configs[name].model_validate({**value, "type": name})
    except ValidationError as exc:  # pydantic reports a ValueError raised here with its field path
        raise ValueError(str(exc)) from None
