"""Where the chunks of a job run: one factory of worker pools for the three chunked job kinds
(tracking, anonymisation, activity).

A pool is a `concurrent.futures.Executor` (`submit(fn, *args) -> Future`, `shutdown(wait,
cancel_futures)`), the interface the batch runner, its warm pool and the benchmarks already speak:
locally a spawn `ProcessPoolExecutor`, on Ray a `RayPool` (ray_pool.py) of actors. Either way each
worker runs the caller's initializer once (models load once per worker process, not per chunk),
and the caller stitches the results in chunk order, so the output does not depend on where a
chunk ran. `ray` is imported only when a Ray pool is asked for.

The executor is `jobs.executor` / `jobs.ray_address` (CLI `--executor`, `--ray-address`). A job of
the web job system runs in the server's job thread; `chunk_executor()` there gives the executor the
job system was configured with (`create_executor` sets it for the job's thread)."""

from __future__ import annotations

import logging
import multiprocessing
import os
import socket
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from vigil.errors import VigilError
from vigil.jobs.config import Executor as ExecutorName
from vigil.jobs.config import JobsConfig, check_ray_address

__all__ = [
    "ExecutorSettings",
    "NodeInputError",
    "ReadsInput",
    "WorkerLostError",
    "chunk_executor",
    "node_label",
    "pool_capacity",
    "start_pool",
    "use_executor",
]

log = logging.getLogger(__name__)
T = TypeVar("T")


class NodeInputError(VigilError):
    """A worker cannot read a job's input (the media must be at the same path on every node)."""


class WorkerLostError(VigilError):
    """A chunk's worker died more often than the retries allow, or no worker could start."""


@dataclass(frozen=True)
class ExecutorSettings:
    """Where chunks run: `local` worker processes, or Ray actors (`ray_address` None: a local
    Ray instance started by this process; `auto`: the cluster running on this machine)."""

    executor: ExecutorName = "local"
    ray_address: str | None = None

    def __post_init__(self) -> None:
        check_ray_address(self.ray_address)

    @classmethod
    def of(cls, config: JobsConfig) -> ExecutorSettings:
        return cls(config.executor, config.ray_address)

    @property
    def is_ray(self) -> bool:
        return self.executor == "ray"

    def describe(self) -> str:
        if not self.is_ray:
            return "local worker processes"
        return f"Ray ({self.ray_address or 'a local instance'})"


LOCAL = ExecutorSettings()
# The executor of the job the current thread runs (set by the job system's executor).
_JOB_EXECUTOR: ContextVar[ExecutorSettings | None] = ContextVar("vigil_job_executor", default=None)


def chunk_executor(config: JobsConfig | None = None) -> ExecutorSettings:
    """The executor for chunks started by this thread: the job system's when it runs a job here,
    else `config`'s (`jobs:` of the command's settings), else local."""
    current = _JOB_EXECUTOR.get()
    if current is not None:
        return current
    return LOCAL if config is None else ExecutorSettings.of(config)


@contextmanager
def use_executor(settings: ExecutorSettings) -> Iterator[None]:
    """Chunks started by this thread inside the block use `settings` (the job system's thread)."""
    token = _JOB_EXECUTOR.set(settings)
    try:
        yield
    finally:
        _JOB_EXECUTOR.reset(token)


def pool_capacity(settings: ExecutorSettings) -> int:
    """How many workers fit: this machine's CPUs, or the Ray cluster's (connects to it)."""
    if not settings.is_ray:
        return os.cpu_count() or 1
    from vigil.jobs.ray_pool import cluster_cpus

    return cluster_cpus(settings.ray_address)


def start_pool(
    settings: ExecutorSettings,
    workers: int,
    initializer: Callable[..., None] | None = None,
    initargs: tuple[Any, ...] = (),
) -> Executor:
    """`workers` processes, each running `initializer(*initargs)` once before its first chunk:
    spawned here, or Ray actors (initargs are then pickled to the actors, so no multiprocessing
    objects there)."""
    if settings.is_ray:
        from vigil.jobs.ray_pool import RayPool

        return RayPool(workers, initializer, initargs, settings.ray_address)
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=initializer,
        initargs=initargs,
    )


def node_label() -> str:
    """Which machine this process runs on, for error messages: the Ray node (id, IP) in a Ray
    worker, else the host name."""
    host = socket.gethostname()
    ray: Any = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        node = ray.get_runtime_context().get_node_id()
        return f"Ray node {node[:12]} (host {host}, {ray.util.get_node_ip_address()}, pid {os.getpid()})"
    return f"host {host} (pid {os.getpid()})"


def check_readable(path: Path) -> None:
    """Raises NodeInputError naming this node when `path` cannot be opened and read here."""
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise _unreadable_input(path, exc) from None


def _unreadable_input(path: Path, exc: OSError) -> NodeInputError:
    """The error for a worker that cannot read `path`: which node, which path, and why."""
    return NodeInputError(
        f"{node_label()} cannot read {path}: {exc.strerror or exc}. Every worker node needs the "
        "media at the same path (a shared folder mounted alike everywhere: docs/ray.md)"
    )


@dataclass(frozen=True)
class ReadsInput(Generic[T]):
    """`fn` after a check that this worker can read `path` (a picklable wrapper for pools): on a
    node that does not see the media, the chunk fails with a NodeInputError naming the node and
    the path instead of a decoder's error. The media vanishing between the check and the decoder's
    open (a chunk loads its models in between) gives the same error, not a bare FileNotFoundError."""

    fn: Callable[..., T]
    path: str

    def __call__(self, *args: Any) -> T:
        path = Path(self.path)
        check_readable(path)
        try:
            return self.fn(*args)
        except OSError as exc:
            if not isinstance(exc.filename, str) or os.path.abspath(exc.filename) != os.path.abspath(path):
                raise
            raise _unreadable_input(path, exc) from exc
