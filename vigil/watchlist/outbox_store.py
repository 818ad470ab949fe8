"""The outbox of the external registry in the database: messages queued with the alert change they
report (same transaction), claimed one at a time for delivery, marked delivered or rescheduled.

A claim moves the message's `next_attempt_at` past the delivery's timeout (a lease), in a short
transaction: the POST happens outside any transaction, and a worker that dies mid-send leaves the
message due again once the lease ends. Several processes may share a PostgreSQL database:
`FOR UPDATE SKIP LOCKED` keeps two claims off one row (SQLite has a single writer). A message waits
while an older one of the same alert is pending, so each alert's messages arrive in order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Select, delete, exists, func, insert, select, update
from sqlalchemy.orm import aliased

from vigil.store.database import Database
from vigil.watchlist.registry_message import RegistryMessage
from vigil.watchlist.tables import WatchlistOutboxMessage as Outbox

ERROR_CHARS = 500


@dataclass(frozen=True)
class ClaimedMessage:
    id: int
    message: RegistryMessage
    created_at: datetime
    attempts: int  # this one included
    refusals: int


@dataclass(frozen=True)
class OutboxCounts:
    pending: int = 0
    delivered: int = 0
    failed: int = 0


def enqueue(conn: Connection, message: RegistryMessage) -> None:
    """Queues `message` inside the caller's transaction: it exists if and only if the change does."""
    conn.execute(
        insert(Outbox).values(
            alert_id=message.alert_id, kind=message.event, body=message.model_dump(mode="json"),
            created_at=message.queued_at, status="pending", attempts=0, refusals=0,
            next_attempt_at=message.queued_at, last_error="",
        )
    )  # fmt: skip


class OutboxStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def claim(self, now: datetime, lease_s: float) -> ClaimedMessage | None:
        """The oldest due message, leased for `lease_s`, or None when nothing is due."""
        query = _due(now).order_by(Outbox.id).limit(1)
        with self.db.reader.connect() as conn:  # most polls find nothing: no write lock for them
            if conn.execute(query.with_only_columns(Outbox.id)).first() is None:
                return None
        with self.db.writer.begin() as conn:
            row = conn.execute(query.with_for_update(skip_locked=True, of=Outbox)).first()
            if row is None:
                return None
            conn.execute(
                update(Outbox)
                .where(Outbox.id == row.id)
                .values(attempts=row.attempts + 1, next_attempt_at=now + timedelta(seconds=lease_s))
            )
        message = RegistryMessage.model_validate(row.body)
        return ClaimedMessage(row.id, message, row.created_at, row.attempts + 1, row.refusals)

    def delivered(self, message_id: int, now: datetime) -> None:
        with self.db.writer.begin() as conn:
            conn.execute(
                update(Outbox)
                .where(Outbox.id == message_id)
                .values(status="delivered", delivered_at=now, last_error="")
            )

    def undelivered(self, message_id: int, error: str, refused: bool, retry_at: datetime | None) -> None:
        """Records a failed attempt (`error` already redacted): due again at `retry_at`, or failed
        for good when it is None (the message stays, visible with its error)."""
        values: dict[str, object] = {"last_error": error[:ERROR_CHARS]}
        if refused:
            values["refusals"] = Outbox.refusals + 1
        if retry_at is None:
            values["status"] = "failed"
        else:
            values["next_attempt_at"] = retry_at
        with self.db.writer.begin() as conn:
            conn.execute(update(Outbox).where(Outbox.id == message_id).values(**values))

    def counts(self) -> OutboxCounts:
        query = select(Outbox.status, func.count()).group_by(Outbox.status)
        with self.db.reader.connect() as conn:
            found = {str(status): int(n) for status, n in conn.execute(query).tuples()}
        return OutboxCounts(found.get("pending", 0), found.get("delivered", 0), found.get("failed", 0))

    def failed(self, limit: int = 100) -> list[tuple[RegistryMessage, str]]:
        """Messages given up on, oldest first, with their last error."""
        query = select(Outbox.body, Outbox.last_error).where(Outbox.status == "failed").order_by(Outbox.id)
        with self.db.reader.connect() as conn:
            rows = conn.execute(query.limit(limit)).all()
        return [(RegistryMessage.model_validate(r.body), r.last_error) for r in rows]

    def retry_failed(self, now: datetime) -> int:
        """Failed messages become pending again (after the registry was fixed); how many."""
        with self.db.writer.begin() as conn:
            query = update(Outbox).where(Outbox.status == "failed")
            return int(conn.execute(query.values(status="pending", refusals=0, next_attempt_at=now)).rowcount)

    def prune_delivered(self, before: datetime) -> int:
        with self.db.writer.begin() as conn:
            query = delete(Outbox).where(Outbox.status == "delivered", Outbox.delivered_at < before)
            return int(conn.execute(query).rowcount)


def _due(now: datetime) -> Select[Outbox]:
    older = aliased(Outbox)
    waits_for_older = exists().where(
        older.alert_id == Outbox.alert_id, older.status == "pending", older.id < Outbox.id
    )
    return select(Outbox).where(Outbox.status == "pending", Outbox.next_attempt_at <= now, ~waits_for_older)
