"""Who renders a video's chunks (render.py): this process, or worker processes (issue 17 item 6).

`ChunkWorkers(workers, persons)` is opened once per run. With one worker, chunks render here one
after the other. With more, a spawn pool starts once per run; each worker builds its persons
pass (`PersonAnonymizer`: segmentation and hands models) once, at start, and resets its state at
every chunk (render.render_chunk), so a chunk's pixels do not depend on which worker ran it nor on
the chunks before it. Before a file's chunks render, the same workers follow each chunk's people
(person_keys.py) so that people without a face keep their colour across chunks. Progress:
workers count frames in a shared counter that the parent polls; cancel: a shared event the
workers check on every frame.

On Ray (`jobs.executor: ray`) the workers are actors on any node (vigil/jobs/ray_pool.py): each
renders its chunk's segment into its own temporary folder and returns the segment's bytes with
the result, so no folder needs to be shared but the input's; this process writes them where the
local workers would have, and joins them as usual. Progress then moves per finished chunk, and a
cancel kills the actors. The video's frame table goes beside each chunk's task, one `Shared`
object for both passes over a file's chunks, so Ray sends it once per video, not per chunk
(vigil/jobs/shared.py)."""

from __future__ import annotations

import dataclasses
import importlib
import logging
import multiprocessing
import shutil
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, TypeVar

import cv2

from vigil.anonymize.person_keys import (
    ChunkPeople,
    FollowedBlobs,
    PeopleFollower,
    blobs_path,
    file_keys,
    follow_chunk,
)
from vigil.anonymize.person_options import PersonOptions
from vigil.anonymize.render import (
    ChunkResult,
    ChunkTask,
    FrameHook,
    HookReset,
    RenderCancelled,
    in_process,
    render_chunk,
)
from vigil.anonymize.styles import FaceRegion
from vigil.batch.video import VideoInfo
from vigil.errors import ConfigError, VigilError
from vigil.jobs.shared import Shared
from vigil.jobs.workers import LOCAL, ExecutorSettings, ReadsInput, start_pool
from vigil.malloc_tuning import keep_freed_memory
from vigil.types import Image
from vigil.work_dirs import work_dir

__all__ = ["ChunkWorkers", "PersonsSpec", "RenderWorkerError", "person_hook"]

log = logging.getLogger(__name__)
POLL_S = 0.2  # progress and cancel checks while workers render
T = TypeVar("T")
# What a worker runs per chunk: the chunk's task and the video's frame table (the same object for
# all the video's chunks).
ChunkWork = Callable[[ChunkTask, Shared[VideoInfo]], T]


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
    reset: HookReset
    close: Callable[[], None]
    follower: PeopleFollower  # the same anonymizer, following people without painting


def person_hook(spec: PersonsSpec) -> PersonHook:
    """`PersonAnonymizer` (vigil/anonymize/persons.py) as a per-frame hook: it runs before the
    faces are covered (it samples the face's skin to keep it out of the clothes), and a person's
    colour follows their face's track (the stitched track number, the same in every chunk) or
    the chunk's file-wide keys. A chunk whose people were followed uses the blobs found then
    (copied to a Ray node's folder, _render_returning_segment) instead of segmenting again: the
    follow pass segments a small image scaled by swscale, so segmenting the full frame again
    would give other masks."""
    try:  # imported by name: the persons module is optional for faces-only runs
        module: Any = importlib.import_module("vigil.anonymize.persons")
    except ImportError as exc:
        raise ConfigError(
            f"anonymize.persons.style {spec.options.style!r} needs vigil.anonymize.persons: {exc}"
        ) from exc
    anonymizer = module.PersonAnonymizer(spec.options, spec.models_dirs)
    followed: list[FollowedBlobs | None] = [None]  # the chunk's people found by `follow_chunk`

    def reset(task: ChunkTask) -> None:
        anonymizer.reset(task.person_keys)
        followed[0] = FollowedBlobs.load(task)

    def apply(image: Image, faces: Sequence[FaceRegion], tracks: Sequence[int], frame: int) -> Image:
        known = followed[0].frame(frame) if followed[0] is not None else None
        result: Image = anonymizer.apply(image, faces, list(tracks), known)
        return result

    return PersonHook(apply, reset, anonymizer.close, anonymizer)


