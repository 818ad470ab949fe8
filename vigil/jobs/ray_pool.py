"""`RayPool`: a job's chunks on Ray actors, behind the `concurrent.futures.Executor` interface.

N actors (one CPU each, spread over the nodes) each run the caller's initializer once in their
constructor, so models load once per worker process, as in the local process pool. `submit`
queues a call here; one driver thread hands queued calls to ready actors (at most
`PER_ACTOR` each, so a worker never waits for its next chunk and a slow node takes
fewer) and completes the caller's Future from the actor's result.

Failures: a chunk whose actor dies (its process or its node killed, out of memory) goes back to the
queue and runs on another actor, at most `MAX_ATTEMPTS` times in all; a replacement actor is
started (on whichever node has a free CPU) and used once ready. Callers stitch by chunk index, so
a retried chunk is neither lost nor counted twice. An error raised by the chunk itself is the
Future's exception, as locally (not retried: it would fail again).

Shared arguments: a top-level argument wrapped in `Shared` (vigil/jobs/shared.py: a video's frame
table, the same for all its chunks) is put into Ray's object store once per `Shared` object, at
its first call, and every call passes its reference as a top-level argument, which Ray resolves
before the call runs: the value is sent once per node, not once per chunk. The references are
kept by weak keys (the `Shared` objects), so the store frees a value when the caller drops its
`Shared` (the video is done), and all of them when the pool shuts down.

Cancel: `shutdown(wait=False, cancel_futures=True)` drops the queued calls, cancels the dispatched
ones and kills the actors (a running chunk is not interruptible otherwise)."""

from __future__ import annotations

import functools
import importlib
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from concurrent.futures import CancelledError, Executor, Future
from dataclasses import dataclass, field
from typing import Any

from vigil.errors import ConfigError, UnavailableError
from vigil.jobs.shared import Shared
from vigil.jobs.workers import WorkerLostError, node_label

__all__ = ["RayPool", "cluster_cpus", "connect"]

log = logging.getLogger(__name__)

PER_ACTOR = 2  # chunks handed to an actor at once: one running, one queued there (no idle gap)
MAX_ATTEMPTS = 3  # a chunk runs at most this often when its workers keep dying
START_TIMEOUT_S = 120.0  # queued chunks fail when no actor became ready this long
POLL_S = 0.05
CLIENT_INIT_ATTEMPTS = 3  # Ray Client connections: see _init
CLIENT_INIT_PAUSE_S = 1.0
# A local instance's object store: chunk arguments and results are small (a tracking chunk's
# result is ~1 MB per 100 frames of 360p with landmarks; a render segment a few MB).
LOCAL_OBJECT_STORE_BYTES = 512 * 1024 * 1024

_CONNECT = threading.Lock()


def import_ray() -> Any:
    """The `ray` module (imported only here, when a Ray executor is asked for)."""
    try:
        return importlib.import_module("ray")
    except ImportError as exc:
        raise ConfigError(
            f"jobs.executor ray needs the ray package ({exc}); install it with `make setup` "
            "(requirements.txt pins ray) or `pip install 'vigil[ray]'`"
        ) from exc


def connect(address: str | None) -> Any:
    """This process's Ray connection (made once): `address` None starts a local instance."""
    ray = import_ray()
    with _CONNECT:
        if ray.is_initialized():
            return ray
        options: dict[str, Any] = {
            # "local": a new instance, never one found on the machine (RAY_ADDRESS, `ray start`)
            "address": address or "local",
            "namespace": "vigil",
            "log_to_driver": False,  # workers' logs stay in Ray's session folder, not on our stdout
            "logging_level": logging.WARNING,
        }
        if address is None:
            options |= {
                "num_cpus": os.cpu_count() or 1,
                "object_store_memory": LOCAL_OBJECT_STORE_BYTES,
                "include_dashboard": False,
            }
        started = time.perf_counter()
        try:
            _init(ray, options)
        except (ConnectionError, TimeoutError, RuntimeError, ValueError) as exc:
            where = address or "a local instance"
            raise UnavailableError(f"cannot connect to Ray ({where}): {exc}") from exc
        took = time.perf_counter() - started
        log.info("Ray: connected to %s in %.1f s", address or "a local instance", took)
        return ray


def _init(ray: Any, options: dict[str, Any]) -> None:
    """`ray.init`, tried again when a Ray Client (`ray://`) connection fails on the head's side:
    the head starts one server process per client, and on a loaded head one may die while starting
    ("Initialization failure from server", a ConnectionAbortedError, which only Ray Client raises).
    A failed attempt leaves no connection behind, and the next one gets a new server. Other errors
    are not retried: Ray has already retried an unreachable address by then."""
    attempts = CLIENT_INIT_ATTEMPTS if str(options["address"]).startswith("ray://") else 1
    for attempt in range(1, attempts + 1):
        try:
            ray.init(**options)
            return
        except ConnectionAbortedError as exc:
            if attempt == attempts:
                raise
            log.warning(
                "Ray Client: the head could not start this connection (attempt %d of %d): %s; trying again",
                attempt,
                attempts,
                exc,
            )
            time.sleep(CLIENT_INIT_PAUSE_S * attempt)


