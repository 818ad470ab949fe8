"""One job scheduler per database (both backends): a second server is a standby that never
touches the running jobs, queues jobs the holder runs, and takes over when the holder stops or
dies. Also: jobs of unknown kinds, kind modules that fail to import, pruning on an idle server."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete

from tests.jobs_util import GATES, KINDS, STARTED, GateParams, wait_started, wait_state
from vigil.errors import ConfigError
from vigil.jobs.config import JobsConfig
from vigil.jobs.errors import JobQueueFull
from vigil.jobs.executor import JobControl, LocalExecutor, create_executor
from vigil.jobs.kinds import discover_kinds
from vigil.jobs.manager import JobManager
from vigil.jobs.model import JobOutcome, JobPayload, JobProgress, JobRecord, JobState
from vigil.store.database import Database
from vigil.store.jobs import INTERRUPTED, JOBS, JobRepository

POLL_S = 0.05


class SeenExecutor(LocalExecutor):
    """The local executor, remembering which jobs it was handed (which server ran them)."""

    def __init__(self) -> None:
        super().__init__(KINDS)
        self.seen: list[str] = []

    def submit(self, payload: JobPayload, control: JobControl) -> Future[JobOutcome | None]:
        self.seen.append(payload.id)
        return super().submit(payload, control)


@pytest.fixture
def managers() -> Iterator[list[JobManager]]:
    made: list[JobManager] = []
    yield made
    for gate_event in GATES.values():
        gate_event.set()
    for manager in made:
        manager.shutdown()


def server(db: Database, made: list[JobManager], **config: float) -> tuple[JobManager, SeenExecutor]:
    """A started manager, as a `vigil serve` on this database would have."""
    executor = SeenExecutor()
    manager = JobManager(
        JobRepository(db),
        JobsConfig(**config),
        executor=executor,
        kinds=KINDS,
        progress_interval_s=0.01,
        poll_interval_s=POLL_S,
    )
    manager.start()
    made.append(manager)
    return manager, executor


def gate(name: str | None = None) -> GateParams:
    name = name or uuid.uuid4().hex
    GATES[name], STARTED[name] = threading.Event(), threading.Event()
    return GateParams(gate=name)


def eventually(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def queued_row(repo: JobRepository, kind: str, params: GateParams) -> str:
    record = JobRecord(
        id=uuid.uuid4().hex,
        kind=kind,
        params=params.model_dump(mode="json"),
        state=JobState.QUEUED,
        progress=JobProgress(),
        created_at=datetime.now(UTC),
    )
    repo.insert(record, max_active=100)
    return record.id


def test_a_standby_leaves_the_running_job_alone_and_its_submits_run_on_the_holder(
    db: Database, managers: list[JobManager]
) -> None:
    holder, holder_runs = server(db, managers)
    running = gate()
    running_id = holder.submit("once", running).id  # not resumable: a recovery would fail it
    wait_started(running.gate)

    standby, standby_runs = server(db, managers)  # a second server on the same database
    assert holder.is_scheduler and not standby.is_scheduler
    time.sleep(5 * POLL_S)
    assert standby.get(running_id).state == JobState.RUNNING, "the standby must not recover it"

    waiting = gate()
    waiting_id = standby.submit("gate", waiting).id  # queued through the standby...
    GATES[running.gate].set()
    assert wait_state(holder, running_id, JobState.DONE).error is None  # its end is recorded
    wait_started(waiting.gate)  # ... run by the holder, which polls for it
    GATES[waiting.gate].set()
    wait_state(standby, waiting_id, JobState.DONE)
    assert holder_runs.seen == [running_id, waiting_id] and standby_runs.seen == []


def test_a_standby_cancels_a_job_the_holder_runs(db: Database, managers: list[JobManager]) -> None:
    holder, _ = server(db, managers)
    params = gate()
    job_id = holder.submit("gate", params).id
    wait_started(params.gate)
    standby, _ = server(db, managers)
    assert standby.cancel(job_id).state == JobState.CANCELLING
    assert wait_state(holder, job_id, JobState.CANCELLED).state == JobState.CANCELLED


def test_the_queue_bound_holds_on_a_standby(db: Database, managers: list[JobManager]) -> None:
    holder, _ = server(db, managers, max_active=1)
    holder.submit("gate", gate())
    standby, _ = server(db, managers, max_active=1)
    with pytest.raises(JobQueueFull, match="limit 1"):
        standby.submit("gate", gate())


def test_the_standby_takes_over_after_a_clean_shutdown(db: Database, managers: list[JobManager]) -> None:
    holder, _ = server(db, managers)
    params = gate()
    job_id = holder.submit("gate", params).id
    wait_started(params.gate)
    standby, standby_runs = server(db, managers)
    STARTED[params.gate].clear()
    holder.shutdown()  # re-queues the resumable job and releases the lock
    eventually(lambda: standby.is_scheduler)
    wait_started(params.gate)  # the standby resumes it
    GATES[params.gate].set()
    assert wait_state(standby, job_id, JobState.DONE).error is None
    assert standby_runs.seen == [job_id]


KILLED_SERVER = """
import sys, time
from tests.jobs_util import KINDS, GateParams
from vigil.jobs.config import JobsConfig
from vigil.jobs.manager import JobManager
from vigil.store.database import connect
from vigil.store.jobs import JobRepository

manager = JobManager(JobRepository(connect(sys.argv[1])), JobsConfig(), kinds=KINDS, poll_interval_s=0.05)
manager.start()
assert manager.is_scheduler
for kind, gate in (("once", sys.argv[2]), ("gate", sys.argv[3])):  # one runs, one waits
    print(manager.submit(kind, GateParams(gate=gate)).id, flush=True)
