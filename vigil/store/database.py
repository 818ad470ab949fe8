"""Database URLs, engines and schema migrations for the two supported backends."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from vigil.errors import StoreError, StoreUnavailable
from vigil.private_files import create_private_file, make_private_dir
from vigil.store.vectors import HNSW_EF_SEARCH

Backend = Literal["sqlite", "postgresql"]
SQLITE_BUSY_TIMEOUT_MS = 30_000


@dataclass
class Database:
    """`writer` begins every transaction with the write lock (SQLite `BEGIN IMMEDIATE`), so
    concurrent processes queue instead of failing on a lock upgrade; `reader` never locks."""

    url: URL
    backend: Backend
    writer: Engine
    reader: Engine

    def dispose(self) -> None:
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()


def parse_url(raw: str) -> tuple[URL, Backend]:
    try:
        url = make_url(raw)
    except ArgumentError as exc:
        raise StoreError(f"invalid database URL {raw!r}: use sqlite:///path.db or postgresql://…") from exc
    name = url.get_backend_name()
    if name == "sqlite":
        if url.database in (None, "", ":memory:"):
            raise StoreError("an in-memory SQLite store cannot be shared between threads; give a file path")
        return url, "sqlite"
    if name in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+psycopg"), "postgresql"
    raise StoreError(
        f"unsupported database {name!r} in {url.render_as_string(hide_password=True)}: "
        "use sqlite:///path.db (embedded default) or postgresql://user:pass@host/db (pgvector)"
    )


def _sqlite_engine(url: URL, immediate: bool) -> Engine:
    # sqlite3's `timeout` is SQLite's busy timeout: a writer waits this long for the lock.
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def connect(raw_url: str) -> Database:
    """Open (and create or upgrade) the database at `raw_url`."""
    url, backend = parse_url(raw_url)
    if backend == "sqlite":
        assert url.database is not None
        _create_private_sqlite_file(Path(url.database).expanduser())
        db = Database(url, backend, _sqlite_engine(url, True), _sqlite_engine(url, False))
    else:
        # ef_search per session: a SET LOCAL per query would cost a round trip per lookup.
        options = f"-c hnsw.ef_search={HNSW_EF_SEARCH}"
        engine = create_engine(
            url, pool_pre_ping=True, connect_args={"connect_timeout": 5, "options": options}
        )
        db = Database(url, backend, engine, engine)
    try:
        with db.reader.connect() as conn:
            conn.execute(text("SELECT 1"))
        migrate(db)
    except OperationalError as exc:
        db.dispose()
        where = url.render_as_string(hide_password=True)
        raise StoreUnavailable(f"cannot reach the database {where}: {exc.orig}") from exc
    return db


def _create_private_sqlite_file(path: Path) -> None:
    """Create the database file 0600 (in a 0700 directory) before SQLite does: SQLite gives its
    -wal and -shm files the database file's mode, so they stay private too."""
    try:
        make_private_dir(path.parent)
        os.close(create_private_file(path))
    except OSError as exc:
        raise StoreUnavailable(f"cannot create the database file {path}: {exc.strerror}") from exc


def sqlite_files(db: Database) -> list[Path]:
    """The SQLite database file and its WAL companions (none for PostgreSQL)."""
    if db.backend != "sqlite" or db.url.database is None:
        return []
    path = Path(db.url.database).expanduser()
    return [path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm"))]


@contextmanager
def _migration_lock(db: Database) -> Iterator[None]:
    """One process migrates at a time: a file lock beside SQLite, an advisory lock on PostgreSQL."""
    if db.backend == "sqlite":
        assert db.url.database is not None
        lock_path = Path(db.url.database + ".migrate.lock")
        with os.fdopen(create_private_file(lock_path), "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield
        return
    with db.writer.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(4242001)"))
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(4242001)"))
            conn.commit()


def migrate(db: Database) -> None:
    config = Config()
    config.set_main_option("script_location", str(resources.files("vigil.store") / "migrations"))
    with _migration_lock(db), db.writer.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
