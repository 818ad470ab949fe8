"""Face embedder registry: the config's `type` picks the engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vigil.config import EmbedderConfig
from vigil.embed.base import FaceCrop, FaceEmbedder

__all__ = ["EMBEDDERS", "FaceCrop", "FaceEmbedder", "create_embedder"]


def _dlib_resnet(config: Any, use_gpu: bool) -> FaceEmbedder:
    from vigil.embed.dlib_resnet import DlibResnetEmbedder

    return DlibResnetEmbedder(config)


def _onnx(config: Any, use_gpu: bool) -> FaceEmbedder:
    from vigil.embed.onnx_embedder import OnnxEmbedder

    return OnnxEmbedder(config, use_gpu=use_gpu)


EMBEDDERS: dict[str, Callable[[Any, bool], FaceEmbedder]] = {
    "dlib_resnet": _dlib_resnet,
    "onnx": _onnx,
}


def create_embedder(config: EmbedderConfig, use_gpu: bool = False, processes: int = 0) -> FaceEmbedder:
    """The configured embedder; with `processes` > 0 it runs in that many child processes."""
    if processes > 0:
        from vigil.embed.process import ProcessEmbedder

        return ProcessEmbedder(config, use_gpu, processes)
    return EMBEDDERS[config.type](config, use_gpu)
