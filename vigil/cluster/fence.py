"""A fence per cluster camera: only the camera's current run writes to the store.

Ray restarts a camera actor elsewhere when the GCS declares its node dead. A node that is only cut
off from the GCS (a network partition, a stalled raylet) is declared dead too, but its actor may
still run and still reach PostgreSQL: without a fence, two incarnations of one camera would write
sightings (two rows for one person) and activity segments (each closing the other's) until the
old node is back and Ray kills it.

The fence is the `camera_runs` row of the camera (vigil/cluster/tables.py): a starting run
claims it (`claim`), and from then on every write transaction of that run's store begins by
reading the row `FOR SHARE` and is refused (`RunReplaced`, rolled back) when another run holds it.
A claim's update waits for those share locks, so a write that passed the check commits before the
new run owns the camera, and no write of the old run commits after: no overlap at all. The old
run then stops itself (`CameraFence.replaced`, watched by the actor, which also polls the row
every `POLL_S`, for a camera that writes nothing, e.g. an empty room)."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, event, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from vigil.cluster.tables import CameraRunRow
from vigil.errors import ConflictError
from vigil.store.database import Database

__all__ = ["CameraFence", "FenceWatch", "RunReplaced"]

log = logging.getLogger(__name__)
POLL_S = 1.0  # how often a run checks it still holds its camera when it does not write


class RunReplaced(ConflictError):
    """A newer run of this camera (restarted on another node) holds it: this run's writes are
    refused and it stops."""


class CameraFence:
    """The fence of one run of one camera over that run's own `Database` (an actor's store)."""

    def __init__(self, db: Database, camera: str, run: uuid.UUID) -> None:
        self.db = db
        self.camera = camera
        self.run = run
        self.replaced = threading.Event()  # set at the first refused write or poll that found it
        self.holder: str | None = None  # the node of the run that replaced this one, when known
        self._guarding = False

    def claim(self, node: str) -> None:
        """Makes this run the camera's current one, then guards every write transaction of `db`."""
        insert = pg_insert if self.db.backend == "postgresql" else sqlite_insert
        values = {"run": self.run, "node": node, "claimed_at": datetime.now(UTC)}
        statement = insert(CameraRunRow).values(camera=self.camera, **values)
        statement = statement.on_conflict_do_update(index_elements=[CameraRunRow.camera], set_=values)
        with self.db.writer.begin() as conn:
            conn.execute(statement)
        if not self._guarding:
            event.listen(self.db.writer, "begin", self._check_write)
            self._guarding = True

    def holds(self) -> bool:
        """Whether this run still holds the camera (a read: for the poll of an idle camera)."""
        try:
            with self.db.reader.connect() as conn:  # on PostgreSQL the reader is the guarded writer
                row = conn.execute(self._row().with_for_update(read=True)).first()
        except RunReplaced:
            return False
        return self._still_held(row)

    def release(self) -> None:
        """Stops guarding (the run stopped; its store is closing)."""
        if self._guarding:
            event.remove(self.db.writer, "begin", self._check_write)
            self._guarding = False

    def _check_write(self, conn: Connection) -> None:
        # First statement of the transaction: the row stays share-locked until it ends (PostgreSQL;
        # SQLite's writer holds the database's write lock already, which serialises the same way).
        row = conn.execute(self._row().with_for_update(read=True)).first()
        if not self._still_held(row):
            raise RunReplaced(
                f"camera {self.camera}: run {self.run} was replaced by a newer run on "
                f"{self.holder or 'another node'}; this run's write is refused"
            )

    def _row(self) -> Any:
        return select(CameraRunRow.run, CameraRunRow.node).where(CameraRunRow.camera == self.camera)

    def _still_held(self, row: Any) -> bool:
        if row is not None and row.run == self.run:
            return True
        self.holder = None if row is None else str(row.node)
        if not self.replaced.is_set():
            log.warning("camera %s: run %s replaced (now on %s)", self.camera, self.run, self.holder)
        self.replaced.set()
        return False


class FenceWatch:
    """Stops a run once it no longer holds its camera: at its first refused write, or at the
    poll every `POLL_S` (a database it cannot reach is no proof of anything: it keeps running)."""

    def __init__(self, fence: CameraFence, stop: Callable[[], None], poll_s: float = POLL_S) -> None:
        self.fence = fence
        self._stop_run = stop
        self._poll_s = poll_s
        self._ended = threading.Event()
        self._thread = threading.Thread(target=self._watch, name=f"fence-{fence.camera}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """The run stops on its own: the watch ends, and the store is no longer guarded."""
        self._ended.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()
        self.fence.release()

    def _watch(self) -> None:
        while not self._ended.is_set():
            if self.fence.replaced.wait(self._poll_s) or not self._holds():
                log.warning(
                    "camera %s: this run stops, its camera runs on %s", self.fence.camera, self.fence.holder
                )
                self._stop_run()
                return

    def _holds(self) -> bool:
        try:
            return self.fence.holds()
        except SQLAlchemyError as exc:
            log.debug("camera %s: fence poll failed: %s", self.fence.camera, exc)
            return True
