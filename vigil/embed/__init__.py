"""Face embedders: one module per engine, each owning its config class (see `registry`)."""

from __future__ import annotations

from vigil.embed.base import EmbedderConfigBase, FaceCrop, FaceEmbedder

__all__ = ["EmbedderConfigBase", "FaceCrop", "FaceEmbedder", "create_embedder"]


def create_embedder(config: EmbedderConfigBase, use_gpu: bool = False, processes: int = 0) -> FaceEmbedder:
    """The configured embedder; with `processes` > 0 it runs in that many child processes."""
    if processes > 0:
        from vigil.embed.process import ProcessEmbedder

        return ProcessEmbedder(config, use_gpu, processes)
    return config.create(use_gpu)
