"""`vigil jobs list|show|cancel` against a real database (both backends), with a server-side
manager running the jobs: the CLI's cancel reaches the run through the database only."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from tests.jobs_util import GATES, KINDS, STARTED, GateParams, wait_started, wait_state
from vigil.cli import app
from vigil.jobs.config import JobsConfig
from vigil.jobs.manager import JobManager
from vigil.jobs.model import JobState
from vigil.store.database import connect
from vigil.store.jobs import JobRepository

ENV = {"COLUMNS": "220"}


@pytest.fixture
def manager(db_url: str) -> Iterator[JobManager]:
    db = connect(db_url)
    jobs = JobManager(JobRepository(db), JobsConfig(), kinds=KINDS, progress_interval_s=0.01)
    jobs.start()
    yield jobs
    for gate in GATES.values():
        gate.set()
    jobs.shutdown()
    db.dispose()


def gate() -> GateParams:
    name = uuid.uuid4().hex
    GATES[name], STARTED[name] = threading.Event(), threading.Event()
    return GateParams(gate=name)


def vigil(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=ENV)
    return result.exit_code, result.output


def test_list_show_and_cancel(manager: JobManager, db_url: str) -> None:
    done_params, running_params = gate(), gate()
    GATES[done_params.gate].set()
    done = manager.submit("gate", done_params)
    wait_state(manager, done.id, JobState.DONE)
    running = manager.submit("gate", running_params)
    queued = manager.submit("gate", gate())
    wait_started(running_params.gate)
    wait_state(manager, running.id, JobState.RUNNING)

    code, output = vigil("jobs", "list", "--db", db_url)
    assert code == 0, output
    assert "3 jobs" in output
    for job in (done, running, queued):
        assert job.id[:8] in output
    assert "done" in output and "running" in output and "queued" in output
    assert "100%" in output  # the finished job's bar

    code, output = vigil("jobs", "list", "--db", db_url, "--json")
    assert code == 0
    assert [job["id"] for job in json.loads(output)] == [done.id, running.id, queued.id]

    code, output = vigil("jobs", "show", done.id[:8], "--db", db_url)
    assert code == 0, output
    assert done.id in output and "state: done" in output and '"reports"' in output

    code, output = vigil("jobs", "cancel", queued.id, "--db", db_url)
    assert (code, output.strip()) == (0, f"job {queued.id} cancelled")
    assert manager.get(queued.id).state == JobState.CANCELLED

    code, output = vigil("jobs", "cancel", running.id[:10], "--db", db_url)
    assert code == 0 and "is cancelling" in output
    stopped = wait_state(manager, running.id, JobState.CANCELLED)  # the run saw it in the database
    assert stopped.finished_at is not None

    code, output = vigil("jobs", "cancel", done.id, "--db", db_url)
    assert code == 1 and "already finished (done)" in output


def test_unknown_or_ambiguous_ids_fail(manager: JobManager, db_url: str) -> None:
    code, output = vigil("jobs", "show", "nope", "--db", db_url)
    assert code == 1 and "no job with id nope" in output
    code, output = vigil("jobs", "show", "", "--db", db_url)
    assert code == 1
    code, output = vigil("jobs", "list", "--db", db_url)
    assert code == 0 and "0 jobs" in output
