"""The job system on both backends: persistence across manager instances (restarts), cancel,
queue bound, retention, and cancels made by another process (a second repository)."""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import shared_file
from tests.jobs_util import GATES, KINDS, STARTED, GateParams, wait_started, wait_state
from vigil.batch.job import track_params
from vigil.batch.validate import validate_tracking_file
from vigil.config import load_settings
from vigil.jobs.config import JobsConfig
from vigil.jobs.errors import JobAlreadyFinished, JobNotFound, JobQueueFull, UnknownJobKind
from vigil.jobs.kinds import registry
from vigil.jobs.manager import SHUTDOWN, JobManager
from vigil.jobs.model import JobOutcome, JobPayload, JobProgress, JobRecord, JobState
from vigil.store.database import Database
from vigil.store.jobs import INTERRUPTED, JobRepository


@pytest.fixture
def managers(db: Database) -> Iterator[list[JobManager]]:
    """Managers made by a test (each a "server start"); all shut down at the end."""
    made: list[JobManager] = []
    yield made
    for gate in GATES.values():
        gate.set()
    for manager in made:
        manager.shutdown()


def new_manager(db: Database, made: list[JobManager], **config: int | float) -> JobManager:
    manager = JobManager(JobRepository(db), JobsConfig(**config), kinds=KINDS, progress_interval_s=0.01)
    manager.start()
    made.append(manager)
    return manager


def gate(name: str | None = None, fail: bool = False) -> GateParams:
    """Params of a gate job with a fresh gate (closed: the job runs until the test opens it)."""
    name = name or uuid.uuid4().hex
    GATES[name], STARTED[name] = threading.Event(), threading.Event()
    return GateParams(gate=name, fail=fail)


def stale_row(repo: JobRepository, kind: str, state: JobState, params: GateParams) -> str:
    """A row as a killed server leaves it (inserted directly, nobody runs it)."""
    record = JobRecord(
        id=uuid.uuid4().hex,
        kind=kind,
        params=params.model_dump(mode="json"),
        state=state,
        progress=JobProgress(overall=0.3),
        created_at=datetime.now(UTC),
        started_at=None if state == JobState.QUEUED else datetime.now(UTC),
    )
    repo.insert(record, max_active=100)
    return record.id


def test_a_job_runs_and_its_record_is_kept(db: Database, managers: list[JobManager]) -> None:
    manager = new_manager(db, managers)
    params = gate()
    job = manager.submit("gate", params)
    assert job.state == JobState.QUEUED and job.params == {"gate": params.gate, "fail": False}
    wait_started(params.gate)
    running = wait_state(manager, job.id, JobState.RUNNING)
    assert running.started_at is not None and running.finished_at is None
    GATES[params.gate].set()
    done = wait_state(manager, job.id, JobState.DONE)
    assert done.progress.overall == 1.0 and done.progress.items[0].state == "done"
    assert KINDS["gate"].result_of(done) is not None
    assert done.finished_at is not None and done.started_at is not None
    assert done.created_at <= done.started_at <= done.finished_at
    # Another process (a new repository on the same database) reads the same record.
    assert JobRepository(db).get(job.id) == done


def test_a_crashing_run_fails_with_its_error(db: Database, managers: list[JobManager]) -> None:
    manager = new_manager(db, managers)
    params = gate(fail=True)
    job = manager.submit("gate", params)
    GATES[params.gate].set()
    failed = wait_state(manager, job.id, JobState.FAILED)
    assert failed.error == f"RuntimeError: gate {params.gate} failed on purpose"


def test_unknown_kind_and_job(db: Database, managers: list[JobManager]) -> None:
    manager = new_manager(db, managers)
    with pytest.raises(UnknownJobKind, match="known: gate, once"):
        manager.submit("nope", gate())
    with pytest.raises(JobNotFound, match="no job with id x"):
        manager.get("x")
    with pytest.raises(JobNotFound):
        manager.cancel("x")


def test_queue_is_bounded_across_managers(db: Database, managers: list[JobManager]) -> None:
    manager = new_manager(db, managers, max_active=2)
    first, second = manager.submit("gate", gate()), manager.submit("gate", gate())
    with pytest.raises(JobQueueFull, match="limit 2") as refused:
        manager.submit("gate", gate())
    assert refused.value.status == 429
    # The bound is the database's: another process sharing it is refused too.
    other = JobManager(JobRepository(db), JobsConfig(max_active=2), kinds=KINDS)
    with pytest.raises(JobQueueFull):
        other.submit("gate", gate())
    manager.cancel(second.id)
    assert manager.submit("gate", gate()).state == JobState.QUEUED  # room again
    assert first.id in {job.id for job in manager.list()}


def test_cancel_queued_running_and_finished(db: Database, managers: list[JobManager]) -> None:
    manager = new_manager(db, managers)
    running_params = gate()
    running = manager.submit("gate", running_params)
    queued = manager.submit("gate", gate())  # one job at a time: this one waits
    wait_started(running_params.gate)

    cancelled = manager.cancel(queued.id)
    assert cancelled.state == JobState.CANCELLED and cancelled.started_at is None

    assert manager.cancel(running.id).state == JobState.CANCELLING
    stopped = wait_state(manager, running.id, JobState.CANCELLED)
    assert stopped.started_at is not None and stopped.progress.overall == 0.5
    with pytest.raises(JobAlreadyFinished, match=r"already finished \(cancelled\)") as late:
        manager.cancel(running.id)
    assert late.value.status == 409
    assert manager.get(queued.id).started_at is None, "a job cancelled while queued never starts"


