"""`JobManager`: submits, cancels and recovers jobs; the database holds the truth.

One scheduler per database: only the manager holding the scheduler lock
(`vigil.store.scheduler_lock`) recovers and runs jobs. Another server on the same database is a
standby: it queues jobs (the bound is the database's) and cancels them, retries the lock at every
poll, and takes over (recovery included) when the holder stops or dies.

The path of a job: `submit` checks the queue bound and inserts a `queued` row. The scheduler's
thread (woken by a local submit, else polling every `poll_interval_s`) hands every queued row it
has not handed yet to the executor, oldest first, so jobs queued by other processes run too.
When its turn comes the executor claims it (`queued -> running`; a job cancelled meanwhile is
skipped), runs the kind, and the manager records the outcome. Progress reports are written at
most every `progress_interval_s`; each write also reads the state back, so a cancel made by
another process (`vigil jobs cancel`, a standby) reaches the run within one interval.

Restart: on taking the lock the manager re-queues jobs a stopped scheduler left `running` when
their kind can resume (batch tracking: finished videos are skipped, unfinished outputs were
never written), marks the others failed ("interrupted by a server restart"), finishes
`cancelling` ones as cancelled, and runs every `queued` job in creation order. A queued job of a
kind this server does not know fails ("unknown job kind"). `shutdown()` stops the running job
the same way (back to `queued` when resumable, else failed) and releases the lock. Old finished
jobs are pruned at each submit and every `prune_interval_s` by the scheduler."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from functools import partial

from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

from vigil.jobs.config import JobsConfig
from vigil.jobs.errors import JobAlreadyFinished, JobNotFound
from vigil.jobs.executor import Executor, create_executor
from vigil.jobs.kinds import AnyKind, get_kind, registry
from vigil.jobs.model import JobOutcome, JobProgress, JobRecord, JobState
from vigil.store.jobs import JobRepository, Recovery
from vigil.store.scheduler_lock import SchedulerLock, scheduler_lock

log = logging.getLogger(__name__)
SHUTDOWN = "interrupted by a server shutdown"
POLL_INTERVAL_S = 1.0  # how often the scheduler looks for jobs queued elsewhere (a standby: the lock)
PRUNE_INTERVAL_S = 300.0  # how often old finished jobs are deleted on an idle server


class _Control:
    """The manager's side of one submitted job: its cancel event and progress writes."""

    def __init__(
        self, repo: JobRepository, job_id: str, interval_s: float, epoch: int, current: Callable[[int], bool]
    ) -> None:
        self.repo, self.job_id, self.interval_s = repo, job_id, interval_s
        self.epoch, self._current = epoch, current
        self.cancel = threading.Event()
        self.latest: JobProgress | None = None
        self._written_at = 0.0

    def start(self) -> bool:
        return self._current(self.epoch) and self.repo.claim(self.job_id)

    def report(self, progress: JobProgress) -> None:
        self.latest = progress
        now = time.monotonic()
        if now - self._written_at < self.interval_s:
            return
        self._written_at = now
        if not self._current(self.epoch):  # the lock was lost: the row is no longer ours
            self.cancel.set()
            return
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
        lock: SchedulerLock | None = None,
        progress_interval_s: float = 0.5,
        poll_interval_s: float = POLL_INTERVAL_S,
        prune_interval_s: float = PRUNE_INTERVAL_S,
    ) -> None:
        self.repo, self.config = repo, config
        self.kinds = registry() if kinds is None else kinds
        self.executor: Executor = executor if executor is not None else create_executor(config, self.kinds)
        self.lock = lock if lock is not None else scheduler_lock(repo.db)
        self.progress_interval_s = progress_interval_s
        self.poll_interval_s, self.prune_interval_s = poll_interval_s, prune_interval_s
        self._controls: dict[str, _Control] = {}  # jobs handed to the executor by this process
        # Re-entrant: a future already done runs `_on_done` inside `_dispatch`, under this lock.
        self._lock = threading.RLock()
        self._stopping = False
        # Which holding of the scheduler lock this is (0: not the scheduler). A job remembers the
        # epoch it was dispatched in and writes nothing once the lock was lost meanwhile.
        self._epoch = self._last_epoch = 0
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pruned_at = 0.0

    @property
    def is_scheduler(self) -> bool:
        """True while this manager holds the database's scheduler lock (it runs the jobs)."""
        return self._epoch > 0

    # ------------------------------------------------------------ life
    def start(self) -> Recovery:
        """Take the scheduler lock if free: then recover what a stopped server left active and
        run the queued jobs. Without it this manager is a standby (it queues and cancels jobs,
        and takes over when the holder stops). Either way a scheduler thread keeps polling."""
        recovery = self._try_become_scheduler()
        if not self.is_scheduler:
            log.info("another server runs this database's jobs: this one queues and cancels only")
        self._thread = threading.Thread(target=self._schedule_loop, name="vigil-jobs-scheduler", daemon=True)
        self._thread.start()
        return recovery or Recovery()

    def shutdown(self) -> None:
        """Stop the running job (re-queued when resumable), leave queued jobs queued, and hand
        the scheduler lock over (a standby takes it)."""
        with self._lock:
            self._stopping = True
            controls = list(self._controls.values())
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        for control in controls:
            control.cancel.set()
        self.executor.shutdown()
        with self._lock:
            self._epoch = 0
        self.lock.release()

    def _try_become_scheduler(self) -> Recovery | None:
        if self.is_scheduler or not self.lock.try_acquire():
            return None
        with self._lock:
            if self._stopping:
                self.lock.release()
                return None
            self._last_epoch += 1
            self._epoch = self._last_epoch
        recovery = self._recover()
        self._prune()
        self._dispatch_queued()
        return recovery

    def _recover(self) -> Recovery:
        """What the previous scheduler left active: resumed, failed or cancelled."""
        recovery = self.repo.recover(self._resumable)
        for job_id in recovery.requeued:
            self._restart_progress(self.get(job_id))
            log.warning("job %s was interrupted by a restart: it runs again", job_id)
        for job_id in recovery.failed:
            log.warning("job %s was interrupted by a restart and cannot resume: failed", job_id)
        return recovery

    def _schedule_loop(self) -> None:
        while True:
            self._wake.wait(self.poll_interval_s)
            self._wake.clear()
            if self._stopping:
                return
            try:
                self._tick()
            except Exception:  # a database hiccup: try again at the next tick
                log.exception("job scheduler: tick failed")

    def _tick(self) -> None:
        if not self.is_scheduler:
            self._try_become_scheduler()
            return
        if not self.lock.still_held():
            self._lose_lock()
            return
        self._dispatch_queued()
        if time.monotonic() - self._pruned_at >= self.prune_interval_s:
            self._prune()

    def _lose_lock(self) -> None:
        """Another server may now run our jobs: stop ours and write nothing more about them."""
        with self._lock:
            self._epoch = 0
            controls = list(self._controls.values())
        for control in controls:
            control.cancel.set()
        log.error(
            "lost the job scheduler lock: %d running job(s) stopped, left to the next scheduler",
            len(controls),
        )

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
        self._wake.set()  # the scheduler thread hands it over (a standby: the holder's poll does)
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
    def _dispatch_queued(self) -> None:
        """Hand every queued job not handed yet to the executor, oldest first (also the jobs
        other processes queued). Under `_lock`, so a job is never handed over twice."""
        with self._lock:
            if self._stopping or not self.is_scheduler:
                return
            for record in self.repo.list(states=[JobState.QUEUED]):
                if record.id not in self._controls:
                    self._dispatch(record)

    def _dispatch(self, record: JobRecord) -> None:
        if record.kind not in self.kinds:
            self._refuse(record, f"unknown job kind {record.kind}: this server cannot run it")
            return
        control = _Control(self.repo, record.id, self.progress_interval_s, self._epoch, self._current)
        try:
            future = self.executor.submit(record.payload, control)
        except Exception as exc:  # this job cannot run; the others still can
            log.exception("job %s (%s): the executor refused it", record.id, record.kind)
            self._refuse(record, f"executor error: {type(exc).__name__}: {exc}")
            return
        self._controls[record.id] = control
        future.add_done_callback(partial(self._on_done, record, control))

    def _refuse(self, record: JobRecord, error: str) -> None:
        log.error("job %s failed: %s", record.id, error)
        if not self.repo.finish(record.id, JobState.FAILED, record.progress, None, error):
            log.error("job %s: its failure was not recorded (it had already ended)", record.id)

    def _current(self, epoch: int) -> bool:
        return epoch == self._epoch

    def _on_done(self, record: JobRecord, control: _Control, future: Future[JobOutcome | None]) -> None:
        with self._lock:
            if self._controls.get(record.id) is control:
                del self._controls[record.id]
        if future.cancelled():
            return  # never started (shutdown): still queued, it runs at the next start
        error = future.exception()
        outcome = (
            JobOutcome(state=JobState.FAILED, error=f"executor error: {error}")
            if error is not None
            else future.result()
        )
        if outcome is None:  # cancelled while queued, already recorded
            return
        if not self._current(control.epoch):
            log.error(
                "job %s ended (%s) after this server lost the scheduler lock: not recorded, "
                "the next scheduler recovers it",
                record.id,
                outcome.state,
            )
            return
        self._record(record, control, outcome)

    def _record(self, record: JobRecord, control: _Control, outcome: JobOutcome) -> None:
        progress = control.latest or record.progress
        stopped_by_server = outcome.state == JobState.CANCELLED and self._state(record.id) == JobState.RUNNING
        if stopped_by_server and self._resumable(record.kind):
            if self.repo.requeue(record.id):
                self._restart_progress(record)
                log.info("job %s stopped by the shutdown: it resumes at the next start", record.id)
                return
            written = self.repo.finish(record.id, JobState.CANCELLED, progress, outcome.result)
        elif stopped_by_server:
            written = self.repo.finish(record.id, JobState.FAILED, progress, outcome.result, SHUTDOWN)
        else:
            written = self.repo.finish(record.id, outcome.state, progress, outcome.result, outcome.error)
        if not written:
            log.error(
                "job %s: its end (%s) was not recorded: the row had already ended or was removed",
                record.id,
                outcome.state,
            )

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
        self._pruned_at = time.monotonic()
        days = self.config.keep_days
        before = datetime.now(UTC) - timedelta(days=days) if days > 0 else None
        self.repo.prune(self.config.keep_finished, before)
