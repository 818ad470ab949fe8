"""The outbox of the external registry in the database (`vigil.outbox.store` over the
`watchlist_outbox` table): messages queued with the alert change they report (same transaction),
each alert's messages delivered in order."""

from __future__ import annotations

from sqlalchemy import Connection

from vigil.outbox.store import ClaimedMessage, OutboxCounts, TableOutbox, insert_message, table_of
from vigil.store.database import Database
from vigil.watchlist.registry_message import RegistryMessage
from vigil.watchlist.tables import WatchlistOutboxMessage as Outbox

__all__ = ["ClaimedMessage", "OutboxCounts", "OutboxStore", "enqueue"]


def enqueue(conn: Connection, message: RegistryMessage) -> None:
    """Queues `message` inside the caller's transaction: it exists if and only if the change does."""
    body = message.model_dump(mode="json")
    insert_message(
        conn, table_of(Outbox), {"alert_id": message.alert_id}, message.event, body, message.queued_at
    )


class OutboxStore(TableOutbox[RegistryMessage]):
    def __init__(self, db: Database) -> None:
        super().__init__(db, table_of(Outbox), "alert_id", RegistryMessage.model_validate)
