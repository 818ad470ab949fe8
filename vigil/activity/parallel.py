"""Vision cues of a file in time chunks: each chunk is analysed by a worker that loads its models
once and keeps them for every chunk it is given.

The chunk plan depends only on the file and the sampling interval, never on the number of
workers: one worker (a thread of this process, no process to start) goes through the same chunks
one after the other, so the cues, and the activities decided from them, are the same whatever the
worker count. A chunk's decode starts one sampling interval early: that frame only primes the
motion meter, so the chunk's first sample has a previous frame to measure motion against (the
models do not run on it: a full warm-up sample cost 5% more model runs), and each chunk starts
from a reset extractor (pose tracking, object and hand rates), as the file's first chunk does.
Chunks end on multiples of the interval, so together they sample exactly the times one pass
would. Progress is reported per finished chunk; a cancel stops before the next chunk starts.

Locally, one of the workers is always a thread of this process: it loads its models and starts on
the first chunk at once while the other workers' processes are still starting (a spawn process
pays ~1.5 s of imports and model loading before its first chunk), and this process, which would
otherwise only wait, does its share. On Ray every worker is an actor (this process may be a
client away from the cluster). The samples are put back in chunk order here either way."""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from vigil.activity.cues import VisualSample
from vigil.activity.vision import VisionCancelled, VisualCueExtractor, visual_samples
from vigil.jobs.workers import LOCAL, ExecutorSettings, ReadsInput, pool_capacity, start_pool

__all__ = ["CHUNK_S", "ChunkArgs", "CuePool", "chunk_spans", "planned_workers"]

# Seconds of video per chunk: a minute is 6 chunks, which 2 workers share evenly; each chunk costs
# one more decoded frame for its motion.
CHUNK_S = 10.0
SECONDS_PER_WORKER = 30.0  # a worker starts in ~1.5 s; below this much video one process is faster

_EXTRACTOR: VisualCueExtractor | None = None  # one per worker process


def _init_worker(model_dirs: list[str]) -> None:
    global _EXTRACTOR
    _EXTRACTOR = VisualCueExtractor([Path(d) for d in model_dirs])


@dataclass(frozen=True)
class ChunkArgs:
    """What a worker samples: `path` from `start_s` to `end_s` (seconds, [start, end)), every
    `interval_s`; `last_frame_s` (vigil.activity.media_times) when the caller probed the file, so
    the chunk does not probe it again. Picklable: it goes to worker processes and Ray actors."""

    path: str
    interval_s: float
    start_s: float
    end_s: float
    last_frame_s: float | None = None


def _chunk(args: ChunkArgs) -> list[VisualSample]:
    """A chunk in a worker process, on the models its initializer loaded."""
    assert _EXTRACTOR is not None, "the pool initializer did not run"
    return _chunk_on(_EXTRACTOR, args)


def _chunk_on(
    extractor: VisualCueExtractor, args: ChunkArgs, on_sample: Callable[[int], None] | None = None
) -> list[VisualSample]:
    """`on_sample(samples so far)`, in-process only (a callable does not cross processes). From the
    sampling time before the chunk, whose frame only primes the motion meter (not the models)."""
    warm_start = max(0.0, args.start_s - args.interval_s)
    return visual_samples(
        Path(args.path),
        args.interval_s,
        extractor=extractor,
        on_progress=None if on_sample is None else lambda done, _total: on_sample(done),
        start_s=warm_start,
        end_s=args.end_s,
        last_frame_s=args.last_frame_s,
        warm_up=warm_start < args.start_s,
    )


class _ThreadWorker:
    """The worker that is a thread of this process: its models are loaded in that thread before
    its first chunk (so the caller does not wait for them) and closed with it."""

    def __init__(self, model_dirs: Sequence[Path]) -> None:
        self._dirs = list(model_dirs)
        self._thread = ThreadPoolExecutor(1, "activity-cues")
        self.extractor: VisualCueExtractor | None = None

    def submit(self, args: ChunkArgs, on_sample: Callable[[int], None] | None) -> Future[list[VisualSample]]:
        return self._thread.submit(self._run, args, on_sample)

    def _run(self, args: ChunkArgs, on_sample: Callable[[int], None] | None) -> list[VisualSample]:
        if self.extractor is None:
            self.extractor = VisualCueExtractor(self._dirs)
        return _chunk_on(self.extractor, args, on_sample)

    def close(self) -> None:
        """After the running chunk (at most one: its models are closed after it)."""
        self._thread.shutdown(wait=True, cancel_futures=True)
        if self.extractor is not None:
            self.extractor.close()
            self.extractor = None


def chunk_spans(duration: float, interval_s: float, chunk_s: float = CHUNK_S) -> list[tuple[float, float]]:
    """[start, end) spans of about `chunk_s` covering [0, duration], cut on interval multiples."""
    per_chunk = max(1, round(chunk_s / interval_s))
    total = math.floor(duration / interval_s + 1e-6) + 1  # sample times 0, i, 2i, ... <= duration
    spans = []
    for first in range(0, total, per_chunk):
        last = min(first + per_chunk, total)
        end = last * interval_s if last < total else duration + interval_s
        spans.append((first * interval_s, end))
    return spans