def cluster_cpus(address: str | None) -> int:
    """CPUs of the Ray cluster (every node's `--num-cpus`)."""
    ray = connect(address)
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


class ChunkActor:
    """One worker process of a pool (decorated with `ray.remote` when a pool starts)."""

    def __init__(self, initializer: Callable[..., None] | None, initargs: tuple[Any, ...]) -> None:
        if initializer is not None:
            initializer(*initargs)

    def node(self) -> str:
        return node_label()

    def run(self, fn: Callable[..., Any], kwargs: dict[str, Any], *args: Any) -> Any:
        # `args` are top-level arguments of the actor call: Ray has resolved the shared ones'
        # references (put once per pool) into their values.
        return fn(*args, **kwargs)


@functools.cache
def _actor_class() -> Any:
    ray = import_ray()
    # Restarts and retries are ours (above): Ray's own would restart the actor in place, which on a
    # dead node waits for a free CPU that may never come.
    return ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0)(ChunkActor)


class SharedArgs:
    """The object-store references of the `Shared` arguments a pool has seen: one `ray.put`
    per `Shared` object, forgotten when that object is (weak keys: bounded by what callers hold)."""

    def __init__(self, put: Callable[[Any], Any]) -> None:
        self._put = put
        self._refs: weakref.WeakKeyDictionary[Shared[Any], Any] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()  # the pool's thread, and a bench measuring from another
        self.puts = 0  # values put into the store (tests, bench)

    def call_args(self, args: tuple[Any, ...]) -> tuple[Any, ...]:
        """`args` as sent: each `Shared` replaced by its reference (put at its first call)."""
        with self._lock:
            return tuple(self._ref(arg) if isinstance(arg, Shared) else arg for arg in args)

    def _ref(self, shared: Shared[Any]) -> Any:
        ref = self._refs.get(shared)
        if ref is None:
            ref = self._refs[shared] = self._put(shared)
            self.puts += 1
        return ref

    def __len__(self) -> int:
        return len(self._refs)

    def clear(self) -> None:
        with self._lock:
            self._refs.clear()


@dataclass(eq=False)
class _Call:
    future: Future[Any]
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    attempts: int = 0
    lost_on: list[str] = field(default_factory=list)


@dataclass(eq=False)
class _Worker:
    actor: Any
    ready_ref: Any
    started: float
    ready: bool = False
    lost: bool = False
    node: str = "(starting)"
    running: dict[Any, _Call] = field(default_factory=dict)  # ObjectRef -> call


