"""Run an embedder in a child process.

dlib's face descriptor keeps Python's GIL for its whole ~85 ms: in-process, every camera's
decode and analysis thread freezes meanwhile (measured: another Python thread runs at 12% of its
speed). In a child process the recognition threads only wait on a future, which releases the
GIL, so the parent keeps both cores for decoding and detection."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from vigil.embed.base import EmbedderConfigBase, FaceCrop, FaceEmbedder
from vigil.embed.registry import parse_embedder_config
from vigil.types import FaceEmbedding, FloatArray

_STARTUP_TIMEOUT_S = 120.0

# Per worker process: the settings (from the pool initializer) and the embedder built from them
# on first use, so that a load error reaches the parent as the original exception rather than
# as a broken pool.
_child_settings: tuple[dict[str, Any], bool] | None = None
_child: FaceEmbedder | None = None


def _child_init(config: dict[str, Any], use_gpu: bool) -> None:
    global _child_settings
    _child_settings = (config, use_gpu)


def _child_embedder() -> FaceEmbedder:
    global _child
    if _child is None:
        from vigil.embed import create_embedder

        assert _child_settings is not None
        config, use_gpu = _child_settings
        _child = create_embedder(parse_embedder_config(config), use_gpu)
    return _child


def _child_describe() -> tuple[str, int]:
    embedder = _child_embedder()
    return embedder.name, embedder.dim


def _child_embed(crop: FaceCrop) -> tuple[FloatArray, str]:
    embedding = _child_embedder().embed(crop)
    return embedding.vector, embedding.model


class ProcessEmbedder(FaceEmbedder):
    """Same interface as the wrapped embedder; `workers` child processes share the requests."""

    def __init__(self, config: EmbedderConfigBase, use_gpu: bool = False, workers: int = 1) -> None:
        self._pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),  # no fork of a threaded parent
            initializer=_child_init,
            initargs=(config.model_dump(mode="json"), use_gpu),
        )
        try:
            self.name, self.dim = self._pool.submit(_child_describe).result(_STARTUP_TIMEOUT_S)
        except BaseException:
            self._pool.shutdown(cancel_futures=True)
            raise

    def embed(self, crop: FaceCrop) -> FaceEmbedding:
        vector, model = self._pool.submit(_child_embed, crop).result()
        return FaceEmbedding(vector=vector, model=model)

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)
