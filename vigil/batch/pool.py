"""Warm worker processes for a process that runs many tracking jobs (`vigil serve`).

Starting a pool costs each worker ~1.5 s of imports and models (planning.py); a server that runs
job after job keeps one pool warm between them and stops it after `idle_s` without a job, so an
idle server holds no worker processes. `vigil track` runs once and plans its own pool instead.
Workers reload models themselves when a job's engine settings differ (worker.WorkerModels).
With `jobs.executor: ray` the warm workers are Ray actors (vigil/jobs/ray_pool.py), as many as the
job's `track.cpu_workers`."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from concurrent.futures import Executor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager

from vigil.batch.settings import BatchSettings
from vigil.batch.worker import init_worker
from vigil.errors import VigilError
from vigil.jobs.workers import LOCAL, ExecutorSettings, chunk_executor, start_pool

log = logging.getLogger(__name__)
PING_TIMEOUT_S = 30.0  # a live worker answers in milliseconds; a cold one once its models load


class WarmPool:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: Executor | None = None
        self._workers = 0
        self._where: ExecutorSettings = LOCAL
        self._users = 0
        self._timer: threading.Timer | None = None
        self.started = 0  # pools started (tests and logs)

    @contextmanager
    def use(self, settings: BatchSettings) -> Iterator[Executor]:
        """A pool of `settings.cpu_workers` processes (where the job system's executor says: local
        or Ray), warm when the last job left one; stopped `settings.warm_idle_s` after the last user
        (at once when 0)."""
        pool = self._acquire(settings, chunk_executor())
        try:
            yield pool
        finally:
            self._release(settings.warm_idle_s)

    def close(self) -> None:
        with self._lock:
            self._cancel_timer()
            self._stop()

    @property
    def pids(self) -> set[int]:
        """The worker processes alive now (empty when stopped)."""
        with self._lock:
            processes = getattr(self._pool, "_processes", None) or {}
            return {int(pid) for pid in processes}

    def _acquire(self, settings: BatchSettings, where: ExecutorSettings) -> Executor:
        with self._lock:
            self._cancel_timer()
            changed = self._workers != settings.cpu_workers or self._where != where
            if self._pool is not None and (changed or not self._alive()):
                self._stop()
            if self._pool is None:
                self._pool = start_pool(where, settings.cpu_workers, init_worker, (settings,))
                self._workers, self._where = settings.cpu_workers, where
                self.started += 1
            self._users += 1
            return self._pool

    def _release(self, idle_s: float) -> None:
        with self._lock:
            self._users -= 1
            if self._users > 0:
                return
            if idle_s <= 0:
                self._stop()
                return
            self._timer = threading.Timer(idle_s, self._idle)
            self._timer.daemon = True
            self._timer.start()

    def _idle(self) -> None:
        with self._lock:
            if self._users == 0:
                log.info("tracking workers idle: stopped")
                self._stop()

    def _alive(self) -> bool:
        """False when a worker crashed (the pool is then broken for good) or does not answer."""
        assert self._pool is not None
        try:
            return self._pool.submit(os.getpid).result(timeout=PING_TIMEOUT_S) > 0
        except (BrokenProcessPool, TimeoutError, RuntimeError, VigilError):  # VigilError: a Ray worker lost
            return False

    def _stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool, self._workers = None, 0

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


WARM_POOL = WarmPool()  # the process's pool: a server's jobs share it
