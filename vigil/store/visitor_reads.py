"""Read-only views of the visitors for the web pages and the API (listings, one visitor, timelines,
names for live labels), each on a connection of the reader engine."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime, tzinfo

from sqlalchemy import func, select

from vigil.errors import VisitorNotFound
from vigil.store.analytics import (
    SightingRow,
    SortKey,
    VisitorPage,
    VisitorRecord,
    visitor_record,
    visitor_sightings,
    visitor_summaries,
)
from vigil.store.database import Database
from vigil.store.schema import Sighting, Visitor

GONE_HINT = ": it may have been merged or erased"


class VisitorReads:
    def __init__(self, db: Database) -> None:
        self.db = db

    def summaries(
        self,
        day: date,
        tz: tzinfo,
        *,
        window_days: int,
        min_visits: int,
        loyal: bool,
        sort: SortKey,
        limit: int,
        offset: int,
    ) -> VisitorPage:
        """One page of the recurrence listing (see `analytics.visitor_summaries`)."""
        with self.db.reader.connect() as conn:
            return visitor_summaries(
                conn, day, tz, window_days=window_days, min_visits=min_visits, loyal=loyal,
                sort=sort, limit=limit, offset=offset,
            )  # fmt: skip

    def find(self, visitor_id: uuid.UUID) -> VisitorRecord | None:
        with self.db.reader.connect() as conn:
            return visitor_record(conn, visitor_id)

    def get(self, visitor_id: uuid.UUID) -> VisitorRecord:
        """The visitor, or `VisitorNotFound` (merged away, erased or expired)."""
        record = self.find(visitor_id)
        if record is None:
            raise VisitorNotFound(visitor_id, GONE_HINT)
        return record

    def sightings(self, visitor_id: uuid.UUID, limit: int, offset: int) -> list[SightingRow]:
        """The visitor's timeline, newest first."""
        with self.db.reader.connect() as conn:
            return visitor_sightings(conn, visitor_id, limit, offset)

    def names(self, visitor_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str | None]:
        """The stored names of these visitors (unknown ids are left out)."""
        with self.db.reader.connect() as conn:
            rows = conn.execute(select(Visitor.id, Visitor.name).where(Visitor.id.in_(list(visitor_ids))))
            return {row.id: row.name for row in rows}

    def last_sighting_at(self) -> datetime | None:
        """When the newest stored sighting was captured (None: no sighting yet)."""
        with self.db.reader.connect() as conn:
            found: datetime | None = conn.execute(select(func.max(Sighting.captured_at))).scalar()
        return found
