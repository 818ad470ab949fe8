"""Who renders a video's chunks (render.py): this process, or worker processes (issue 17 item 6).

`ChunkWorkers(workers, persons)` is opened once per run. With one worker, chunks render here one
after the other. With more, a spawn pool starts once per run; each worker builds its persons
pass (`PersonAnonymizer`: segmentation and hands models) once, at start, and resets its state at
every chunk (render.render_chunk), so a chunk's pixels do not depend on which worker ran it nor on
the chunks before it. Progress: workers count frames in a shared counter that the parent polls;
cancel: a shared event the workers check on every frame.

On Ray (`jobs.executor: ray`) the workers are actors on any node (vigil/jobs/ray_pool.py): each
renders its chunk's segment into its own temporary folder and returns the segment's bytes with
the result, so no folder needs to be shared but the input's; this process writes them where the
local workers would have, and joins them as usual. Progress then moves per finished chunk, and a
cancel kills the actors."""

from __future__ import annotations

import dataclasses
import importlib
import logging
import multiprocessing
import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, FIRST_EXCEPTION, Executor, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from vigil.anonymize.person_options import PersonOptions
from vigil.anonymize.render import ChunkResult, ChunkTask, FrameHook, in_process, render_chunk
from vigil.anonymize.styles import FaceRegion
from vigil.errors import ConfigError, VigilError
from vigil.jobs.workers import LOCAL, ExecutorSettings, ReadsInput, start_pool
from vigil.types import Image

__all__ = ["ChunkWorkers", "PersonsSpec", "RenderWorkerError", "person_hook"]

log = logging.getLogger(__name__)
POLL_S = 0.2  # progress and cancel checks while workers render


class RenderWorkerError(VigilError):
    """A render worker process died (crash, out of memory)."""


@dataclass(frozen=True)
class PersonsSpec:
    """The persons pass to build in each renderer (picklable, for worker processes)."""

    options: PersonOptions
    models_dirs: list[Path]


@dataclass(frozen=True)
class PersonHook:
    apply: FrameHook
    reset: Callable[[], None]
    close: Callable[[], None]


def person_hook(spec: PersonsSpec) -> PersonHook:
    """`PersonAnonymizer` (vigil/anonymize/persons.py) as a per-frame hook: it runs before the
    faces are covered (it samples the face's skin to keep it out of the clothes), and a person's
    colour follows their face's track (the stitched track number, the same in every chunk)."""
    try:  # imported by name: the persons module is optional for faces-only runs
        module: Any = importlib.import_module("vigil.anonymize.persons")
    except ImportError as exc:
        raise ConfigError(
            f"anonymize.persons.style {spec.options.style!r} needs vigil.anonymize.persons: {exc}"
        ) from exc
    anonymizer = module.PersonAnonymizer(spec.options, spec.models_dirs)

    def apply(image: Image, faces: Sequence[FaceRegion], tracks: Sequence[int], frame: int) -> Image:
        del frame
        result: Image = anonymizer.apply(image, faces, list(tracks))
        return result

    return PersonHook(apply, anonymizer.reset, anonymizer.close)