def test_cancel_from_another_process_reaches_the_run(db: Database, managers: list[JobManager]) -> None:
    manager = new_manager(db, managers)
    params = gate()
    job = manager.submit("gate", params)
    wait_started(params.gate)
    outcome = JobRepository(db).request_cancel(job.id)  # what `vigil jobs cancel` does
    assert outcome is not None and outcome[1] and outcome[0].state == JobState.CANCELLING
    stopped = wait_state(manager, job.id, JobState.CANCELLED)
    assert stopped.result is not None and isinstance(stopped.result["reports"], int)


def test_restart_resumes_or_fails_what_a_killed_server_left(db: Database, managers: list[JobManager]) -> None:
    repo = JobRepository(db)
    resumable, once, queued, cancelling = gate(), gate(), gate(), gate()
    resumed_id = stale_row(repo, "gate", JobState.RUNNING, resumable)
    failed_id = stale_row(repo, "once", JobState.RUNNING, once)
    queued_id = stale_row(repo, "gate", JobState.QUEUED, queued)
    cancelling_id = stale_row(repo, "gate", JobState.CANCELLING, cancelling)

    manager = new_manager(db, managers)  # the server starts again
    failed = manager.get(failed_id)
    assert (failed.state, failed.error) == (JobState.FAILED, INTERRUPTED)
    assert failed.error == "interrupted by a server restart"
    assert manager.get(cancelling_id).state == JobState.CANCELLED
    wait_started(resumable.gate)  # re-queued first (oldest), then the queued one
    for params, job_id in ((resumable, resumed_id), (queued, queued_id)):
        GATES[params.gate].set()
        assert wait_state(manager, job_id, JobState.DONE).error is None
    assert not STARTED[once.gate].is_set() and not STARTED[cancelling.gate].is_set()


def test_shutdown_requeues_a_resumable_job_and_the_next_start_finishes_it(
    db: Database, managers: list[JobManager]
) -> None:
    first = new_manager(db, managers)
    running, waiting, once = gate(), gate(), gate()
    running_id = first.submit("gate", running).id
    waiting_id = first.submit("gate", waiting).id
    wait_started(running.gate)
    first.shutdown()
    requeued = first.get(running_id)
    assert requeued.state == JobState.QUEUED and requeued.started_at is None
    assert requeued.progress == JobProgress(), "shown as not started until it runs again"
    assert first.get(waiting_id).state == JobState.QUEUED
    assert not STARTED[waiting.gate].is_set()

    second = new_manager(db, managers)
    for params, job_id in ((running, running_id), (waiting, waiting_id)):
        GATES[params.gate].set()
        assert wait_state(second, job_id, JobState.DONE).state == JobState.DONE

    once_id = second.submit("once", once).id
    wait_started(once.gate)
    second.shutdown()
    stopped = second.get(once_id)
    assert (stopped.state, stopped.error) == (JobState.FAILED, SHUTDOWN)


def test_retention_keeps_the_newest_finished_jobs(db: Database, managers: list[JobManager]) -> None:
    manager = new_manager(db, managers, keep_finished=2)
    ids = []
    for _ in range(3):
        params = gate()
        GATES[params.gate].set()
        ids.append(manager.submit("gate", params).id)
        wait_state(manager, ids[-1], JobState.DONE)
    active = manager.submit("gate", gate()).id  # submitting prunes
    assert [job.id for job in manager.list()] == [*ids[1:], active]


def test_retention_by_age(db: Database, managers: list[JobManager]) -> None:
    repo = JobRepository(db)
    old = stale_row(repo, "gate", JobState.RUNNING, gate())
    repo.finish(old, JobState.DONE, JobProgress(overall=1.0))
    recent = stale_row(repo, "gate", JobState.RUNNING, gate())
    repo.finish(recent, JobState.DONE, JobProgress(overall=1.0))
    assert repo.prune(100, datetime.now(UTC) - timedelta(days=1)) == 0
    assert repo.prune(100, datetime.now(UTC) + timedelta(seconds=1)) == 2
    assert repo.list() == []


def test_the_registry_finds_the_track_kind() -> None:
    kinds = registry()
    assert kinds["track"].resumable and kinds["track"].title == "Batch tracking"


RUN_FROM_JSON = """
import sys, threading
from vigil.jobs.kinds import registry
from vigil.jobs.model import JobPayload

class Context:
    cancel = threading.Event()
    reports = 0
    def report(self, progress):
        Context.reports += 1

payload = JobPayload.model_validate_json(sys.stdin.read())
outcome = registry()[payload.kind].execute(payload, Context())
print(outcome.model_dump_json())
print(Context.reports, file=sys.stderr)
"""


def test_a_track_payload_runs_from_its_json_alone(tmp_path: Path, models_dir: Path) -> None:
    """What a remote executor (Ray) gets: the payload's JSON, in a fresh interpreter without the
    web app or the database; the run writes the output and reports progress."""
    video = shared_file("media/video/single_face.mp4")
    settings = load_settings(track={"cpu_workers": 1, "models_dir": models_dir}).track
    params = track_params([video], settings, tmp_path, force=False)
    payload = JobPayload(id="remote", kind="track", params=params.model_dump(mode="json"))
    done = subprocess.run(
        [sys.executable, "-c", RUN_FROM_JSON],
        input=payload.model_dump_json(),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    outcome = JobOutcome.model_validate_json(done.stdout.strip().splitlines()[-1])
    assert outcome.state == JobState.DONE and outcome.error is None
    assert outcome.result == {"done": [str(video)], "skipped": [], "failed": {}, "partial": {}}
    assert int(done.stderr.strip().splitlines()[-1]) >= 2  # progress while running, then the end
    assert validate_tracking_file(tmp_path / "single_face_tracking.json") == []
