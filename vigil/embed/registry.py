"""Embedder configs by `type`, derived from the `EmbedderConfigBase` subclasses of `vigil.embed`."""

from __future__ import annotations

from functools import cache
from typing import Any

import vigil.embed
from vigil.embed.base import EmbedderConfigBase
from vigil.plugins import config_registry, parse_typed_config

DEFAULT_EMBEDDER = "dlib_onnx"  # dlib's ResNet run by onnxruntime: dlib_resnet's vectors, ~8x cheaper


@cache
def embedder_configs() -> dict[str, type[EmbedderConfigBase]]:
    """Every embedder's config class, by its `type` value."""
    return config_registry(EmbedderConfigBase, vigil.embed, skip={"base", "registry", "process"})


def parse_embedder_config(value: Any) -> Any:
    """A mapping as the config of its embedder `type` (default dlib_onnx); instances pass."""
    return parse_typed_config(value, embedder_configs(), DEFAULT_EMBEDDER, "embedder")
