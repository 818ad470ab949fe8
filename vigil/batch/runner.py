"""`run_batch`: track many videos with a pool of worker processes (spawn).

Each video is probed (frame table), split into frame ranges by the seed's adaptive chunking
(`plan_chunks`), and its chunks go to a shared pool; chunks of up to `parallel_videos` videos are
in flight at once. Results come back in any order; each video's are stitched strictly in frame
order in this process (ids, blendshapes, speaking: stitch.py) and streamed to its output file,
which appears atomically when the video is complete. At most ~3 chunks per worker are in flight
or waiting to be stitched, so memory stays flat whatever the video length.

The pool comes from `vigil.jobs.workers.start_pool`: local spawn processes, or Ray actors on any
node (`jobs.executor: ray`); stitching stays here in frame order, so the output is the same either
way. On Ray a chunk whose worker died runs again on another one (ray_pool.py). A chunk's task
holds its frame range; the video's frame table is a second argument `Shared` by all its chunks,
which a Ray pool sends once per video (vigil/jobs/shared.py).

A video that cannot be read, a chunk that raises, or a crashed worker fails that video with its
reason; the others continue. Finished outputs are never rewritten unless `force`, so an
interrupted run, re-run, redoes only what is missing.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import resource
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    Executor,
    Future,
    ThreadPoolExecutor,
    wait,
)
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vigil.batch.chunking import adaptive_chunk_size, plan_chunks
from vigil.batch.discover import split_pending, tracking_output_path
from vigil.batch.engines import check_engine
from vigil.batch.objects import object_model_path
from vigil.batch.output import (
    ABSENT,
    SCHEMA_VERSION,
    SEED_FORMAT_VERSION,
    Absent,
    PerformanceMetrics,
    TrackingMetadata,
    cpu_percent,
)
from vigil.batch.planning import planned_workers
from vigil.batch.process import ChunkResult, ChunkTask, FrameObs, shared_chunk
from vigil.batch.profiling import profiling_line
from vigil.batch.progress import BatchProgress, VideoProgress, VideoState, overall_fraction
from vigil.batch.settings import BatchSettings, output_engine_name
from vigil.batch.shots import scene_cuts
from vigil.batch.speaking import AudioActivity, find_audio_activity
from vigil.batch.stitch import VideoStitcher, blendshape_estimator
from vigil.batch.video import VideoInfo, probe_video
from vigil.batch.worker import init_worker
from vigil.batch.writer import TrackingWriter
from vigil.errors import ConfigError, VigilError
from vigil.jobs.shared import Shared
from vigil.jobs.workers import ExecutorSettings, ReadsInput, chunk_executor, pool_capacity, start_pool

__all__ = ["BatchProgress", "BatchReport", "VideoProgress", "run_batch"]

log = logging.getLogger(__name__)
# The seed's manager lines go to their own loggers, so a caller can show them alone (vigil track
# shows the profiling lines; a server logs everything at INFO).
manager_log = logging.getLogger("vigil.batch.manager")
profiling_log = logging.getLogger("vigil.batch.profiling")

CHUNKS_IN_FLIGHT_PER_WORKER = 2
CHUNKS_AHEAD_PER_WORKER = 3  # submitted but not yet stitched, per video


@dataclass
class BatchReport:
    done: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: dict[Path, str] = field(default_factory=dict)  # video -> reason
    # Done, but with placeholder entries for frames that could not be read: video -> reason.
    partial: dict[Path, str] = field(default_factory=dict)


class _InlineExecutor(Executor):
    """`cpu_workers == 1`: run each chunk at submit time in this process (no spawn cost)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:
            future.set_exception(exc)
        return future


