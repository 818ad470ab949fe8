"""Vision cues of a file in time chunks: each chunk is analysed by a worker that loads its models
once and keeps them for every chunk it is given.

The chunk plan depends only on the file and the sampling interval, never on the number of
workers: one worker goes through the same chunks one after the other, so the cues, and the
activities decided from them, are the same whatever the worker count. A chunk's decode starts one
sampling interval early: that frame only primes the motion meter, so the chunk's first sample has a
previous frame to measure motion against (the models do not run on it: a full warm-up sample cost 5%
more model runs), and each chunk starts from a reset extractor (pose tracking, object and hand
rates), as the file's first chunk does. Chunks end on multiples of the interval, so together they
sample exactly the times one pass would. Progress is reported per sample (per finished chunk from
Ray); a cancel stops before the next chunk starts.

Locally, every worker is a thread of this process with models of its own: MediaPipe, ONNX Runtime
and PyAV's decoder release the GIL while they work, and threads spare the spawn and imports a
worker process paid before its first chunk (on the 59 s bench clip with 2 workers, ~0.6 s of CPU
less). On Ray every worker is an actor (this process may be a client away from the cluster). The
samples are put back in chunk order here either way."""

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
SECONDS_PER_WORKER = 30.0  # a worker loads its models in ~0.5 s; below this much video one is faster

_EXTRACTOR: VisualCueExtractor | None = None  # one per Ray actor


def _init_worker(model_dirs: list[str]) -> None:
    global _EXTRACTOR
    _EXTRACTOR = VisualCueExtractor([Path(d) for d in model_dirs])


@dataclass(frozen=True)
class ChunkArgs:
    """What a worker samples: `path` from `start_s` to `end_s` (seconds, [start, end)), every
    `interval_s`; `last_frame_s` (vigil.activity.media_times) when the caller probed the file, so
    the chunk does not probe it again. Picklable: it goes to Ray actors."""

    path: str
    interval_s: float
    start_s: float
    end_s: float
    last_frame_s: float | None = None


def _chunk(args: ChunkArgs) -> list[VisualSample]:
    """A chunk in a Ray actor, on the models its initializer loaded."""
    assert _EXTRACTOR is not None, "the pool initializer did not run"
    return _chunk_on(_EXTRACTOR, args)


def _chunk_on(
    extractor: VisualCueExtractor, args: ChunkArgs, on_sample: Callable[[int], None] | None = None
) -> list[VisualSample]:
    """`on_sample(samples so far)`, in threads only (a callable does not cross to actors). From the
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
    """A worker that is a thread of this process: its models are loaded in that thread before its
    first chunk (so the caller does not wait for them) and closed with it."""

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
    """Workers for vision cues; use as a context manager around one or many files. Locally, every
    worker is a thread of this process with its own models (closed with the pool); on Ray all are
    actors."""

    def __init__(self, workers: int, model_dirs: Sequence[Path], executor: ExecutorSettings = LOCAL) -> None:
        self.workers = workers
        dirs = [str(d) for d in model_dirs]
        local = not executor.is_ray
        self._threads = [_ThreadWorker(model_dirs) for _ in range(workers)] if local else []
        self._pool: Executor | None = None if local else start_pool(executor, workers, _init_worker, (dirs,))

    def __enter__(self) -> CuePool:
        return self

    def __exit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        self.close(cancelled=isinstance(error, VisionCancelled))

    def close(self, cancelled: bool = False) -> None:
        """Waits for running chunks, unless cancelled: then Ray's actors are killed. A thread's
        running chunk is always waited for (at most one chunk each)."""
        if self._pool is not None:
            self._pool.shutdown(wait=not cancelled, cancel_futures=True)
        for thread in self._threads:
            thread.close()

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
        running: dict[Future[list[VisualSample]], tuple[int, _ThreadWorker | None]] = {}
        results: dict[int, list[VisualSample]] = {}
        queue = [
            (index, ChunkArgs(str(path), interval_s, start, end, last_frame_s))
            for index, (start, end) in enumerate(spans)
        ]
        progress = _Progress(on_progress, expected)
        while queue or running:
            if cancel is not None and cancel.is_set():
                for future in running:
                    future.cancel()  # queued chunks; a running one ends (or its actor is killed at close)
                raise VisionCancelled(f"analysis of {path.name} cancelled")
            self._dispatch(queue, running, progress)
            finished, _ = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in finished:  # a worker's error is raised here
                index, _worker = running.pop(future)
                results[index] = future.result()
                progress.chunk_done(index, len(results[index]))
        progress.finish()
        return [s for index in sorted(results) for s in results[index]]

    def _dispatch(
        self,
        queue: list[tuple[int, ChunkArgs]],
        running: dict[Future[list[VisualSample]], tuple[int, _ThreadWorker | None]],
        progress: _Progress,
    ) -> None:
        """Each free thread takes the next chunk. Ray actors get a chunk ahead each, so none waits
        for the next one to reach it."""
        busy = {worker for _index, worker in running.values()}
        for worker in self._threads:
            if queue and worker not in busy:
                index, args = queue.pop(0)
                running[worker.submit(args, progress.sample_counter(index))] = (index, worker)
        while queue and self._pool is not None and len(running) < 2 * self.workers:
            index, args = queue.pop(0)
            chunk = ReadsInput(_chunk, args.path)  # a node without the file says so
            running[self._pool.submit(chunk, args)] = (index, None)


class _Progress:
    """Samples done over the file: counted per sample in threads (each thread reports its chunk's
    count as it goes), per finished chunk from Ray; callbacks are serialised by a lock, since
    several threads report."""

    def __init__(self, on_progress: Callable[[int, int], None] | None, expected: int) -> None:
        self._on_progress = on_progress
        self._expected = expected
        self._counts: dict[int, int] = {}
        self._lock = threading.Lock()

    def sample_counter(self, index: int) -> Callable[[int], None] | None:
        if self._on_progress is None:
            return None
        return lambda kept: self._set(index, kept)

    def chunk_done(self, index: int, samples: int) -> None:
        self._set(index, samples)

    def finish(self) -> None:
        """The estimate may have been off: say it is done."""
        with self._lock:
            if self._on_progress is not None:
                done = sum(self._counts.values())
                self._on_progress(done, done)

    def _set(self, index: int, kept: int) -> None:
        with self._lock:
            self._counts[index] = kept
            if self._on_progress is not None:
                done = sum(self._counts.values())
                self._on_progress(min(done, self._expected), self._expected)