class RayPool(Executor):
    def __init__(
        self,
        workers: int,
        initializer: Callable[..., None] | None = None,
        initargs: tuple[Any, ...] = (),
        address: str | None = None,
    ) -> None:
        self._ray = connect(address)
        self.workers = max(1, workers)
        self._initializer, self._initargs = initializer, initargs
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._queue: deque[_Call] = deque()
        self._workers: list[_Worker] = []
        self._replacements = self.workers  # actors started after losses, at most (bounded)
        self._closing = False  # no more submits
        self._stop = False  # the thread exits at its next turn
        self.lost = 0  # workers lost (tests, logs)
        self.retried = 0  # chunks run again after a loss
        self.shared = SharedArgs(self._ray.put)
        for _ in range(self.workers):
            self._start_worker()
        self._thread = threading.Thread(target=self._loop, name="vigil-ray-pool", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ Executor
    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            if self._closing:
                raise RuntimeError("cannot submit to a Ray pool after shutdown")
            self._queue.append(_Call(future, fn, args, kwargs))
        self._wake.set()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._closing = True
            if cancel_futures:
                while self._queue:
                    call = self._queue.popleft()
                    if not call.future.cancel():  # a chunk queued again after a loss is running
                        call.future.set_exception(CancelledError())
            hard = cancel_futures and not wait
            if hard:
                self._abort_running()
        self._wake.set()
        if hard or wait:
            if hard:
                self._stop = True
            self._thread.join()

    @property
    def nodes(self) -> list[str]:
        """Where the live actors run (tests, logs)."""
        with self._lock:
            return [w.node for w in self._workers if w.ready and not w.lost]

    # ------------------------------------------------------------ the driver thread
    def _loop(self) -> None:
        try:
            while True:
                with self._lock:
                    if self._stop or (self._closing and not self._queue and not self._in_flight()):
                        break
                    self._check_start_timeout()
                    self._dispatch()
                    waiting = self._waiting_refs()
                if not waiting:
                    self._wake.wait(POLL_S)
                    self._wake.clear()
                    continue
                ready, _ = self._ray.wait(waiting, num_returns=1, timeout=POLL_S)
                if ready:
                    rest = [ref for ref in waiting if ref not in ready]
                    more, _ = self._ray.wait(rest, num_returns=len(rest), timeout=0) if rest else ([], [])
                    for ref in [*ready, *more]:
                        self._finished(ref)
        except Exception:  # a bug here must not leave callers waiting forever
            log.exception("Ray pool thread failed")
            with self._lock:
                self._fail_all(WorkerLostError("the Ray pool's driver thread failed (see the log)"))
        finally:
            self._kill_actors()

    def _in_flight(self) -> int:
        return sum(len(w.running) for w in self._workers)

    def _waiting_refs(self) -> list[Any]:
        refs: list[Any] = []
        for worker in self._workers:
            if worker.lost:
                continue
            if not worker.ready:
                refs.append(worker.ready_ref)
            refs.extend(worker.running)
        return refs

    def _dispatch(self) -> None:
        while self._queue:
            free = [w for w in self._workers if w.ready and not w.lost and len(w.running) < PER_ACTOR]
            if not free:
                return
            call = self._queue.popleft()
            if call.attempts == 0 and not call.future.set_running_or_notify_cancel():
                continue  # cancelled while queued
            worker = min(free, key=lambda w: len(w.running))
            call.attempts += 1
            args = self.shared.call_args(call.args)
            worker.running[worker.actor.run.remote(call.fn, call.kwargs, *args)] = call

    def _finished(self, ref: Any) -> None:
        ray = self._ray
        with self._lock:
            owner = next((w for w in self._workers if ref in w.running or ref == w.ready_ref), None)
            if owner is None or owner.lost:
                return
            if ref == owner.ready_ref:
                try:
                    owner.node = ray.get(ref)
                    owner.ready = True
                except ray.exceptions.RayError as exc:
                    self._lose(owner, f"did not start ({_short(exc)})")
                return
            call = owner.running.pop(ref)
            try:
                call.future.set_result(ray.get(ref))
            except ray.exceptions.RayTaskError as exc:  # the chunk's own error, as raised locally
                cause = exc.cause if isinstance(exc.cause, BaseException) else exc
                call.future.set_exception(cause)
            except ray.exceptions.TaskCancelledError:
                call.future.set_exception(CancelledError())
            except ray.exceptions.RayError as exc:  # the worker process or its node is gone
                owner.running[ref] = call  # requeued with the others by _lose
                self._lose(owner, _short(exc))

    def _lose(self, worker: _Worker, reason: str) -> None:
        """A dead actor: its chunks go back to the queue (bounded), a replacement starts."""
        worker.lost = True
        self.lost += 1
        log.warning("Ray worker on %s lost: %s", worker.node, reason)
        for call in worker.running.values():
            call.lost_on.append(f"{worker.node}: {reason}")
            if call.attempts >= MAX_ATTEMPTS:
                call.future.set_exception(
                    WorkerLostError(
                        f"a chunk's worker died {call.attempts} times: " + "; ".join(call.lost_on)
                    )
                )
            else:
                self.retried += 1
                self._queue.appendleft(call)
        worker.running.clear()
        self._kill(worker.actor)
        if self._replacements > 0 and not self._closing:
            self._replacements -= 1
            self._start_worker()
        elif not any(not w.lost for w in self._workers):
            last = f"{worker.node}: {reason}"
            self._fail_all(WorkerLostError(f"every Ray worker of this job died (last: {last})"))

    def _check_start_timeout(self) -> None:
        """Queued chunks fail when no live actor is ready and none started for START_TIMEOUT_S
        (e.g. the cluster has no free CPU for a replacement)."""
        live = [w for w in self._workers if not w.lost]
        if not self._queue or any(w.ready for w in live):
            return
        if not live or time.monotonic() - max(w.started for w in live) > START_TIMEOUT_S:
            self._fail_all(
                WorkerLostError(
                    f"no Ray worker ready after {START_TIMEOUT_S:.0f} s: is there a free CPU in the "
                    "cluster (`ray status`)?"
                )
            )

    def _fail_all(self, error: Exception) -> None:
        while self._queue:
            call = self._queue.popleft()
            if call.attempts == 0 and not call.future.set_running_or_notify_cancel():
                continue
            call.future.set_exception(error)
        for worker in self._workers:
            for call in worker.running.values():
                if not call.future.done():
                    call.future.set_exception(error)
            worker.running.clear()

    def _abort_running(self) -> None:
        for worker in self._workers:
            for ref, call in worker.running.items():
                self._ray.cancel(ref)
                if not call.future.done():
                    call.future.set_exception(CancelledError())
            worker.running.clear()

    def _start_worker(self) -> None:
        actor = _actor_class().options(scheduling_strategy="SPREAD").remote(self._initializer, self._initargs)
        self._workers.append(_Worker(actor, actor.node.remote(), time.monotonic()))

    def _kill(self, actor: Any) -> None:
        try:
            self._ray.kill(actor, no_restart=True)
        except Exception:  # already gone
            log.debug("Ray actor kill failed", exc_info=True)

    def _kill_actors(self) -> None:
        with self._lock:
            for worker in self._workers:
                if not worker.lost:
                    worker.lost = True
                    self._kill(worker.actor)
            self.shared.clear()  # the pool's puts are freed with it


def _short(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:300]