@dataclass
class _Job:
    video: Path
    output: Path
    info: VideoInfo
    chunks: list[tuple[int, int]]
    stitcher: VideoStitcher | None
    writer: TrackingWriter
    progress: VideoProgress
    started: float
    audio_future: Future[AudioActivity | None]  # computed in a thread while the first chunks run
    shared_info: Shared[VideoInfo]  # `info` for the chunks: one object, so Ray sends it once
    audio: AudioActivity | None = None
    layout: str | None = None
    submitted: int = 0
    stitched: int = 0
    results: dict[int, ChunkResult] = field(default_factory=dict)
    busy_s: float = 0.0
    cpu_s: float = 0.0  # workers' CPU on its chunks + the parent's stitching
    peak_rss_mb: float = 0.0
    missing: int = 0
    seek_fallbacks: int = 0

    @property
    def complete(self) -> bool:
        return self.stitched == len(self.chunks)


# Frames this large cost enough to decode (>= ~3 ms here) that pre-roll matters (see below).
LONG_GOP_MIN_PIXELS = 960 * 540


def chunk_size_for(info: VideoInfo, settings: BatchSettings) -> int | None:
    """The chunk size to plan with: the fixed one when set; else the seed's adaptive size (None),
    raised to one GOP (at most total/workers) for large frames whose keyframes are further apart.

    Each chunk decodes from the keyframe before its first frame: chunks shorter than a GOP spend
    most of their decoding on frames they throw away. Measured on the 1080p crowd clip (one
    keyframe in 105 frames): 20-frame chunks cost 34% more CPU than two 53-frame chunks. At 360p
    decoding is ~15x cheaper and the seed's shorter chunks balance the workers better."""
    if settings.chunk_size:
        return settings.chunk_size
    workers, total = settings.cpu_workers, info.total_frames
    adaptive = adaptive_chunk_size(total, workers, settings.chunk_min, settings.chunk_max)
    gop = math.ceil(total / max(len(info.keyframes), 1))
    if gop <= adaptive or info.width * info.height < LONG_GOP_MIN_PIXELS:
        return None
    size = min(settings.chunk_max, max(adaptive, min(gop, math.ceil(total / workers))))
    log.info("%s: keyframes every ~%d frames: %d-frame chunks", info.path.name, gop, size)
    return size


