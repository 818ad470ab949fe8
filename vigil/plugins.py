"""Registries derived from config classes: one module per engine, each owning its config class.

A package (`vigil.detect`, `vigil.embed`) has a base config class; every module of the package
that subclasses it with a `type` literal default is an engine. Importing the package's modules
finds them all, so adding an engine touches only its own module (Frigate's detector plugins work
the same way). Modules import heavy libraries (dlib, mediapipe, onnxruntime) lazily.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from types import ModuleType
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

ConfigT = TypeVar("ConfigT", bound=BaseModel)


def _subclasses(cls: type[ConfigT]) -> list[type[ConfigT]]:
    found: list[type[ConfigT]] = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def config_registry(
    base: type[ConfigT], package: ModuleType, skip: Iterable[str] = ()
) -> dict[str, type[ConfigT]]:
    """Every subclass of `base` defined in `package`'s modules, by its `type` value."""
    for module in pkgutil.iter_modules(package.__path__):
        if module.name not in set(skip):
            importlib.import_module(f"{package.__name__}.{module.name}")
    registry: dict[str, type[ConfigT]] = {}
    for cls in _subclasses(base):
        name = cls.model_fields["type"].default
        if not isinstance(name, str) or name in registry:
            raise TypeError(f"{cls.__qualname__} needs a unique `type` literal default, got {name!r}")
        registry[name] = cls
    return dict(sorted(registry.items()))  # the same order whichever module was imported first


def parse_typed_config(value: Any, registry: dict[str, type[ConfigT]], default: str, what: str) -> Any:
    """A mapping (YAML, env, JSON) validated as the config of its `type` (else `default`);
    config instances pass through."""
    if not isinstance(value, dict):
        return value
    name = value.get("type", default)
    if name not in registry:
        raise ValueError(f"unknown {what} type {name!r}; choose from {', '.join(registry)}")
    try:
        return registry[name].model_validate({**value, "type": name})
    except ValidationError as exc:  # pydantic reports a ValueError raised here with its field path
        raise ValueError(str(exc)) from None
