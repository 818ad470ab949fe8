"""Consecutive failed logins per attempted user name, in the database so that every server process
sharing it sees the same count (the delay policy lives with the web app's login route)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from vigil.store.database import Database
from vigil.store.schema import LoginFailure


@dataclass(frozen=True)
class FailureCount:
    failures: int
    last_failed_at: datetime


def _key(username: str) -> str:
    """Names are compared lower-cased and cut to the column width, as an attacker may vary both."""
    return username.strip().lower()[:64]


class LoginFailureRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, username: str) -> FailureCount | None:
        with self.db.reader.connect() as conn:
            row = conn.execute(select(LoginFailure).where(LoginFailure.username == _key(username))).first()
        return None if row is None else FailureCount(row.failures, row.last_failed_at)

    def record(self, username: str, restart: bool = False, at: datetime | None = None) -> int:
        """Counts one more failure (from 1 when `restart`, e.g. after a long quiet period) at `at`
        (default now: the caller's clock when it compares times itself); the new count."""
        with self.db.writer.begin() as conn:
            return _upsert(conn, _key(username), at or datetime.now(UTC), restart)

    def clear(self, username: str) -> None:
        with self.db.writer.begin() as conn:
            conn.execute(delete(LoginFailure).where(LoginFailure.username == _key(username)))


def _upsert(conn: Connection, key: str, now: datetime, restart: bool) -> int:
    """One atomic statement, so concurrent failures from several processes are all counted."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = insert(LoginFailure).values(username=key, failures=1, last_failed_at=now)
    count = 1 if restart else LoginFailure.failures + 1
    statement = statement.on_conflict_do_update(
        index_elements=[LoginFailure.username], set_={"failures": count, "last_failed_at": now}
    )
    conn.execute(statement)
    stored = conn.execute(select(LoginFailure.failures).where(LoginFailure.username == key)).scalar_one()
    return int(stored)
