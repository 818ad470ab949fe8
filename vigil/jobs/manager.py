"""`JobManager`: submits, cancels and recovers jobs; the database holds the truth.

The path of a job: `submit` checks the queue bound and inserts a `queued` row, then hands the
payload to the executor. When its turn comes the executor claims it (`queued -> running`; a job
cancelled meanwhile is skipped), runs the kind, and the manager records the outcome. Progress
reports are written at most every `progress_interval_s`; each write also reads the state back,
so a cancel made by another process (`vigil jobs cancel`) reaches the run within one interval.

Restart: `start()` re-queues jobs a stopped server left `running` when their kind can resume
(batch tracking: finished videos are skipped, unfinished outputs were never written), marks
the others failed ("interrupted by a server restart"), finishes `cancelling` ones as cancelled,
and runs every `queued` job again in creation order. `shutdown()` stops the running job the same
way: back to `queued` when resumable, else failed."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from functools import partial

from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

from vigil.jobs.config import JobsConfig
from vigil.jobs.errors import JobAlreadyFinished, JobNotFound
from vigil.jobs.executor import Executor, LocalExecutor
from vigil.jobs.kinds import AnyKind, get_kind, registry
from vigil.jobs.model import JobOutcome, JobProgress, JobRecord, JobState
from vigil.store.jobs import JobRepository, Recovery

log = logging.getLogger(__name__)
SHUTDOWN = "interrupted by a server shutdown"


class _Control:
    """The manager's side of one submitted job: its cancel event and progress writes."""

    def __init__(self, repo: JobRepository, job_id: str, interval_s: float) -> None:
        self.repo, self.job_id, self.interval_s = repo, job_id, interval_s
        self.cancel = threading.Event()
        self.latest: JobProgress | None = None
        self._written_at = 0.0

    def start(self) -> bool:
        return self.repo.claim(self.job_id)

    def report(self, progress: JobProgress) -> None:
        self.latest = progress
        now = time.monotonic()
        if now - self._written_at < self.interval_s:
            return
        self._written_at = now
        try:
            state = self.repo.save_progress(self.job_id, progress)
        except SQLAlchemyError as exc:  # a database hiccup must not fail hours of work
            log.warning("job %s: progress not saved (%s)", self.job_id, exc)
            return
        if state == JobState.CANCELLING:
            self.cancel.set()


class JobManager:
    def __init__(
        self,
        repo: JobRepository,
        config: JobsConfig,
        *,
        executor: Executor | None = None,
        kinds: Mapping[str, AnyKind] | None = None,
        progress_interval_s: float = 0.5,
    ) -> None:
        self.repo, self.config = repo, config
        self.kinds = registry() if kinds is None else kinds
        self.executor: Executor = executor if executor is not None else LocalExecutor(self.kinds)
        self.progress_interval_s = progress_interval_s
        self._controls: dict[str, _Control] = {}  # jobs handed to the executor by this process
        self._lock = threading.Lock()
        self._stopping = False

    # ------------------------------------------------------------ life
    def start(self) -> Recovery:
        """Recover what a stopped server left active, then run the queued jobs."""
        recovery = self.repo.recover(self._resumable)
        for job_id in recovery.requeued:
            self._restart_progress(self.get(job_id))
            log.warning("job %s was interrupted by a restart: it runs again", job_id)
        for job_id in recovery.failed:
            log.warning("job %s was interrupted by a restart and cannot resume: failed", job_id)
        self._prune()
        for record in self.repo.list(states=[JobState.QUEUED]):
            self._dispatch(record)
        return recovery

    def shutdown(self) -> None:
        """Stop the running job (re-queued when resumable) and leave queued jobs queued."""
        with self._lock:
            self._stopping = True
            controls = list(self._controls.values())
        for control in controls:
            control.cancel.set()
        self.executor.shutdown()

    # ------------------------------------------------------------ requests
    def submit(self, kind_name: str, params: BaseModel) -> JobRecord:
        """Queue a job (JobQueueFull when `max_active` jobs are already queued or running)."""
        kind = get_kind(kind_name, self.kinds)
        if not isinstance(params, kind.params_model):
            raise TypeError(
                f"{kind_name} jobs take {kind.params_model.__name__}, not {type(params).__name__}"
            )
        record = JobRecord(
            id=uuid.uuid4().hex,
            kind=kind.name,
            params=params.model_dump(mode="json"),
            state=JobState.QUEUED,
            progress=kind.initial_progress(params),
            created_at=datetime.now(UTC),
        )
        self.repo.insert(record, self.config.max_active)
        self._prune()
        self._dispatch(record)
        return record

    def get(self, job_id: str) -> JobRecord:
        record = self.repo.get(job_id)
        if record is None:
            raise JobNotFound(job_id)
        return record

    def list(self, kind: str | None = None) -> list[JobRecord]:
        return self.repo.list(kind=kind)

    def cancel(self, job_id: str) -> JobRecord:
        """queued: cancelled at once; running: cancelling until it stops after its current step."""
        outcome = self.repo.request_cancel(job_id)
        if outcome is None:
            raise JobNotFound(job_id)
        record, accepted = outcome
        if not accepted:
            raise JobAlreadyFinished(job_id, record.state)
        with self._lock:
            control = self._controls.get(job_id)
        if control is not None:
            control.cancel.set()
        return record

    # ------------------------------------------------------------ running
    def _dispatch(self, record: JobRecord) -> None:
        control = _Control(self.repo, record.id, self.progress_interval_s)
        with self._lock:
            if self._stopping:
                return
            self._controls[record.id] = control
        future = self.executor.submit(record.payload, control)
        future.add_done_callback(partial(self._on_done, record, control))

    def _on_done(self, record: JobRecord, control: _Control, future: Future[JobOutcome | None]) -> None:
        with self._lock:
            self._controls.pop(record.id, None)
        if future.cancelled():
            return  # never started (shutdown): still queued, it runs at the next start
        error = future.exception()
        outcome = (
            JobOutcome(state=JobState.FAILED, error=f"executor error: {error}")
            if error is not None
            else future.result()
        )
        if outcome is not None:  # None: cancelled while queued, already recorded
            self._record(record, control, outcome)

    def _record(self, record: JobRecord, control: _Control, outcome: JobOutcome) -> None:
        progress = control.latest or record.progress
        stopped_by_server = outcome.state == JobState.CANCELLED and self._state(record.id) == JobState.RUNNING
        if stopped_by_server and self._resumable(record.kind) and self.repo.requeue(record.id):
            self._restart_progress(record)
            log.info("job %s stopped by the shutdown: it resumes at the next start", record.id)
        elif stopped_by_server and not self._resumable(record.kind):
            self.repo.finish(record.id, JobState.FAILED, progress, outcome.result, SHUTDOWN)
        else:
            self.repo.finish(record.id, outcome.state, progress, outcome.result, outcome.error)

    def _restart_progress(self, record: JobRecord) -> None:
        """A re-queued job shows the progress of a job not started yet, until it runs again."""
        kind = self.kinds[record.kind]
        self.repo.save_progress(record.id, kind.initial_progress(kind.params_of(record)))

    def _state(self, job_id: str) -> JobState | None:
        record = self.repo.get(job_id)
        return None if record is None else record.state

    def _resumable(self, kind_name: str) -> bool:
        kind = self.kinds.get(kind_name)
        return kind is not None and kind.resumable

    def _prune(self) -> None:
        days = self.config.keep_days
        before = datetime.now(UTC) - timedelta(days=days) if days > 0 else None
        self.repo.prune(self.config.keep_finished, before)
