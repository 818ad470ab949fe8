"""The fence of a cluster camera (vigil/cluster/fence.py), on both real backends: once a newer run
claimed the camera, the replaced run's writes are refused and rolled back, a write in flight
during the claim commits before the claim does (PostgreSQL's row lock), and the replaced run's
watch stops it, also when it writes nothing."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.test_activity_store import CUES
from vigil.activity.history import NewSegment
from vigil.activity.labels import Activity
from vigil.activity.repository import ActivityRepository
from vigil.activity.tables import ActivitySegmentRow
from vigil.cluster.fence import CameraFence, FenceWatch, RunReplaced
from vigil.store.database import Database, connect

CAMERA = "hall"
T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


@pytest.fixture
def two_runs(db_url: str) -> Iterator[tuple[Database, Database]]:
    """Two incarnations' own store connections (two actors, on two nodes)."""
    old, new = connect(db_url), connect(db_url)
    yield old, new
    old.dispose()
    new.dispose()


def segment(second: int) -> NewSegment:
    start = T0 + timedelta(seconds=second)
    return NewSegment(CAMERA, Activity.READING, start, start + timedelta(seconds=5), 0.8, CUES)


def rows(db: Database) -> int:
    with db.reader.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ActivitySegmentRow)).scalar_one())


def test_a_replaced_runs_writes_are_refused(two_runs: tuple[Database, Database]) -> None:
    old_db, new_db = two_runs
    old = CameraFence(old_db, CAMERA, uuid.uuid4())
    old.claim("10.0.0.6 (aaaa)")
    assert ActivityRepository(old_db).record_live(segment(0))
    assert old.holds() and not old.replaced.is_set()

    new = CameraFence(new_db, CAMERA, uuid.uuid4())
    new.claim("10.0.0.7 (bbbb)")
    with pytest.raises(RunReplaced, match=r"replaced by a newer run on 10\.0\.0\.7"):
        ActivityRepository(old_db).record_live(segment(10))
    assert old.replaced.is_set() and old.holder == "10.0.0.7 (bbbb)"
    assert not old.holds()
    assert rows(new_db) == 1  # the refused segment left nothing behind
    assert ActivityRepository(new_db).record_live(segment(20))  # the new run writes
    assert rows(new_db) == 2


def test_a_write_in_flight_commits_before_the_claim(pg_url: str) -> None:
    """The claim waits for the share lock of a write that passed the check: the old run's last
    write is never after the new run's start (PostgreSQL; SQLite's writers are serial anyway)."""
    old_db, new_db = connect(pg_url), connect(pg_url)
    try:
        CameraFence(old_db, CAMERA, uuid.uuid4()).claim("old")
        committing: list[float] = []
        in_transaction = threading.Event()

        def slow_write() -> None:
            with old_db.writer.begin() as conn:
                in_transaction.set()
                conn.execute(ActivitySegmentRow.__table__.select().limit(1))
                time.sleep(0.6)
                # Read before the commit: the time after it would race the claim's thread.
                committing.append(time.monotonic())

        writer = threading.Thread(target=slow_write)
        writer.start()
        assert in_transaction.wait(5)
        CameraFence(new_db, CAMERA, uuid.uuid4()).claim("new")
        claimed = time.monotonic()
        writer.join()
        assert committing and committing[0] <= claimed  # the claim returned after the commit began
    finally:
        old_db.dispose()
        new_db.dispose()


def test_the_watch_stops_a_replaced_run_that_writes_nothing(two_runs: tuple[Database, Database]) -> None:
    old_db, new_db = two_runs
    old = CameraFence(old_db, CAMERA, uuid.uuid4())
    old.claim("old")
    stopped = threading.Event()
    watch = FenceWatch(old, stopped.set, poll_s=0.05)
    watch.start()
    time.sleep(0.3)
    assert not stopped.is_set()  # still its camera
    CameraFence(new_db, CAMERA, uuid.uuid4()).claim("new")
    assert stopped.wait(5)
    watch.close()
    assert ActivityRepository(old_db).record_live(segment(30))  # released: no longer guarded


def test_claims_are_idempotent_and_the_newest_holds(two_runs: tuple[Database, Database]) -> None:
    first_db, second_db = two_runs
    first = CameraFence(first_db, CAMERA, uuid.uuid4())
    first.claim("n1")
    first.claim("n1")  # claiming again (e.g. a retried start) keeps it, guarded once
    assert first.holds()
    second = CameraFence(second_db, CAMERA, uuid.uuid4())
    second.claim("n2")
    assert second.holds() and not first.holds()
    assert second.holder is None and first.holder == "n2"
