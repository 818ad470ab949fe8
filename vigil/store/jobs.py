"""The jobs repository: job rows in and out as `vigil.jobs.model` records (migration 0007).

Every state change is one conditional UPDATE (`WHERE state IN …`), so two processes sharing the
database (a server and `vigil jobs cancel`) cannot move a job backwards: a job cancelled while
queued is never claimed, and a finished job is never finished again."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import (
    ColumnElement,
    Connection,
    RowMapping,
    Table,
    delete,
    func,
    insert,
    select,
    text,
    update,
)

from vigil.jobs.errors import JobQueueFull
from vigil.jobs.model import ACTIVE_STATES, FINAL_STATES, JobProgress, JobRecord, JobState, JsonObject
from vigil.store.database import Database
from vigil.store.schema import Job


def _jobs_table() -> Table:
    table = Job.__table__
    assert isinstance(table, Table)
    return table


JOBS = _jobs_table()
INTERRUPTED = "interrupted by a server restart"
QUEUE_LOCK = 4242007  # PostgreSQL advisory lock id: count-then-insert is one step across processes


def _now() -> datetime:
    return datetime.now(UTC)


def _record(row: RowMapping) -> JobRecord:
    return JobRecord.model_validate(dict(row))


def _states(states: Collection[JobState]) -> list[str]:
    return [state.value for state in states]


@dataclass
class Recovery:
    """What `recover()` did with the jobs a stopped server left active."""

    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)


class JobRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    # ------------------------------------------------------------ reads
    def get(self, job_id: str) -> JobRecord | None:
        with self.db.reader.connect() as conn:
            row = conn.execute(select(JOBS).where(JOBS.c.id == job_id)).mappings().first()
        return None if row is None else _record(row)

    def list(self, *, kind: str | None = None, states: Collection[JobState] | None = None) -> list[JobRecord]:
        """Jobs in creation order, optionally of one kind and in some states."""
        query = select(JOBS).order_by(JOBS.c.created_at, JOBS.c.id)
        if kind is not None:
            query = query.where(JOBS.c.kind == kind)
        if states is not None:
            query = query.where(JOBS.c.state.in_(_states(states)))
        with self.db.reader.connect() as conn:
            return [_record(row) for row in conn.execute(query).mappings()]

    # ------------------------------------------------------------ writes
    def insert(self, record: JobRecord, max_active: int) -> None:
        """Add a queued job unless `max_active` jobs are already active (JobQueueFull)."""
        with self.db.writer.begin() as conn:
            if self.db.backend == "postgresql":  # SQLite's BEGIN IMMEDIATE already serialises
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": QUEUE_LOCK})
            active = _count_active(conn)
            if active >= max_active:
                raise JobQueueFull(active, max_active)
            conn.execute(insert(JOBS).values({**record.model_dump(mode="json"), **_times(record)}))

    def claim(self, job_id: str) -> bool:
        """queued -> running; False when the job is no longer queued (cancelled meanwhile)."""
        values = {"state": JobState.RUNNING.value, "started_at": _now()}
        return self._move(job_id, [JobState.QUEUED], values)

    def save_progress(self, job_id: str, progress: JobProgress) -> JobState | None:
        """Store a running job's progress; returns its state (CANCELLING when asked to stop)."""
        with self.db.writer.begin() as conn:
            conn.execute(
                update(JOBS)
                .where(JOBS.c.id == job_id, JOBS.c.state.in_(_states(ACTIVE_STATES)))
                .values(progress=progress.model_dump(mode="json"))
            )
            state = conn.execute(select(JOBS.c.state).where(JOBS.c.id == job_id)).scalar()
        return None if state is None else JobState(state)

    def finish(
        self,
        job_id: str,
        state: JobState,
        progress: JobProgress,
        result: JsonObject | None = None,
        error: str | None = None,
    ) -> bool:
        """Record an active job's end; False when it had already ended."""
        if state not in FINAL_STATES:
            raise ValueError(f"cannot finish a job as {state}")
        values = {
            "state": state.value,
            "progress": progress.model_dump(mode="json"),
            "result": result,
            "error": error,
            "finished_at": _now(),
        }
        return self._move(job_id, ACTIVE_STATES, values)

    def requeue(self, job_id: str) -> bool:
        """An interrupted, resumable job waits for its next turn (e.g. after a shutdown)."""
        values = {"state": JobState.QUEUED.value, "started_at": None}
        return self._move(job_id, [JobState.RUNNING], values)

    def request_cancel(self, job_id: str) -> tuple[JobRecord, bool] | None:
        """queued -> cancelled at once, running -> cancelling (its runner stops it).
        Returns (job after the change, accepted); None for an unknown id."""
        with self.db.writer.begin() as conn:
            row = conn.execute(select(JOBS).where(JOBS.c.id == job_id).with_for_update()).mappings().first()
            if row is None:
                return None
            state = JobState(row["state"])
            if state == JobState.QUEUED:
                changes = {"state": JobState.CANCELLED.value, "finished_at": _now()}
            elif state == JobState.RUNNING:
                changes = {"state": JobState.CANCELLING.value}
            else:
                return _record(row), state == JobState.CANCELLING
            conn.execute(update(JOBS).where(JOBS.c.id == job_id).values(**changes))
            after = conn.execute(select(JOBS).where(JOBS.c.id == job_id)).mappings().one()
        return _record(after), True

    def recover(self, resumable: Callable[[str], bool]) -> Recovery:
        """When a manager becomes the scheduler (it holds the scheduler lock, so whoever ran these
        jobs has stopped): jobs left running are queued again when their kind can resume
        (`resumable(kind)`), else failed; jobs left cancelling are cancelled."""
        recovery = Recovery()
        with self.db.writer.begin() as conn:
            stale = conn.execute(
                select(JOBS.c.id, JOBS.c.kind, JOBS.c.state).where(
                    JOBS.c.state.in_(_states([JobState.RUNNING, JobState.CANCELLING]))
                )
            ).all()
            for row in stale:
                job_id, kind, state = str(row.id), str(row.kind), JobState(row.state)
                if state == JobState.CANCELLING:
                    changes: dict[str, object] = {"state": JobState.CANCELLED.value, "finished_at": _now()}
                    recovery.cancelled.append(job_id)
                elif resumable(kind):
                    changes = {"state": JobState.QUEUED.value, "started_at": None}
                    recovery.requeued.append(job_id)
                else:
                    changes = {"state": JobState.FAILED.value, "error": INTERRUPTED, "finished_at": _now()}
                    recovery.failed.append(job_id)
                # Conditional on the state read: a cancel made meanwhile is not overwritten.
                conn.execute(
                    update(JOBS).where(JOBS.c.id == job_id, JOBS.c.state == state.value).values(**changes)
                )
        return recovery

    def prune(self, keep_finished: int, finished_before: datetime | None = None) -> int:
        """Delete finished jobs beyond the newest `keep_finished` (by creation), and those
        finished before `finished_before`; returns how many."""
        finished = JOBS.c.state.in_(_states(FINAL_STATES))
        with self.db.writer.begin() as conn:
            kept = select(JOBS.c.id).where(finished).order_by(JOBS.c.created_at.desc()).limit(keep_finished)
            doomed: ColumnElement[bool] = JOBS.c.id.not_in(kept.scalar_subquery())
            if finished_before is not None:
                doomed = doomed | (JOBS.c.finished_at < finished_before)
            deleted = conn.execute(delete(JOBS).where(finished & doomed)).rowcount
        return int(deleted)

    def _move(self, job_id: str, from_states: Collection[JobState], values: Mapping[str, object]) -> bool:
        with self.db.writer.begin() as conn:
            moved = conn.execute(
                update(JOBS)
                .where(JOBS.c.id == job_id, JOBS.c.state.in_(_states(from_states)))
                .values(**values)
            ).rowcount
        return bool(moved)


def _count_active(conn: Connection) -> int:
    query = select(func.count()).select_from(JOBS).where(JOBS.c.state.in_(_states(ACTIVE_STATES)))
    return int(conn.execute(query).scalar_one())


def _times(record: JobRecord) -> dict[str, datetime | None]:
    # Datetimes as values (the UtcDateTime column type), not the JSON dump's strings.
    return {
        "created_at": record.created_at,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
    }
