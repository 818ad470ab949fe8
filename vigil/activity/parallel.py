"""Vision cues of a file in time chunks: each chunk is analysed by a worker that loads its models
once and keeps them for every chunk it is given.

The chunk plan depends only on the file and the sampling interval, never on the number of
workers: one worker (a thread of this process, no process to start) goes through the same chunks
one after the other, so the cues, and the activities decided from them, are the same whatever the
worker count. A chunk starts one sampling interval early and drops that warm-up sample, so its
first kept sample has a previous frame to measure motion against, and each chunk starts from a
reset extractor (pose tracking, object and hand rates). Chunks end on multiples of the interval,
so together they sample exactly the times one pass would. Progress is reported per finished
chunk; a cancel stops before the next chunk starts.

The workers are local spawn processes or Ray actors (`jobs.executor: ray`, vigil/jobs/workers.py);
the samples are put back in chunk order here either way."""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from pathlib import Path

from vigil.activity.cues import VisualSample
from vigil.activity.vision import VisionCancelled, VisualCueExtractor, visual_samples
from vigil.jobs.workers import LOCAL, ExecutorSettings, ReadsInput, pool_capacity, start_pool

__all__ = ["CHUNK_S", "CuePool", "chunk_spans", "planned_workers", "without_warm_up"]

# Seconds of video per chunk: a minute is 6 chunks, which 2 workers share evenly; each chunk costs
# one warm-up sample (5% more samples at the 0.5 s default interval).
CHUNK_S = 10.0
SECONDS_PER_WORKER = 30.0  # a worker starts in ~1.5 s; below this much video one process is faster

_EXTRACTOR: VisualCueExtractor | None = None  # one per worker process


def _init_worker(model_dirs: list[str]) -> None:
    global _EXTRACTOR
    _EXTRACTOR = VisualCueExtractor([Path(d) for d in model_dirs])


def _chunk(
    path: str,
    interval_s: float,
    start_s: float,
    end_s: float,
    last_frame_s: float | None = None,
    on_sample: Callable[[int], None] | None = None,
) -> list[VisualSample]:
    """`on_sample(kept samples so far)`, in-process only (a callable does not cross processes)."""
    assert _EXTRACTOR is not None, "the pool initializer did not run"
    warm_start = max(0.0, start_s - interval_s)
    warm = 1 if warm_start < start_s else 0
    samples = visual_samples(
        Path(path),
        interval_s,
        extractor=_EXTRACTOR,
        on_progress=None if on_sample is None else lambda done, _total: on_sample(max(0, done - warm)),
        start_s=warm_start,
        end_s=end_s,
        last_frame_s=last_frame_s,
    )
    return without_warm_up(samples, start_s, interval_s) if warm_start < start_s else samples


def without_warm_up(samples: list[VisualSample], start_s: float, interval_s: float) -> list[VisualSample]:
    """Drop the warm-up sample. A sample's time is its frame's, which can fall a little before
    its sampling time (the frame nearest 40.0 s of a 29.97 fps file starts at 39.998 s), so the
    cut is half an interval before the chunk's start, not at it."""
    return [s for s in samples if s.t >= start_s - interval_s / 2]


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
    """Workers for vision cues; use as a context manager around one or many files. One worker is a
    thread of this process (its models in this process, closed with the pool); more are processes
    or Ray actors."""

    def __init__(self, workers: int, model_dirs: Sequence[Path], executor: ExecutorSettings = LOCAL) -> None:
        self.workers = workers
        dirs = [str(d) for d in model_dirs]
        self._in_process = workers == 1
        self._pool: Executor = (
            ThreadPoolExecutor(1, "activity-cues", _init_worker, (dirs,))
            if self._in_process
            else start_pool(executor, workers, _init_worker, (dirs,))
        )

    def __enter__(self) -> CuePool:
        return self

    def __exit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        self.close(cancelled=isinstance(error, VisionCancelled))

    def close(self, cancelled: bool = False) -> None:
        """Waits for running chunks, unless cancelled: then they are abandoned (Ray actors killed).
        The in-process worker's running chunk is always waited for (at most one chunk): its
        models are closed after it."""
        global _EXTRACTOR
        self._pool.shutdown(wait=self._in_process or not cancelled, cancel_futures=True)
        if self._in_process and _EXTRACTOR is not None:
            _EXTRACTOR.close()
            _EXTRACTOR = None

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
        every chunk probing it again."""
        spans = chunk_spans(duration, interval_s, chunk_s)
        expected = math.floor(duration / interval_s + 1e-6) + 1
        pending: dict[Future[list[VisualSample]], int] = {}
        results: dict[int, list[VisualSample]] = {}
        queue = list(enumerate(spans))
        while queue or pending:
            while queue and len(pending) < self.workers * 2:  # a little ahead, so no worker waits
                if cancel is not None and cancel.is_set():
                    break
                index, (start, end) = queue.pop(0)
                chunk = ReadsInput(_chunk, str(path))  # a node without the file says so
                on_sample = self._sample_progress(on_progress, round(start / interval_s), expected)
                args = (str(path), interval_s, start, end, last_frame_s, on_sample)
                pending[self._pool.submit(chunk, *args)] = index
            if cancel is not None and cancel.is_set():
                for future in pending:
                    future.cancel()  # queued chunks; a running one ends (or its actor is killed at close)
                raise VisionCancelled(f"analysis of {path.name} cancelled")
            finished, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)  # cancel is polled
            for future in finished:
                results[pending.pop(future)] = future.result()  # a worker's error is raised here
            done = sum(len(r) for r in results.values())
            if on_progress is not None and finished and not self._in_process:
                on_progress(done, max(expected, done))
        if on_progress is not None and self._in_process:
            done = sum(len(r) for r in results.values())
            on_progress(done, done)  # the estimate may have been off: say it is done
        return [s for index in sorted(results) for s in results[index]]

    def _sample_progress(
        self, on_progress: Callable[[int, int], None] | None, first: int, expected: int
    ) -> Callable[[int], None] | None:
        """In-process, progress per sample (the chunks run one after the other: sample `first` of
        the file is this chunk's first); workers elsewhere report per finished chunk instead."""
        if on_progress is None or not self._in_process:
            return None
        return lambda kept: on_progress(min(first + kept, expected), expected)
