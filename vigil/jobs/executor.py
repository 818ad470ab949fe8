"""Where jobs run: the `Executor` protocol and the local implementation.

An executor receives a `JobPayload` (kind + JSON parameters) and a `JobControl`, and returns
a future of the `JobOutcome`. It needs neither the web app nor the database, so another
implementation can replace `LocalExecutor` behind the same protocol: it only has to carry the
payload, forward `report()` calls and honour the cancel event.

`jobs.executor: ray` keeps the job itself here (its thread reports progress and watches the
cancel event as locally) and sends its chunks to Ray: the job's thread runs with that executor
set (`vigil.jobs.workers.use_executor`), which the tracking, anonymisation and activity runs read
when they start their worker pools."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

from vigil.errors import ConfigError
from vigil.jobs.config import JobsConfig
from vigil.jobs.kinds import AnyKind, JobContext, get_kind
from vigil.jobs.model import JobOutcome, JobPayload, JobState
from vigil.jobs.workers import LOCAL, ExecutorSettings, use_executor

log = logging.getLogger(__name__)


class JobControl(JobContext, Protocol):
    def start(self) -> bool:
        """Called when the job's turn comes: False when it must not run (cancelled meanwhile)."""
        ...


class Executor(Protocol):
    def submit(self, payload: JobPayload, control: JobControl) -> Future[JobOutcome | None]:
        """Run the job when its turn comes; the outcome is None when `control.start()` said no."""
        ...

    def shutdown(self) -> None:
        """Drop jobs not started yet and wait for the running one (its cancel event is set)."""
        ...


def run_payload(payload: JobPayload, control: JobControl, kind: AnyKind) -> JobOutcome | None:
    """One job, start to end, in the calling thread; a crash of the run is a failed outcome."""
    if not control.start():
        return None
    try:
        return kind.execute(payload, control)
    except Exception as exc:  # the job fails, the executor carries on with the next one
        log.exception("job %s (%s) failed", payload.id, payload.kind)
        return JobOutcome(state=JobState.FAILED, error=f"{type(exc).__name__}: {exc}")


class LocalExecutor:
    """One job at a time, in submission order, on a thread of this process: a job already
    spreads its work over every core (the batch runner's process pool), or over a Ray cluster's
    (`chunks` on Ray)."""

    def __init__(self, kinds: Mapping[str, AnyKind] | None = None, chunks: ExecutorSettings = LOCAL) -> None:
        self._kinds = kinds
        self.chunks = chunks
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vigil-job")

    def submit(self, payload: JobPayload, control: JobControl) -> Future[JobOutcome | None]:
        kind = get_kind(payload.kind, self._kinds)
        return self._pool.submit(self._run, payload, control, kind)

    def _run(self, payload: JobPayload, control: JobControl, kind: AnyKind) -> JobOutcome | None:
        with use_executor(self.chunks):
            return run_payload(payload, control, kind)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def create_executor(config: JobsConfig, kinds: Mapping[str, AnyKind] | None = None) -> Executor:
    """The executor `jobs.executor` names: jobs run on a thread here either way; with `ray`
    their chunks run on the Ray cluster of `jobs.ray_address` (connected at the first job)."""
    if config.executor in ("local", "ray"):
        return LocalExecutor(kinds, ExecutorSettings.of(config))
    raise ConfigError(f"unknown jobs.executor {config.executor!r}: use local or ray")