class ChunkWorkers:
    """The chunk renderer of one run (a context manager): `run` is a render.ChunkRunner."""

    def __init__(self, workers: int, persons: PersonsSpec | None, executor: ExecutorSettings = LOCAL) -> None:
        self.workers, self.persons, self.executor = max(1, workers), persons, executor
        self._hook: PersonHook | None = None  # in this process, built at the first chunk
        self._pool: Executor | None = None
        self._cancel: Any = None  # multiprocessing.Event (local workers)
        self._counter: Any = None  # multiprocessing.Value: frames rendered by the local workers

    def __enter__(self) -> ChunkWorkers:
        if self.workers > 1 and self.executor.is_ray:
            self._pool = start_pool(self.executor, self.workers, _init_worker, (self.persons, None, None))
        elif self.workers > 1:
            context = multiprocessing.get_context("spawn")
            self._cancel, self._counter = context.Event(), context.Value("q", 0)
            self._pool = start_pool(
                self.executor, self.workers, _init_worker, (self.persons, self._cancel, self._counter)
            )
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._pool is not None:
            if self._cancel is not None:
                self._cancel.set()
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._hook is not None:
            self._hook.close()
            self._hook = None

    def run(
        self, tasks: Sequence[ChunkTask], on_frames: Callable[[int], None], cancel: threading.Event | None
    ) -> list[ChunkResult]:
        if self._pool is None or len(tasks) < 2:
            if self.persons is not None and self._hook is None:
                self._hook = person_hook(self.persons)
            hook = self._hook
            runner = in_process(hook.apply if hook else None, hook.reset if hook else None)
            return runner(tasks, on_frames, cancel)
        if self.executor.is_ray:
            return self._on_ray(self._pool, tasks, on_frames, cancel)
        return self._in_workers(self._pool, tasks, on_frames, cancel)

    def _on_ray(
        self,
        pool: Executor,
        tasks: Sequence[ChunkTask],
        on_frames: Callable[[int], None],
        cancel: threading.Event | None,
    ) -> list[ChunkResult]:
        render = _render_returning_segment
        futures = [pool.submit(ReadsInput(render, str(task.source)), task) for task in tasks]
        results: dict[int, ChunkResult] = {}
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, timeout=POLL_S, return_when=FIRST_COMPLETED)
                for future in done:
                    index = futures.index(future)
                    result, segment = future.result()  # a chunk's error is raised here
                    tasks[index].segment.write_bytes(segment)
                    results[index] = result
                    on_frames(result.frames)
                if cancel is not None and cancel.is_set():
                    pool.shutdown(wait=False, cancel_futures=True)  # kills the actors mid-chunk
                    self._pool = None  # the rest of the run renders here (it stops at the cancel)
                    return []
        except BaseException:
            for future in futures:
                future.cancel()
            wait(futures)
            raise
        return [results[index] for index in range(len(tasks))]

    def _in_workers(
        self,
        pool: Executor,
        tasks: Sequence[ChunkTask],
        on_frames: Callable[[int], None],
        cancel: threading.Event | None,
    ) -> list[ChunkResult]:
        reported = self._counter.value
        futures: list[Future[ChunkResult]] = [pool.submit(_render_in_worker, task) for task in tasks]
        pending: set[Future[ChunkResult]] = set(futures)
        try:
            while pending:
                _, pending = wait(pending, timeout=POLL_S, return_when=FIRST_EXCEPTION)
                now = self._counter.value
                if now > reported:
                    on_frames(now - reported)
                    reported = now
                failed = [f for f in futures if f.done() and f.exception() is not None]
                if failed:
                    failed[0].result()  # raises the worker's error here
                if cancel is not None and cancel.is_set():
                    self._stop(futures)
                    return []
        except BrokenProcessPool as exc:
            raise RenderWorkerError(f"a render worker died: {exc}") from exc
        except BaseException:
            self._stop(futures)
            raise
        return [future.result() for future in futures]

    def _stop(self, futures: list[Future[ChunkResult]]) -> None:
        """Cancels what has not started and stops the running chunks (they check the event)."""
        for future in futures:
            future.cancel()
        self._cancel.set()
        wait(futures)
        self._cancel.clear()


# Worker process state: built once per worker by the pool's initializer.
_WORKER: dict[str, Any] = {}


def _init_worker(persons: PersonsSpec | None, cancel: Any, counter: Any) -> None:
    _WORKER["hook"] = person_hook(persons) if persons is not None else None
    _WORKER["cancel"], _WORKER["counter"] = cancel, counter


def _render_in_worker(task: ChunkTask) -> ChunkResult:
    hook: PersonHook | None = _WORKER["hook"]
    counter = _WORKER["counter"]

    def one_frame() -> None:
        with counter.get_lock():
            counter.value += 1

    return render_chunk(
        task,
        hook.apply if hook else None,
        hook.reset if hook else None,
        None if counter is None else one_frame,
        _WORKER["cancel"],
    )


def _render_returning_segment(task: ChunkTask) -> tuple[ChunkResult, bytes]:
    """A Ray worker's chunk: rendered into this node's temporary folder, its bytes returned."""
    with tempfile.TemporaryDirectory(prefix="vigil-segment-") as work:
        here = dataclasses.replace(task, segment=Path(work) / task.segment.name)
        result = _render_in_worker(here)
        return result, here.segment.read_bytes()