def planned_workers(duration: float, requested: int | None, executor: ExecutorSettings = LOCAL) -> int:
    """As asked, else one per `SECONDS_PER_WORKER` of video, at most the CPUs (the Ray cluster's on Ray)."""
    if requested is not None:
        return max(1, requested)
    if duration < 2 * SECONDS_PER_WORKER:
        return 1  # no cluster connection for a file one process does best
    capacity = pool_capacity(executor) if executor.is_ray else os.cpu_count() or 1
    return max(1, min(capacity, math.floor(duration / SECONDS_PER_WORKER)))


class CuePool:
    """Workers for vision cues; use as a context manager around one or many files. Locally, one
    worker is a thread of this process (its models in this process, closed with the pool) and
    the others are processes; on Ray all are actors."""

    def __init__(self, workers: int, model_dirs: Sequence[Path], executor: ExecutorSettings = LOCAL) -> None:
        self.workers = workers
        dirs = [str(d) for d in model_dirs]
        self._thread = None if executor.is_ray else _ThreadWorker(model_dirs)
        others = workers - (self._thread is not None)
        self._pool: Executor | None = start_pool(executor, others, _init_worker, (dirs,)) if others else None

    def __enter__(self) -> CuePool:
        return self

    def __exit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        self.close(cancelled=isinstance(error, VisionCancelled))

    def close(self, cancelled: bool = False) -> None:
        """Waits for running chunks, unless cancelled: then the processes' are abandoned (Ray
        actors killed). The thread's running chunk is always waited for (at most one chunk)."""
        if self._pool is not None:
            self._pool.shutdown(wait=not cancelled, cancel_futures=True)
        if self._thread is not None:
            self._thread.close()

    def samples(
        self,
        path: Path,
        interval_s: float,
        duration: float,
        on_progress: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
        chunk_s: float = CHUNK_S,
        last_frame_s: float | None = None,
    ) -> list[VisualSample]:
        """`last_frame_s` (vigil.activity.media_times), when the caller probed the file, spares
        every chunk probing it again. A chunk goes to whichever worker is free first."""
        spans = chunk_spans(duration, interval_s, chunk_s)
        expected = math.floor(duration / interval_s + 1e-6) + 1
        on_thread: dict[Future[list[VisualSample]], int] = {}
        on_pool: dict[Future[list[VisualSample]], int] = {}
        results: dict[int, list[VisualSample]] = {}
        queue = [
            (index, ChunkArgs(str(path), interval_s, start, end, last_frame_s))
            for index, (start, end) in enumerate(spans)
        ]
        # Ray actors get a chunk ahead each, so none waits for the next one to reach it; local
        # processes get none ahead, so the last chunks do not queue on a busy process while the
        # thread is free (a chunk reaches a local process in a few milliseconds).
        pool_slots = self.workers if self._thread is None else self.workers - 1
        ahead = 2 if self._thread is None else 1
        while queue or on_thread or on_pool:
            if cancel is not None and cancel.is_set():
                for future in on_pool:
                    future.cancel()  # queued chunks; a running one ends (or its actor is killed at close)
                raise VisionCancelled(f"analysis of {path.name} cancelled")
            if queue and self._thread is not None and not on_thread:
                index, args = queue.pop(0)
                on_sample = self._sample_progress(on_progress, round(args.start_s / interval_s), expected)
                on_thread[self._thread.submit(args, on_sample)] = index
            while queue and self._pool is not None and len(on_pool) < pool_slots * ahead:
                index, args = queue.pop(0)
                chunk = ReadsInput(_chunk, str(path))  # a node without the file says so
                on_pool[self._pool.submit(chunk, args)] = index
            finished, _ = wait([*on_thread, *on_pool], timeout=0.5, return_when=FIRST_COMPLETED)
            for future in finished:  # a worker's error is raised here
                results[on_thread.pop(future) if future in on_thread else on_pool.pop(future)] = (
                    future.result()
                )
            done = sum(len(r) for r in results.values())
            if on_progress is not None and finished and self._pool is not None:
                on_progress(done, max(expected, done))
        if on_progress is not None and self._pool is None:
            done = sum(len(r) for r in results.values())
            on_progress(done, done)  # the estimate may have been off: say it is done
        return [s for index in sorted(results) for s in results[index]]

    def _sample_progress(
        self, on_progress: Callable[[int, int], None] | None, first: int, expected: int
    ) -> Callable[[int], None] | None:
        """With only the thread, progress per sample (the chunks run one after the other: sample
        `first` of the file is this chunk's first); with other workers, per finished chunk."""
        if on_progress is None or self._pool is not None:
            return None
        return lambda kept: on_progress(min(first + kept, expected), expected)
