"""A small job kind for job system tests: it runs until its gate opens or it is cancelled."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping

from pydantic import BaseModel

from vigil.jobs.kinds import AnyKind, Finished, JobContext, JobKind
from vigil.jobs.manager import JobManager
from vigil.jobs.model import ItemProgress, ItemState, JobProgress, JobRecord, JobState

GATES: dict[str, threading.Event] = {}  # gate name -> opened by the test
STARTED: dict[str, threading.Event] = {}  # gate name -> set when a run is waiting on it


class GateParams(BaseModel):
    gate: str
    fail: bool = False


class GateResult(BaseModel):
    reports: int


def run_gate(params: GateParams, context: JobContext) -> Finished[GateResult]:
    gate = GATES.setdefault(params.gate, threading.Event())
    STARTED.setdefault(params.gate, threading.Event()).set()
    reports = 0
    while not gate.wait(0.01):
        reports += 1
        item = ItemProgress(name=params.gate, state=ItemState.RUNNING, steps_done=reports, steps_total=10**6)
        context.report(JobProgress(overall=0.5, items=[item]))
        if context.cancel.is_set():
            return Finished(JobState.CANCELLED, GateResult(reports=reports))
    if params.fail:
        raise RuntimeError(f"gate {params.gate} failed on purpose")
    context.report(JobProgress(overall=1.0, items=[ItemProgress(name=params.gate, state=ItemState.DONE)]))
    return Finished(JobState.DONE, GateResult(reports=reports))


def gate_kind(name: str = "gate", resumable: bool = True) -> AnyKind:
    return JobKind(
        name=name,
        title="Test gate",
        params_model=GateParams,
        result_model=GateResult,
        run=run_gate,
        resumable=resumable,
    )


KINDS: Mapping[str, AnyKind] = {"gate": gate_kind(), "once": gate_kind("once", resumable=False)}


def wait_state(manager: JobManager, job_id: str, *states: JobState, timeout: float = 30.0) -> JobRecord:
    deadline = time.monotonic() + timeout
    while True:
        record = manager.get(job_id)
        if record.state in states:
            return record
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} is {record.state}, not {states}, after {timeout} s")
        time.sleep(0.01)


def wait_started(gate: str, timeout: float = 10.0) -> None:
    assert STARTED.setdefault(gate, threading.Event()).wait(timeout), f"gate {gate} never started"