class ChunkWorkers:
    """The chunk renderer of one run (a context manager): `run` is a render.ChunkRunner."""

    def __init__(
        self,
        workers: int,
        persons: PersonsSpec | None,
        executor: ExecutorSettings = LOCAL,
        *,
        join_keys: bool = True,
    ) -> None:
        """`join_keys=False` skips following the people before rendering (person_keys.py): a
        faceless person's colour may then change at a chunk boundary (for benchmarks)."""
        self.workers, self.persons, self.executor = max(1, workers), persons, executor
        self.join_keys = join_keys
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
        self,
        tasks: Sequence[ChunkTask],
        info: VideoInfo,
        on_frames: Callable[[int], None],
        cancel: threading.Event | None,
    ) -> list[ChunkResult]:
        shared = Shared(info)  # one object for both passes: Ray puts it once
        if self.persons is not None and self.join_keys and len(tasks) > 1:
            tasks = self._with_file_keys(tasks, shared, cancel)
            if cancel is not None and cancel.is_set():
                return []
        if self._pool is None or len(tasks) < 2:
            hook = self._local_hook()
            runner = in_process(hook.apply if hook else None, hook.reset if hook else None)
            return runner(tasks, info, on_frames, cancel)
        return self._gather(self._round(), tasks, shared, on_frames, cancel, _render_in_worker)

    def _local_hook(self) -> PersonHook | None:
        if self.persons is not None and self._hook is None:
            self._hook = person_hook(self.persons)
        return self._hook

    def _round(self) -> _Round:
        if self._pool is None:
            raise RuntimeError("no worker pool")
        if self.executor.is_ray:
            return _RayRound(self._pool)
        return _LocalRound(self._pool, self._cancel, self._counter)

    def _with_file_keys(
        self, tasks: Sequence[ChunkTask], info: Shared[VideoInfo], cancel: threading.Event | None
    ) -> list[ChunkTask]:
        """The tasks with their faceless people's file-wide keys: every chunk's people followed
        first (person_keys.py; about the segmentation's cost again), then joined across the
        boundaries. The tasks unchanged when cancelled."""
        people: list[ChunkPeople] = []
        hook = self._local_hook() if self._pool is None else None
        if hook is not None:
            try:
                people = [follow_chunk(task, info.value, hook.follower, cancel) for task in tasks]
            except RenderCancelled:
                return list(tasks)
        elif self._pool is not None:
            people = self._gather(self._round(), tasks, info, _no_progress, cancel, _follow_in_worker)
        if len(people) < len(tasks):  # cancelled
            return list(tasks)
        return [
            dataclasses.replace(task, person_keys=keys)
            for task, keys in zip(tasks, file_keys(people), strict=True)
        ]

    def _gather(
        self,
        way: _Round,
        tasks: Sequence[ChunkTask],
        info: Shared[VideoInfo],
        on_frames: Callable[[int], None],
        cancel: threading.Event | None,
        work: ChunkWork[T],
    ) -> list[T]:
        """Submits `work` for every chunk, reports progress and takes each result as its chunk
        ends; stops the chunks at a cancel (no results) or at the first chunk's error (raised here)."""
        submitted = {
            index: way.submit(dataclasses.replace(tasks[index], decode_threads=1), info, work)
            for index in _largest_first(tasks)
        }
        futures = [submitted[index] for index in range(len(tasks))]
        results: dict[int, T] = {}
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, timeout=POLL_S, return_when=FIRST_COMPLETED)
                way.report(on_frames)
                for future in done:
                    index = futures.index(future)
                    results[index] = way.take(tasks[index], future, on_frames)  # a chunk's error here
                if cancel is not None and cancel.is_set():
                    if not way.stop(futures):
                        self._pool = None  # the rest of the run renders here (it stops at the cancel)
                    return []
        except BaseException:
            way.abandon(futures)
            raise
        return [results[index] for index in range(len(tasks))]


def _largest_first(tasks: Sequence[ChunkTask]) -> list[int]:
    """The chunks' indexes, most work first, so the last to end are short ones and no worker
    waits long for another at the end of a pass (the results keep the chunks' order). Work is
    estimated as frames plus face boxes: a box costs about a frame's base work (720p, recolour:
    a 150-frame chunk of 397 boxes took 5.8 s, one of 571 boxes 7.7 s; in order, the last chunk
    ran alone for 6 s)."""
    return sorted(
        range(len(tasks)), key=lambda i: -(len(tasks[i].faces) + sum(len(r) for r, _ in tasks[i].faces))
    )


class _Round(Protocol):
    """What differs between the local workers and Ray in running one run's chunks."""

    def submit(self, task: ChunkTask, info: Shared[VideoInfo], work: ChunkWork[Any]) -> Future[Any]: ...

    def report(self, on_frames: Callable[[int], None]) -> None:
        """Progress made while the chunks render (at every poll)."""

    def take(self, task: ChunkTask, future: Future[Any], on_frames: Callable[[int], None]) -> Any:
        """A finished chunk's result (its error raised here)."""

    def stop(self, futures: list[Future[Any]]) -> bool:
        """Stops the chunks at a cancel: True when the pool can serve the next run."""

    def abandon(self, futures: list[Future[Any]]) -> None:
        """Stops the chunks after an error, before it is raised."""


