"""What a worker process keeps between chunks: its models, built once and closed at exit.

A worker runs many chunks with the same settings; loading YuNet, FaceMesh or MediaPipe Pose costs
far more than a chunk at 360p, so `WorkerModels` builds them on first use and hands the same
instances to every chunk. New settings (another run of a reused pool) close the old models first;
the process closes what it holds when it exits (`atexit`: spawn workers exit through `sys.exit`).
With `cpu_workers == 1` the chunks run in the calling process, which then holds the models.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import warnings

import cv2

from vigil.batch.engines import Engine, create_engine
from vigil.batch.objects import create_fallback_detector
from vigil.batch.person import PersonDetector
from vigil.batch.settings import BatchSettings
from vigil.malloc_tuning import keep_freed_memory

log = logging.getLogger(__name__)

__all__ = ["WorkerModels", "init_worker", "worker_models"]


class WorkerModels:
    """The engine and the person detector of one process, for one set of settings at a time."""

    def __init__(self) -> None:
        self._key: str | None = None
        self._engine: Engine | None = None
        self._persons: PersonDetector | None = None
        self._lock = threading.Lock()  # API jobs may run inline chunks from several threads
        self._exit_hook = False

    def engine(self, settings: BatchSettings) -> Engine:
        with self._lock:
            self._use(settings)
            if self._engine is None:
                self._engine = create_engine(settings)
            return self._engine

    def person_detector(self, settings: BatchSettings) -> PersonDetector:
        with self._lock:
            self._use(settings)
            if self._persons is None:
                self._persons = create_fallback_detector(settings)  # COCO objects, else persons
            return self._persons

    def close(self) -> None:
        with self._lock:
            self._close()

    def _use(self, settings: BatchSettings) -> None:
        key = settings.model_dump_json()
        if key != self._key:
            self._close()
            self._key = key
        if not self._exit_hook:
            atexit.register(self.close)
            self._exit_hook = True

    def _close(self) -> None:
        engine, persons = self._engine, self._persons
        self._engine = self._persons = None
        self._key = None
        if engine is not None:
            engine.close()
        if persons is not None:
            persons.close()


_MODELS = WorkerModels()


def worker_models() -> WorkerModels:
    """This process's models."""
    return _MODELS


def init_worker(settings: BatchSettings | None = None) -> None:
    """Process-pool initializer: one OpenCV thread per worker (the workers fill the cores), and the
    models loaded before the first chunk arrives; freed memory kept for the next frames."""
    cv2.setNumThreads(1)
    keep_freed_memory()
    warnings.filterwarnings("ignore", message=".*GetPrototype.*", category=UserWarning)
    _exit_with_parent()
    if settings is None:
        return
    try:
        _MODELS.engine(settings)
        if settings.enable_object_detection:
            _MODELS.person_detector(settings)
    except Exception:  # reported with its message by the first chunk, which retries
        log.debug("model preload failed", exc_info=True)


def _exit_with_parent() -> None:
    """A worker whose parent was killed (SIGKILL, OOM) would go on with queued chunks for nobody."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
