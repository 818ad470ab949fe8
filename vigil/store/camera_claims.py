"""Which server runs a camera: one claim per camera name and database, so that two `vigil serve`
processes over one database never both run (and both record) the same camera.

The claim is a lock the database server or the operating system releases when its holder dies,
as the job scheduler lock (scheduler_lock.py) is:
- PostgreSQL: a session-level advisory lock per camera, all held on ONE dedicated connection
  (a connection per camera would drain the engine's pool with a dozen cameras);
- SQLite: an `flock` on `<database file>.camera-<hash>.lock` per camera, beside the database.
A camera claimed elsewhere does not start here; its start error says so."""

from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path
from typing import Protocol

from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

from vigil.store.database import Database
from vigil.store.scheduler_lock import FileLock

log = logging.getLogger(__name__)


def camera_key(camera: str) -> int:
    """A stable signed 64-bit key of the camera's name (PostgreSQL advisory locks take a bigint)."""
    return int.from_bytes(hashlib.sha256(b"vigil-camera:" + camera.encode()).digest()[:8], "big", signed=True)


class CameraClaims(Protocol):
    def claim(self, camera: str) -> bool:
        """Takes the camera for this process (True), or False when another process holds it."""
        ...

    def release(self, camera: str) -> None: ...

    def close(self) -> None:
        """Releases every claim."""
        ...

    def lost(self) -> list[str]:
        """The cameras this process claimed and no longer holds (its database session was lost,
        and the database released their locks: another server may run them now)."""
        ...


class AdvisoryClaims:
    """PostgreSQL: advisory locks on one connection kept open while any camera is claimed."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._conn: Connection | None = None
        self._held: set[str] = set()
        self._gone: set[str] = set()  # held when the session failed: for `lost`
        self._guard = threading.Lock()

    def claim(self, camera: str) -> bool:
        with self._guard:
            if camera in self._held:
                return True
            try:
                conn = self._connection()
                taken = bool(
                    conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": camera_key(camera)}).scalar()
                )
                conn.commit()  # a session lock outlives the transaction; do not sit idle in one
            except SQLAlchemyError as exc:
                self._failed()
                log.warning("camera %s: cannot ask the database who runs it (%s)", camera, exc)
                return False
            if taken:
                self._held.add(camera)
            return taken

    def release(self, camera: str) -> None:
        with self._guard:
            if camera not in self._held:
                return
            self._held.discard(camera)
            if self._conn is None:
                return
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": camera_key(camera)})
                self._conn.commit()
            except SQLAlchemyError:
                self._failed()  # closing the session releases its locks anyway
                return
            if not self._held:
                self._drop()

    def close(self) -> None:
        with self._guard:
            self._held.clear()
            self._drop()

    def lost(self) -> list[str]:
        with self._guard:
            if self._conn is not None:
                try:
                    self._conn.execute(text("SELECT 1"))
                    self._conn.commit()
                except SQLAlchemyError as exc:
                    log.warning("the camera claims' database session was lost (%s)", exc)
                    self._failed()
            gone, self._gone = sorted(self._gone), set()
        return gone

    def _failed(self) -> None:
        """The session failed: whatever it held is lost (the database drops a dead session's locks)."""
        self._gone |= self._held
        self._drop()

    def _connection(self) -> Connection:
        if self._conn is None:
            self._conn = self.db.writer.connect()
        return self._conn

    def _drop(self) -> None:
        """Closes the session (and with it every lock it held); never back to the pool. The locks
        are released first, while the session answers: a closed session's locks go only when its
        server process has ended, a moment later."""
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock_all()"))
                self._conn.commit()
            except SQLAlchemyError:
                pass  # a dead session: the server releases its locks itself
            try:
                self._conn.invalidate()
                self._conn.close()
            except SQLAlchemyError:
                pass
        self._conn = None
        self._held.clear()


class FileClaims:
    """SQLite: one `flock`ed file per claimed camera, beside the database file."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self._locks: dict[str, FileLock] = {}
        self._guard = threading.Lock()

    def claim(self, camera: str) -> bool:
        with self._guard:
            lock = self._locks.get(camera)
            if lock is None:
                name = f"{self.database.name}.camera-{camera_key(camera) & 0xFFFFFFFFFFFFFFFF:016x}.lock"
                lock = FileLock(self.database.with_name(name))
            if not lock.try_acquire():
                return False
            self._locks[camera] = lock
            return True

    def release(self, camera: str) -> None:
        with self._guard:
            lock = self._locks.pop(camera, None)
        if lock is not None:
            lock.release()

    def close(self) -> None:
        with self._guard:
            locks, self._locks = list(self._locks.values()), {}
        for lock in locks:
            lock.release()

    def lost(self) -> list[str]:
        return []  # an flock lasts as long as this process


def camera_claims(db: Database) -> CameraClaims:
    if db.backend == "postgresql":
        return AdvisoryClaims(db)
    assert db.url.database is not None  # connect() refuses in-memory SQLite
    return FileClaims(Path(db.url.database).expanduser())
