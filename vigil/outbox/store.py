"""An outbox table in the database: messages claimed one at a time for delivery, marked delivered
or rescheduled. Any table with the outbox columns (id, a group column, kind, body, created_at,
status, attempts, refusals, next_attempt_at, last_error, delivered_at) can be one.

A claim moves the message's `next_attempt_at` past the delivery's timeout (a lease), in a short
transaction: the POST happens outside any transaction, and a worker that dies mid-send leaves the
message due again once the lease ends. Several processes may share a PostgreSQL database:
`FOR UPDATE SKIP LOCKED` keeps two claims off one row (SQLite has a single writer). A message waits
while an older one of the same group (an alert, a camera) is pending, so each group's messages
arrive in order."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, Literal, Protocol, TypeVar

from sqlalchemy import Connection, Select, Table, delete, exists, func, insert, select, update
from sqlalchemy.orm import DeclarativeBase

from vigil.store.database import Database

ERROR_CHARS = 500
Status = Literal["pending", "delivered", "failed"]


class OutboxBody(Protocol):
    """What an outbox holds: a JSON body with an id the receiver de-duplicates on."""

    @property
    def message_id(self) -> uuid.UUID: ...

    @property
    def event(self) -> str: ...

    def model_dump_json(self) -> str: ...


M = TypeVar("M", bound=OutboxBody)


@dataclass(frozen=True)
class ClaimedMessage(Generic[M]):
    id: int
    message: M
    created_at: datetime
    attempts: int  # this one included
    refusals: int


@dataclass(frozen=True)
class OutboxCounts:
    pending: int = 0
    delivered: int = 0
    failed: int = 0


@dataclass(frozen=True)
class OutboxEntry(Generic[M]):
    """One message as the outbox holds it (listings)."""

    id: int
    message: M
    status: Status
    created_at: datetime
    attempts: int
    next_attempt_at: datetime
    last_error: str  # redacted
    delivered_at: datetime | None


def table_of(mapped: type[DeclarativeBase]) -> Table:
    """The Core table of a mapped class (an outbox's table)."""
    table = mapped.__table__
    assert isinstance(table, Table)
    return table


def insert_message(
    conn: Connection,
    table: Table,
    group: dict[str, object],
    kind: str,
    body: dict[str, Any],
    created_at: datetime,
) -> None:
    """Queues a message inside the caller's transaction: it exists if and only if the change does."""
    conn.execute(
        insert(table).values(
            **group, kind=kind, body=body, created_at=created_at, status="pending", attempts=0,
            refusals=0, next_attempt_at=created_at, last_error="",
        )
    )  # fmt: skip


class TableOutbox(Generic[M]):
    """The outbox of `table`, ordered per `group` column, bodies read back with `parse`."""

    def __init__(self, db: Database, table: Table, group: str, parse: Callable[[Any], M]) -> None:
        self.db, self.table, self._parse = db, table, parse
        self._group = table.c[group]

    def claim(self, now: datetime, lease_s: float) -> ClaimedMessage[M] | None:
        """The oldest due message, leased for `lease_s`, or None when nothing is due."""
        t = self.table
        query = self._due(now).order_by(t.c.id).limit(1)
        with self.db.reader.connect() as conn:  # most polls find nothing: no write lock for them
            if conn.execute(query.with_only_columns(t.c.id)).first() is None:
                return None
        with self.db.writer.begin() as conn:
            row = conn.execute(query.with_for_update(skip_locked=True, of=t)).first()
            if row is None:
                return None
            conn.execute(
                update(t)
                .where(t.c.id == row.id)
                .values(attempts=row.attempts + 1, next_attempt_at=now + timedelta(seconds=lease_s))
            )
        return ClaimedMessage(row.id, self._parse(row.body), row.created_at, row.attempts + 1, row.refusals)

    def delivered(self, message_id: int, now: datetime) -> None:
        t = self.table
        with self.db.writer.begin() as conn:
            conn.execute(
                update(t)
                .where(t.c.id == message_id)
                .values(status="delivered", delivered_at=now, last_error="")
            )

    def undelivered(self, message_id: int, error: str, refused: bool, retry_at: datetime | None) -> None:
        """Records a failed attempt (`error` already redacted): due again at `retry_at`, or failed
        for good when it is None (the message stays, visible with its error)."""
        t = self.table
        values: dict[str, object] = {"last_error": error[:ERROR_CHARS]}
        if refused:
            values["refusals"] = t.c.refusals + 1
        if retry_at is None:
            values["status"] = "failed"
        else:
            values["next_attempt_at"] = retry_at
        with self.db.writer.begin() as conn:
            conn.execute(update(t).where(t.c.id == message_id).values(**values))

    def counts(self) -> OutboxCounts:
        t = self.table
        query = select(t.c.status, func.count()).group_by(t.c.status)
        with self.db.reader.connect() as conn:
            found = {str(status): int(n) for status, n in conn.execute(query).tuples()}
        return OutboxCounts(found.get("pending", 0), found.get("delivered", 0), found.get("failed", 0))

    def failed(self, limit: int = 100) -> list[tuple[M, str]]:
        """Messages given up on, oldest first, with their last error."""
        return [(e.message, e.last_error) for e in self.entries("failed", limit)]

    def entries(
        self, status: Status | None = None, limit: int = 100, offset: int = 0, newest_first: bool = False
    ) -> list[OutboxEntry[M]]:
        t = self.table
        query = select(t)
        if status is not None:
            query = query.where(t.c.status == status)
        query = query.order_by(t.c.id.desc() if newest_first else t.c.id).limit(limit).offset(offset)
        with self.db.reader.connect() as conn:
            rows = conn.execute(query).all()
        return [
            OutboxEntry(
                r.id,
                self._parse(r.body),
                r.status,
                r.created_at,
                r.attempts,
                r.next_attempt_at,
                r.last_error,
                r.delivered_at,
            )
            for r in rows
        ]

    def retry_failed(self, now: datetime) -> int:
        """Failed messages become pending again (after the receiver was fixed); how many."""
        t = self.table
        with self.db.writer.begin() as conn:
            query = update(t).where(t.c.status == "failed")
            return int(conn.execute(query.values(status="pending", refusals=0, next_attempt_at=now)).rowcount)

    def prune_delivered(self, before: datetime) -> int:
        t = self.table
        with self.db.writer.begin() as conn:
            query = delete(t).where(t.c.status == "delivered", t.c.delivered_at < before)
            return int(conn.execute(query).rowcount)

    def _due(self, now: datetime) -> Select[Any]:
        t = self.table
        older = t.alias("older")
        waits_for_older = exists().where(
            older.c[self._group.name] == self._group, older.c.status == "pending", older.c.id < t.c.id
        )
        return select(t).where(t.c.status == "pending", t.c.next_attempt_at <= now, ~waits_for_older)