time.sleep(600)  # its gate never opens here: it runs until killed
"""


def test_the_standby_recovers_the_jobs_of_a_killed_scheduler(
    db: Database, db_url: str, managers: list[JobManager]
) -> None:
    once, waiting = gate(), gate()
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_SERVER, db_url, once.gate, waiting.gate],
        cwd=Path(__file__).parent.parent,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        once_id, waiting_id = child.stdout.readline().strip(), child.stdout.readline().strip()
        repo = JobRepository(db)
        eventually(lambda: (record := repo.get(once_id)) is not None and record.state == JobState.RUNNING)
        standby, standby_runs = server(db, managers)
        assert not standby.is_scheduler
        time.sleep(5 * POLL_S)
        assert standby.get(once_id).state == JobState.RUNNING
        assert standby.get(waiting_id).state == JobState.QUEUED
    finally:
        os.kill(child.pid, signal.SIGKILL)  # the OS (or PostgreSQL) releases its lock
        child.wait()
    eventually(lambda: standby.is_scheduler)
    failed = wait_state(standby, once_id, JobState.FAILED)  # not resumable: failed by the recovery
    assert failed.error == INTERRUPTED
    wait_started(waiting.gate)  # the killed server's queued job runs here
    GATES[waiting.gate].set()
    assert wait_state(standby, waiting_id, JobState.DONE).error is None
    assert standby_runs.seen == [waiting_id], "the failed one is not run"


def test_a_queued_job_of_an_unknown_kind_fails_and_the_rest_runs(
    db: Database, managers: list[JobManager]
) -> None:
    repo = JobRepository(db)
    gone_id = queued_row(repo, "gone", gate())  # e.g. queued by a newer version
    params = gate()
    later_id = queued_row(repo, "gate", params)
    manager, _ = server(db, managers)  # does not raise
    failed = wait_state(manager, gone_id, JobState.FAILED)
    assert failed.error == "unknown job kind gone: this server cannot run it"
    GATES[params.gate].set()
    assert wait_state(manager, later_id, JobState.DONE).error is None


def test_an_end_that_cannot_be_written_is_logged(
    db: Database, managers: list[JobManager], caplog: pytest.LogCaptureFixture
) -> None:
    manager, _ = server(db, managers)
    params = gate()
    job_id = manager.submit("gate", params).id
    wait_started(params.gate)
    with db.writer.begin() as conn:  # the row disappears under the run
        conn.execute(delete(JOBS).where(JOBS.c.id == job_id))
    with caplog.at_level(logging.ERROR, logger="vigil.jobs.manager"):
        GATES[params.gate].set()
        eventually(lambda: "was not recorded" in caplog.text)
    assert job_id in caplog.text


def test_old_finished_jobs_are_pruned_on_an_idle_server(db: Database, managers: list[JobManager]) -> None:
    repo = JobRepository(db)
    manager = JobManager(
        repo, JobsConfig(keep_days=1), kinds=KINDS, poll_interval_s=POLL_S, prune_interval_s=POLL_S
    )
    manager.start()
    managers.append(manager)
    long_ago = datetime.now(UTC) - timedelta(days=2)
    old = JobRecord(
        id=uuid.uuid4().hex,
        kind="gate",
        params=gate().model_dump(mode="json"),
        state=JobState.DONE,
        progress=JobProgress(overall=1.0),
        created_at=long_ago,
        started_at=long_ago,
        finished_at=long_ago,
    )
    repo.insert(old, max_active=100)  # finished after the start's prune: only the scheduler's removes it
    eventually(lambda: repo.get(old.id) is None, timeout=5)


def test_create_executor_reads_the_setting() -> None:
    executor = create_executor(JobsConfig(executor="local"), KINDS)
    assert isinstance(executor, LocalExecutor) and not executor.chunks.is_ray
    executor.shutdown()
    # ray: the jobs run here too, their chunks on Ray (tests/test_ray_jobs.py runs one)
    executor = create_executor(JobsConfig(executor="ray", ray_address="auto"), KINDS)
    assert isinstance(executor, LocalExecutor) and executor.chunks.ray_address == "auto"
    executor.shutdown()
    with pytest.raises(ConfigError, match=r"unknown jobs\.executor 'spark'"):
        create_executor(JobsConfig.model_construct(executor="spark"), KINDS)  # type: ignore[arg-type]


KIND_MODULE = """
from pydantic import BaseModel
from vigil.jobs.kinds import Finished, JobKind

class Params(BaseModel):
    pass

KIND = JobKind(
    name="fine", title="Fine", params_model=Params, result_model=Params, run=lambda p, c: Finished("done")
)
"""


def test_a_kind_module_that_fails_to_import_is_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "kindsprobe"
    for package, body in (
        ("fine", KIND_MODULE),
        ("broken", "import no_such_module_here\n"),
        ("nokind", "KIND = 3\n"),
    ):
        (root / package).mkdir(parents=True)
        (root / package / "__init__.py").write_text("")
        (root / package / "job.py").write_text(body)
    (root / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    import kindsprobe  # type: ignore[import-not-found]

    with caplog.at_level(logging.ERROR, logger="vigil.jobs.kinds"):
        kinds = discover_kinds(kindsprobe)
    assert list(kinds) == ["fine"]
    assert "kindsprobe.broken.job cannot be imported" in caplog.text
    assert "kindsprobe.nokind.job must define KIND" in caplog.text