@dataclass
class _LocalRound:
    """Spawned workers: they count frames in a shared counter and check a shared cancel event."""

    pool: Executor
    cancel: Any  # multiprocessing.Event
    counter: Any  # multiprocessing.Value
    reported: int = field(init=False)  # the counter's value last reported

    def __post_init__(self) -> None:
        self.reported = self.counter.value  # the counter runs over the whole run's chunks

    def submit(self, task: ChunkTask, info: Shared[VideoInfo], work: ChunkWork[Any]) -> Future[Any]:
        return self.pool.submit(work, task, info)

    def report(self, on_frames: Callable[[int], None]) -> None:
        now = self.counter.value
        if now > self.reported:
            on_frames(now - self.reported)
            self.reported = now

    def take(self, task: ChunkTask, future: Future[Any], on_frames: Callable[[int], None]) -> Any:
        del task, on_frames  # the segment is in place and the counter reported the frames
        try:
            return future.result()
        except BrokenProcessPool as exc:
            raise RenderWorkerError(f"a render worker died: {exc}") from exc

    def stop(self, futures: list[Future[Any]]) -> bool:
        self.abandon(futures)
        return True  # the workers wait for the next run

    def abandon(self, futures: list[Future[Any]]) -> None:
        """Cancels what has not started and stops the running chunks (they check the event)."""
        for future in futures:
            future.cancel()
        self.cancel.set()
        wait(futures)
        self.cancel.clear()


@dataclass
class _RayRound:
    """Ray actors: a chunk sends its segment's bytes back, written here where a local worker
    would have; progress moves per finished chunk; a cancel kills the actors."""

    pool: Executor

    def submit(self, task: ChunkTask, info: Shared[VideoInfo], work: ChunkWork[Any]) -> Future[Any]:
        if work is _render_in_worker:  # the segment comes back with the result
            work = _render_returning_segment
        return self.pool.submit(ReadsInput(work, str(task.source)), task, info)

    def report(self, on_frames: Callable[[int], None]) -> None:
        del on_frames  # the actors report nothing until a chunk ends

    def take(self, task: ChunkTask, future: Future[Any], on_frames: Callable[[int], None]) -> Any:
        result = future.result()
        if not isinstance(result, tuple):  # a chunk's people (person_keys.py)
            return result
        chunk, segment = result
        task.segment.write_bytes(segment)
        on_frames(chunk.frames)
        return chunk

    def stop(self, futures: list[Future[Any]]) -> bool:
        del futures  # shutting the pool down kills the actors mid-chunk
        self.pool.shutdown(wait=False, cancel_futures=True)
        return False

    def abandon(self, futures: list[Future[Any]]) -> None:
        for future in futures:
            future.cancel()
        wait(futures)


# Worker process state: built once per worker by the pool's initializer.
_WORKER: dict[str, Any] = {}


def _init_worker(persons: PersonsSpec | None, cancel: Any, counter: Any) -> None:
    # One OpenCV thread per worker, as in the batch tracker's workers: the workers fill the cores,
    # and OpenCV's own threads only added their hand-offs (connected components 1.8 ms -> 1.2 ms).
    cv2.setNumThreads(1)
    keep_freed_memory()  # each frame's buffers reused, not faulted in again
    _WORKER["hook"] = person_hook(persons) if persons is not None else None
    _WORKER["cancel"], _WORKER["counter"] = cancel, counter


def _render_in_worker(task: ChunkTask, info: Shared[VideoInfo]) -> ChunkResult:
    hook: PersonHook | None = _WORKER["hook"]
    counter = _WORKER["counter"]

    def one_frame() -> None:
        with counter.get_lock():
            counter.value += 1

    return render_chunk(
        task,
        info.value,
        hook.apply if hook else None,
        hook.reset if hook else None,
        None if counter is None else one_frame,
        _WORKER["cancel"],
    )


def _follow_in_worker(task: ChunkTask, info: Shared[VideoInfo]) -> ChunkPeople:
    hook: PersonHook | None = _WORKER["hook"]
    if hook is None:
        raise RuntimeError("a worker without a persons pass was asked to follow people")
    return follow_chunk(task, info.value, hook.follower, _WORKER["cancel"])


def _no_progress(frames: int) -> None:
    del frames  # following people is not counted as rendered frames


def _render_returning_segment(task: ChunkTask, info: Shared[VideoInfo]) -> tuple[ChunkResult, bytes]:
    """A Ray worker's chunk: rendered into this node's temporary folder, its bytes returned. Its
    followed people go beside the segment there too (the render looks for them beside it):
    copied from the run's folder when this node has it, else followed again, so the render
    uses the follow pass's blobs (segmented from swscale's small image) on any node."""
    with work_dir("vigil-segment-") as work:
        here = dataclasses.replace(task, segment=Path(work) / task.segment.name)
        hook: PersonHook | None = _WORKER["hook"]
        if hook is not None:
            try:
                shutil.copyfile(blobs_path(task), blobs_path(here))
            except OSError:
                follow_chunk(here, info.value, hook.follower, _WORKER["cancel"])
        result = _render_in_worker(here, info)
        return result, here.segment.read_bytes()
