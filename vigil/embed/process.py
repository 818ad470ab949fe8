"""Run an embedder in a child process.

dlib's face descriptor keeps Python's GIL for its whole ~85 ms: in-process, every camera's
decode and analysis thread freezes meanwhile (measured: another Python thread runs at 12% of its
speed). In a child process the recognition threads only wait on a future, which releases the
GIL, so the parent keeps both cores for decoding and detection."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from pydantic import TypeAdapter

from vigil.config import EmbedderConfig
from vigil.embed.base import FaceCrop, FaceEmbedder
from vigil.types import FaceEmbedding, FloatArray

_STARTUP_TIMEOUT_S = 120.0

# The child's embedder: one per worker process, set once by the pool initializer.
_child: FaceEmbedder | None = None


def _child_init(config: dict[str, Any], use_gpu: bool) -> None:
    from vigil.embed import create_embedder

    global _child
    _child = create_embedder(TypeAdapter(EmbedderConfig).validate_python(config), use_gpu)


def _child_describe() -> tuple[str, int]:
    assert _child is not None
    return _child.name, _child.dim


def _child_embed(crop: FaceCrop) -> tuple[FloatArray, str]:
    assert _child is not None
    embedding = _child.embed(crop)
    return embedding.vector, embedding.model


class ProcessEmbedder(FaceEmbedder):
    """Same interface as the wrapped embedder; `workers` child processes share the requests."""

    def __init__(self, config: EmbedderConfig, use_gpu: bool = False, workers: int = 1) -> None:
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
