"""Seed 000's STEP5 batch defaults, as set through `/api/step5/*`: the starting options of the
next batch tracking job (`vigil.web.routes.track`), as the seed's values were for the next run."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

from vigil.batch.chunking import DEFAULT_CHUNK_MAX, DEFAULT_CHUNK_MIN
from vigil.batch.settings import BatchSettings

MAX_CPU_WORKERS = 256  # the range of BatchSettings.cpu_workers / TRACKING_CPU_WORKERS
MAX_CHUNK = 1_000_000  # the range of BatchSettings.chunk_min/chunk_max


@dataclass(frozen=True)
class Step5Config:
    """Batch defaults set through the API. A None bound means the base bound, which comes from
    the batch settings (`TRACKING_CHUNK_MIN/MAX`, else 20..400)."""

    chunk_min: int | None = None
    chunk_max: int | None = None
    base_chunk_min: int = DEFAULT_CHUNK_MIN
    base_chunk_max: int = DEFAULT_CHUNK_MAX
    use_gpu_requested: bool = False
    cpu_workers: int = 2

    @property
    def effective_chunk_min(self) -> int:
        return self.base_chunk_min if self.chunk_min is None else self.chunk_min

    @property
    def effective_chunk_max(self) -> int:
        return self.base_chunk_max if self.chunk_max is None else self.chunk_max


def step5_defaults(settings: BatchSettings) -> Step5Config:
    """The starting point of `/api/step5/*`: the batch settings (environment, .env, YAML)."""
    return Step5Config(
        base_chunk_min=settings.chunk_min, base_chunk_max=settings.chunk_max, cpu_workers=settings.cpu_workers
    )


class Step5Store:
    """Thread-safe holder of the current Step5Config (request handlers run in a thread pool)."""

    def __init__(self, initial: Step5Config) -> None:
        self._lock = threading.Lock()
        self._config = initial

    def get(self) -> Step5Config:
        with self._lock:
            return self._config

    def set_chunk_bounds(self, chunk_min: int | None, chunk_max: int | None) -> Step5Config:
        with self._lock:
            self._config = replace(self._config, chunk_min=chunk_min, chunk_max=chunk_max)
            return self._config

    def set_configuration(self, use_gpu: bool | None, cpu_workers: int | None) -> Step5Config:
        """Omitted (None) values keep theirs."""
        with self._lock:
            config = self._config
            if use_gpu is not None:
                config = replace(config, use_gpu_requested=use_gpu)
            if cpu_workers is not None:
                config = replace(config, cpu_workers=cpu_workers)
            self._config = config
            return config
