"""The job scheduler lock: one process per database recovers and runs jobs.

Whoever holds it is the database's scheduler; the others are standbys (they queue and cancel
jobs, and retry the lock). The operating system or the database server releases it when its
holder dies, so a standby takes over without any timeout guess:
- SQLite: `flock` on `<database file>.jobs.lock`, beside the database;
- PostgreSQL: a session-level advisory lock on a connection the holder keeps open."""

from __future__ import annotations

import fcntl
import logging
import threading
from pathlib import Path
from typing import IO, Protocol

from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

from vigil.store.database import Database

log = logging.getLogger(__name__)
SCHEDULER_LOCK = 4242008  # PostgreSQL advisory lock key (per database)


class SchedulerLock(Protocol):
    def try_acquire(self) -> bool:
        """Take the lock if free (or already ours); never waits."""
        ...

    def still_held(self) -> bool:
        """False when a lock we took is gone (its database connection died)."""
        ...

    def release(self) -> None: ...


class FileLock:
    """SQLite: an exclusive `flock` on a file beside the database (in-memory: always granted)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._handle: IO[bytes] | None = None
        self._held = False
        self._guard = threading.Lock()

    def try_acquire(self) -> bool:
        with self._guard:
            if self._held:
                return True
            if self.path is None:
                self._held = True
                return True
            handle = self.path.open("ab")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # another process (or manager) holds it
                handle.close()
                return False
            self._handle, self._held = handle, True
            return True

    def still_held(self) -> bool:
        return self._held

    def release(self) -> None:
        with self._guard:
            if self._handle is not None:
                self._handle.close()  # closing the file releases the flock
            self._handle, self._held = None, False


class AdvisoryLock:
    """PostgreSQL: `pg_try_advisory_lock` on a dedicated connection, released when it closes."""

    def __init__(self, db: Database, key: int = SCHEDULER_LOCK) -> None:
        self.db, self.key = db, key
        self._conn: Connection | None = None
        self._guard = threading.Lock()

    def try_acquire(self) -> bool:
        with self._guard:
            if self._conn is not None:
                return True
            conn = self.db.writer.connect()
            try:
                taken = bool(
                    conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}).scalar()
                )
                conn.commit()  # a session lock outlives the transaction; do not sit idle in one
            except SQLAlchemyError as exc:
                log.warning("job scheduler lock: cannot ask the database (%s)", exc)
                taken = False
            if not taken:
                conn.close()
                return False
            self._conn = conn
            return True

    def still_held(self) -> bool:
        with self._guard:
            if self._conn is None:
                return False
            try:
                self._conn.execute(text("SELECT 1"))
                self._conn.commit()
                return True
            except SQLAlchemyError as exc:  # the session, and its lock, are gone
                log.error("job scheduler lock lost: its database connection failed (%s)", exc)
                self._drop()
                return False

    def release(self) -> None:
        with self._guard:
            if self._conn is None:
                return
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
                self._conn.commit()
            except SQLAlchemyError:
                pass  # closing the session releases it anyway
            self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.invalidate()  # never back to the pool: a pooled session would keep the lock
                self._conn.close()
            except SQLAlchemyError:
                pass
        self._conn = None


def scheduler_lock(db: Database) -> SchedulerLock:
    if db.backend == "postgresql":
        return AdvisoryLock(db)
    database = db.url.database
    in_memory = database in (None, "", ":memory:")
    return FileLock(None if in_memory else Path(str(database) + ".jobs.lock"))