class _Batch:
    def __init__(
        self,
        settings: BatchSettings,
        out_dir: Path | None,
        on_progress: Callable[[BatchProgress], None] | None,
        cancel: threading.Event | None,
        executor: Executor | None = None,
        chunks: ExecutorSettings | None = None,
    ) -> None:
        self.settings, self.out_dir = settings, out_dir
        self.chunks = chunks or chunk_executor()
        self._own_executor = executor is None
        self.on_progress, self.cancel = on_progress, cancel or threading.Event()
        self.report = BatchReport()
        self.progress: dict[Path, VideoProgress] = {}
        self.jobs: list[_Job] = []
        self.in_flight: dict[Future[ChunkResult], tuple[_Job, int]] = {}
        self.executor: Executor = executor if executor is not None else self._new_executor()
        # Audio (Silero VAD over the whole track, ~0.3 s per 10 s of video) is read once per video
        # in this thread, started with the video, so the stitching of its first chunk does not wait.
        self._audio_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vigil-audio")

    # ------------------------------------------------------------ setup
    def _new_executor(self) -> Executor:
        if self.settings.cpu_workers == 1:
            return _InlineExecutor()
        return start_pool(self.chunks, self.settings.cpu_workers, init_worker, (self.settings,))

    def _start(self, video: Path) -> _Job | None:
        progress = self.progress[video]
        try:
            info = probe_video(video)
            writer = TrackingWriter(tracking_output_path(video, self.out_dir))
        except VigilError as exc:
            self._fail(progress, str(exc))
            return None
        except OSError as exc:  # e.g. a read-only folder next to the video: use --out-dir
            self._fail(progress, f"cannot write the output: {exc}")
            return None
        chunks = plan_chunks(
            info.total_frames,
            self.settings.cpu_workers,
            chunk_size_for(info, self.settings),
            self.settings.chunk_min,
            self.settings.chunk_max,
        )
        progress.total_frames, progress.chunks_total, progress.state = (
            info.total_frames,
            len(chunks),
            "running",
        )
        log.info("%s: %d frames, %d chunks", video.name, info.total_frames, len(chunks))
        return _Job(
            video=video,
            output=writer.path,
            info=info,
            chunks=chunks,
            stitcher=None,  # created with the first result: it needs the engine's landmark layout
            writer=writer,
            progress=progress,
            started=time.perf_counter(),
            audio_future=self._audio_thread.submit(self._audio, video, info),
            shared_info=Shared(info),
        )

    @staticmethod
    def _audio(video: Path, info: VideoInfo) -> AudioActivity | None:
        """Speech per frame, once per video. A malformed STEP4 audio JSON is set aside with a
        warning (metadata audio_warnings); an unreadable audio track only loses the audio source."""
        try:
            return find_audio_activity(video, info.fps, info.total_frames)
        except Exception as exc:
            log.warning("%s: audio unavailable (%s); speaking uses the mouth only", video.name, exc)
            return None

    # ------------------------------------------------------------ main loop
    def run(self, videos: Sequence[Path], force: bool) -> BatchReport:
        todo, skipped = split_pending(videos, self.out_dir, force)
        for video in videos:
            state: VideoState = "skipped" if video in skipped else "pending"
            self.progress.setdefault(video, VideoProgress(video, 0, 0, 0, 0, state))
        self.report.skipped = list(skipped)
        pending = deque(todo)
        self._emit()
        try:
            while (pending or self.jobs) and not self.cancel.is_set():
                while pending and len(self.jobs) < self.settings.parallel_videos:
                    job = self._start(pending.popleft())
                    if job is not None:
                        self.jobs.append(job)
                    self._emit()
                self._submit()
                self._collect()
        except BaseException:  # Ctrl-C or a bug: stop like a cancel (no waiting for workers)
            self.cancel.set()
            raise
        finally:
            self._shutdown()
        return self.report

    def _submit(self) -> None:
        limit = max(1, self.settings.cpu_workers * CHUNKS_IN_FLIGHT_PER_WORKER)
        ahead = max(2, self.settings.cpu_workers * CHUNKS_AHEAD_PER_WORKER)
        progressed = True
        while progressed and len(self.in_flight) < limit and not self.cancel.is_set():
            progressed = False
            for job in list(self.jobs):  # round-robin over the active videos
                if len(self.in_flight) >= limit:
                    break
                if job.submitted < len(job.chunks) and job.submitted - job.stitched < ahead:
                    first, last = job.chunks[job.submitted]
                    task = ChunkTask(job.video, job.submitted, first, last, self.settings)
                    # On a node that does not see the video, the chunk fails naming node and path.
                    work = ReadsInput(shared_chunk, str(job.video))
                    future = self.executor.submit(work, task, job.shared_info)
                    self.in_flight[future] = (job, job.submitted)
                    job.submitted += 1
                    progressed = True

    def _collect(self) -> None:
        if not self.in_flight:
            return
        done, _ = wait(list(self.in_flight), timeout=0.5, return_when=FIRST_COMPLETED)
        broken = False
        for future in done:
            job, index = self.in_flight.pop(future)
            if job not in self.jobs:
                continue  # the video already failed
            try:
                result = future.result()
            except BrokenProcessPool:
                broken = True
                self._fail_job(job, "a worker process crashed (killed or out of memory)")
                continue
            except Exception as exc:
                self._fail_job(job, f"{type(exc).__name__}: {exc}")
                continue
            self._accept(job, index, result)
        if broken:
            self._restart_pool()
        self._emit()

    def _accept(self, job: _Job, index: int, result: ChunkResult) -> None:
        job.results[index] = result
        for window in result.profile:
            profiling_log.info(profiling_line(job.video.name, index, result.pid, window))
        first, last = job.chunks[index]
        job.progress.chunks_done += 1
        job.progress.frames_done += last - first + 1
        try:
            while job.stitched in job.results:
                self._stitch(job, job.results.pop(job.stitched))
                job.stitched += 1
            if job.complete:
                self._finish(job)
        except (VigilError, ValueError, OSError) as exc:
            self._fail_job(job, f"{type(exc).__name__}: {exc}")

    def _stitch(self, job: _Job, result: ChunkResult) -> None:
        if job.stitcher is None:
            job.audio = job.audio_future.result()
            cuts, warning = scene_cuts(job.video)  # the seed's STEP3 CSV, when there is one
            job.stitcher = VideoStitcher(self.settings, job.info.fps, job.audio, result.layout, cuts, warning)
            job.layout = result.layout
        stitch_cpu = time.thread_time()
        for obs in result.frames:
            job.writer.write_frame(job.stitcher.entry(obs))
        job.cpu_s += result.cpu_s + time.thread_time() - stitch_cpu
        job.busy_s += result.busy_s
        job.peak_rss_mb = max(job.peak_rss_mb, result.peak_rss_mb)
        job.missing += len(result.missing)
        job.seek_fallbacks += result.seek_fallbacks

    def _finish(self, job: _Job) -> None:
        assert job.stitcher is not None
        self._write_truncated(job)
        total = job.info.listed_frames
        reasons = _partial_reasons(job)
        parent_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        wall = time.perf_counter() - job.started
        engine = output_engine_name(self.settings.resolved_engine)
        metadata = TrackingMetadata(
            video_path=str(job.video),
            total_frames=total,
            fps=round(job.info.fps, 4),
            tracking_engine=engine,
            processing_time_sec=round(wall, 3),
            schema_version=SCHEMA_VERSION,
            version=SEED_FORMAT_VERSION,
            engine=engine,
            detection_stats=job.stitcher.stats.summary(),
            performance_metrics=PerformanceMetrics(
                avg_frame_processing_ms=round(job.busy_s * 1000 / max(total, 1), 3),
                max_memory_usage_mb=round(max(parent_rss, job.peak_rss_mb), 1),
                cpu_utilization_percent=cpu_percent(job.cpu_s, wall),
            ),
            width=job.info.width,
            height=job.info.height,
            landmark_layout=job.layout,
            blendshapes_profile=self.settings.blendshapes_profile,
            detect_every_n=self.settings.detect_every_n,
            chunks=len(job.chunks),
            workers=self.settings.cpu_workers,
            audio_source=None if job.audio is None else job.audio.source,
            audio_warnings=_audio_warnings(job.audio),
            undecodable_frames=job.missing,
            shot_cuts=job.stitcher.shots.cuts,
            scene_csv_warning=job.stitcher.shots.warning,
            status="partial" if reasons else "complete",
            partial_reasons=reasons or ABSENT,
            placeholder_frames=job.missing + job.info.truncated_frames,
        )
        job.writer.commit(metadata)
        job.progress.state = "done"
        self.jobs.remove(job)
        self.report.done.append(job.video)
        manager_log.info("[Gestionnaire] Succès pour %s", job.video.name)
        if reasons:
            self.report.partial[job.video] = "; ".join(reasons)
            log.warning("%s: partial: %s", job.video.name, "; ".join(reasons))
        log.info("%s: done -> %s", job.video.name, job.output)

    # ------------------------------------------------------------ failures and shutdown
    def _fail(self, progress: VideoProgress, reason: str) -> None:
        progress.state, progress.error = "failed", reason
        self.report.failed[progress.video] = reason
        log.error("%s failed: %s", progress.video.name, reason)
        manager_log.info("[Gestionnaire] Échec pour %s", progress.video.name)

    def _fail_job(self, job: _Job, reason: str) -> None:
        job.writer.abort()
        if job in self.jobs:
            self.jobs.remove(job)
        for future, (owner, _) in list(self.in_flight.items()):
            if owner is job:
                future.cancel()
        self._fail(job.progress, reason)

    def _restart_pool(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        for _, (job, _) in list(self.in_flight.items()):
            if job in self.jobs:
                self._fail_job(job, "a worker process crashed (killed or out of memory)")
        self.in_flight.clear()
        self.executor, self._own_executor = self._new_executor(), True

    def _shutdown(self) -> None:
        cancelled = self.cancel.is_set()
        for future in self.in_flight:
            future.cancel()
        if self._own_executor:
            self.executor.shutdown(wait=not cancelled, cancel_futures=True)
        self._audio_thread.shutdown(wait=False, cancel_futures=True)
        for job in list(self.jobs):  # interrupted: nothing half-written stays behind
            job.writer.abort()
            job.progress.error = "cancelled"
        self.jobs.clear()
        self._emit()

    def _emit(self) -> None:
        if self.on_progress is None:
            return
        videos = [dataclasses.replace(v) for v in self.progress.values()]  # snapshots: ours keep changing
        self.on_progress(BatchProgress(videos, overall_fraction(videos)))

    @staticmethod
    def _write_truncated(job: _Job) -> None:
        """Placeholder entries (no tracked object) for the frames a truncated file lost, so the
        output stays dense 1..N over the frames its index lists (seed 000)."""
        assert job.stitcher is not None
        info = job.info
        for number in range(info.total_frames + 1, info.listed_frames + 1):
            job.writer.write_frame(job.stitcher.entry(FrameObs(number, decoded=False)))


def _partial_reasons(job: _Job) -> list[str]:
    info, reasons = job.info, []
    if info.truncated_frames:
        reasons.append(
            f"truncated file: its index lists {info.expected_frames} frames but only {info.packets} can "
            f"be read; frames {info.total_frames + 1}-{info.listed_frames} are placeholders"
        )
    if job.missing:
        reasons.append(f"{job.missing} frame(s) could not be decoded; their entries are placeholders")
    return reasons


def _audio_warnings(audio: AudioActivity | None) -> list[str] | Absent:
    return list(audio.warnings) if audio is not None and audio.warnings else ABSENT


def run_batch(
    videos: Sequence[Path],
    settings: BatchSettings,
    *,
    out_dir: Path | None = None,
    force: bool = False,
    on_progress: Callable[[BatchProgress], None] | None = None,
    cancel: threading.Event | None = None,
    executor: Executor | None = None,
    executor_settings: ExecutorSettings | None = None,
) -> BatchReport:
    """Track `videos` into `<stem>_tracking.json` files (next to each video, or in `out_dir`).

    Videos with an existing output are skipped unless `force`. Raises ModelError/ConfigError
    before any work when the engine cannot run or the blendshape export settings are invalid;
    per-video problems land in `report.failed`.
    A set `cancel` event stops submitting work; unfinished videos are left out of the report
    and their partial outputs removed. `executor` reuses a caller's process pool (initialised with
    `init_worker`, e.g. already warm in a benchmark); it is not shut down. Without one, the pool
    is started where `executor_settings` says (default: the job system's executor when a job runs
    this, else local processes), and unless `cpu_workers` was set (flag, env, YAML) it gets as
    many workers as the work repays, at most the CPU count (of the Ray cluster on Ray: planning.py).
    One worker runs the chunks in this process, whatever the executor."""
    check_engine(settings)
    if settings.enable_object_detection:
        object_model_path(settings)  # an unknown model name or a missing model file fails here
    try:
        blendshape_estimator(settings)  # a bad export profile fails here, before any work
    except ValueError as exc:
        raise ConfigError(f"invalid blendshape export settings: {exc}") from exc
    chunks = executor_settings or chunk_executor()
    if executor is None and "cpu_workers" not in settings.model_fields_set:
        capacity = pool_capacity(chunks) if chunks.is_ray else settings.cpu_workers
        todo, _ = split_pending(videos, out_dir, force)
        workers = planned_workers(capacity, todo)
        if workers != settings.cpu_workers:
            log.info("%d worker(s) for this work (at most %d)", workers, capacity)
            settings = settings.model_copy(update={"cpu_workers": workers})
    return _Batch(settings, out_dir, on_progress, cancel, executor, chunks).run(videos, force)
