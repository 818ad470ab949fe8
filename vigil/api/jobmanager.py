"""Background batch jobs: each job runs `run_batch` in its own thread, one job at a time.

At most `max_active` jobs are queued or running (`JobQueueFull` beyond, so a client looping on
POST cannot pile up threads), and only the newest `keep_finished` finished jobs are remembered.

Only one job runs at a time because a job already spreads every video over all CPU workers;
later jobs wait in state `queued` and start in submission order. Cancelling sets the job's
`threading.Event`, which `run_batch` checks between chunks; a queued job leaves the queue.
Progress arrives through `run_batch`'s `on_progress` callback and is copied into plain values
under the job's lock, so readers never see the runner's objects half-updated.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from vigil.batch.runner import BatchProgress, BatchReport, run_batch
from vigil.batch.settings import BatchSettings

log = logging.getLogger(__name__)

JobState = Literal["queued", "running", "cancelling", "done", "failed", "cancelled"]
# The runner's video states, plus `cancelled` for videos a cancelled job left unfinished.
VideoState = Literal["pending", "running", "done", "failed", "skipped", "cancelled"]
ACTIVE_STATES: frozenset[str] = frozenset({"queued", "running", "cancelling"})


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class VideoSnapshot:
    video: str
    state: VideoState = "pending"
    frames_done: int = 0
    total_frames: int = 0
    chunks_done: int = 0
    chunks_total: int = 0
    error: str | None = None


@dataclass
class Job:
    """One batch run. Mutable fields change only under `lock`; read them through `snapshot()`."""

    id: str
    videos: list[Path]
    settings: BatchSettings
    out_dir: Path | None
    force: bool
    options: dict[str, Any]
    cancel: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    state: JobState = "queued"
    created_at: str = field(default_factory=_now)
    started_at: str | None = None
    finished_at: str | None = None
    overall: float = 0.0
    per_video: list[VideoSnapshot] = field(default_factory=list)
    error: str | None = None
    report: dict[str, Any] | None = None
    thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.per_video = [VideoSnapshot(str(video)) for video in self.videos]

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            videos = [vars(video).copy() for video in self.per_video]
            errors = [{"video": v["video"], "error": v["error"]} for v in videos if v["error"]]
            if self.error is not None:
                errors.append({"video": None, "error": self.error})
            return {
                "id": self.id,
                "state": self.state,
                "created_at": self.created_at,
                "started_at": self.started_at,
                "finished_at": self.finished_at,
                "overall": self.overall,
                "videos": videos,
                "errors": errors,
                "report": self.report,
                "options": dict(self.options),
            }

    def snapshot_state(self) -> JobState:
        with self.lock:
            return self.state

    # ---- called from the job thread
    def on_progress(self, progress: BatchProgress) -> None:
        with self.lock:
            self.overall = min(max(float(progress.overall), 0.0), 0.99)
            mine = {snapshot.video: snapshot for snapshot in self.per_video}
            for update in progress.videos:
                snapshot = mine.get(str(update.video))
                if snapshot is None:  # the runner reports a path we did not list: show it too
                    snapshot = VideoSnapshot(str(update.video))
                    self.per_video.append(snapshot)
                snapshot.state = update.state
                snapshot.frames_done = int(update.frames_done)
                snapshot.total_frames = int(update.total_frames)
                snapshot.chunks_done = int(update.chunks_done)
                snapshot.chunks_total = int(update.chunks_total)
                snapshot.error = update.error

    def finish(self, state: JobState, error: str | None = None) -> None:
        with self.lock:
            self.state = state
            self.error = error
            self.finished_at = _now()

    def apply_report(self, report: BatchReport) -> None:
        done = {str(path) for path in report.done}
        skipped = {str(path) for path in report.skipped}
        failed = {str(path): reason for path, reason in report.failed.items()}
        with self.lock:
            for snapshot in self.per_video:
                if snapshot.video in done:
                    snapshot.state = "done"
                    snapshot.frames_done = max(snapshot.frames_done, snapshot.total_frames)
                elif snapshot.video in skipped:
                    snapshot.state = "skipped"
                elif snapshot.video in failed:
                    snapshot.state, snapshot.error = "failed", failed[snapshot.video]
                elif snapshot.state in ("pending", "running"):  # the job was cancelled
                    snapshot.state, snapshot.error = "cancelled", None
            self.report = {"done": sorted(done), "skipped": sorted(skipped), "failed": failed}
            if len(done) + len(skipped) + len(failed) >= len(self.videos):
                self.overall = 1.0


class JobQueueFull(RuntimeError):
    """Too many jobs are queued or running: the client should retry after one finished."""


class JobManager:
    """Owns every job of one app (kept on `app.state.jobs`)."""

    def __init__(self, max_active: int = 16, keep_finished: int = 100) -> None:
        self.max_active = max_active
        self.keep_finished = keep_finished
        self._jobs: dict[str, Job] = {}  # in submission order
        self._lock = threading.Lock()
        # Whose turn it is: jobs start in submission order, one at a time.
        self._turn = threading.Condition()
        self._waiting: deque[str] = deque()
        self._running: str | None = None

    def submit(
        self,
        videos: Sequence[Path],
        settings: BatchSettings,
        *,
        out_dir: Path | None,
        force: bool,
        options: dict[str, Any],
    ) -> Job:
        job = Job(uuid.uuid4().hex, list(videos), settings, out_dir, force, options)
        job.thread = threading.Thread(
            target=self._run, args=(job,), name=f"track-job-{job.id[:8]}", daemon=True
        )
        with self._lock:
            active = sum(1 for j in self._jobs.values() if j.snapshot_state() in ACTIVE_STATES)
            if active >= self.max_active:
                raise JobQueueFull(
                    f"{active} batch jobs are already queued or running (limit {self.max_active}): "
                    "retry when one has finished, or cancel one"
                )
            self._forget_old_finished()
            self._jobs[job.id] = job
        with self._turn:
            self._waiting.append(job.id)
        job.thread.start()
        return job

    def _forget_old_finished(self) -> None:
        """Drop the oldest finished jobs beyond `keep_finished` (caller holds `_lock`)."""
        finished = [i for i, j in self._jobs.items() if j.snapshot_state() not in ACTIVE_STATES]
        for job_id in finished[: max(0, len(finished) - self.keep_finished)]:
            del self._jobs[job_id]

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def cancel(self, job_id: str) -> tuple[Job, bool] | None:
        """Ask a job to stop: (job, False) when it had already finished, None for an unknown id."""
        job = self.get(job_id)
        if job is None:
            return None
        with job.lock:
            if job.state not in ACTIVE_STATES:
                return job, False
            job.cancel.set()
            job.state = "cancelling"
        with self._turn:
            self._turn.notify_all()  # a queued job leaves the queue at once
        return job, True

    def shutdown(self, timeout: float = 30.0) -> None:
        """Cancel every job and wait for their threads (the app is stopping)."""
        jobs = self.all()
        for job in jobs:
            self.cancel(job.id)
        for job in jobs:
            if job.thread is not None:
                job.thread.join(timeout)

    def _run(self, job: Job) -> None:
        with self._turn:
            while self._running is not None or self._waiting[0] != job.id:
                if job.cancel.is_set():
                    self._waiting.remove(job.id)
                    self._turn.notify_all()
                    job.finish("cancelled")
                    return
                self._turn.wait()
            self._running = self._waiting.popleft()
        try:
            self._run_started(job)
        finally:
            with self._turn:
                self._running = None
                self._turn.notify_all()

    def _run_started(self, job: Job) -> None:
        with job.lock:
            if job.cancel.is_set():
                job.state, job.finished_at = "cancelled", _now()
                return
            job.state, job.started_at = "running", _now()
        try:
            report = run_batch(
                job.videos,
                job.settings,
                out_dir=job.out_dir,
                force=job.force,
                on_progress=job.on_progress,
                cancel=job.cancel,
            )
        except Exception as exc:  # a job's failure is reported by GET, it must not kill the server
            log.exception("batch job %s failed", job.id)
            job.finish("failed", f"{type(exc).__name__}: {exc}")
            return
        job.apply_report(report)
        finished = len(report.done) + len(report.skipped) + len(report.failed)
        if job.cancel.is_set() and finished < len(job.videos):
            job.finish("cancelled")
        else:  # a cancel that came after the last video changes nothing
            job.finish("failed" if report.failed else "done")
