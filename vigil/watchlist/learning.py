"""What operators teach the watchlist.

- The faces of an alert's track are kept with the alert (`watchlist_alert_faces`).
- A rejection turns them into negatives of the person: a later face nearer to one of the person's
  negatives than to all of their references raises no alert for that person (`Matcher`). An admin
  sees what was learned per person and can undo it per rejected alert.
- A confirmation may add the alert's face to the person's references (an admin's choice)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import Connection, delete, func, insert, select

from vigil.store.database import Database
from vigil.types import FloatArray
from vigil.watchlist.repository import ReferenceSet
from vigil.watchlist.tables import WatchlistAlertFace, WatchlistNegative


@dataclass(frozen=True)
class TrackFace:
    """One embedded face of a track, as kept with its alert."""

    vector: FloatArray
    model: str
    quality: float


@dataclass(frozen=True)
class Lesson:
    """The negatives one rejected alert taught about a person."""

    alert_id: uuid.UUID | None
    faces: int
    created_by: str
    created_at: datetime


class LearningRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add_faces(self, alert_id: uuid.UUID, faces: Sequence[TrackFace]) -> None:
        if not faces:
            return
        rows = [
            {"alert_id": alert_id, "model": f.model, "dim": int(np.asarray(f.vector).size),
             "embedding": np.asarray(f.vector, np.float32), "quality": float(f.quality), "id": uuid.uuid4()}
            for f in faces
        ]  # fmt: skip
        with self.db.writer.begin() as conn:
            conn.execute(insert(WatchlistAlertFace), rows)

    def best_face(self, alert_id: uuid.UUID) -> TrackFace | None:
        query = (
            select(WatchlistAlertFace)
            .where(WatchlistAlertFace.alert_id == alert_id)
            .order_by(WatchlistAlertFace.quality.desc())
            .limit(1)
        )
        with self.db.reader.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else TrackFace(row.embedding, row.model, row.quality)

    def lessons(self, person_id: uuid.UUID) -> list[Lesson]:
        """What rejections taught about the person, newest first, one entry per rejected alert."""
        query = (
            select(
                WatchlistNegative.alert_id,
                func.count().label("faces"),
                func.min(WatchlistNegative.created_by).label("by"),
                func.min(WatchlistNegative.created_at).label("at"),
            )
            .where(WatchlistNegative.person_id == person_id)
            .group_by(WatchlistNegative.alert_id)
        )
        with self.db.reader.connect() as conn:
            rows = conn.execute(query).all()
        lessons = [Lesson(r.alert_id, int(r.faces), r.by, r.at) for r in rows]
        return sorted(lessons, key=lambda lesson: lesson.created_at, reverse=True)

    def undo(self, alert_id: uuid.UUID) -> int:
        """Forgets the negatives a rejected alert taught; how many."""
        with self.db.writer.begin() as conn:
            return int(
                conn.execute(delete(WatchlistNegative).where(WatchlistNegative.alert_id == alert_id)).rowcount
            )

    def negative_set(self, model: str) -> ReferenceSet:
        query = select(WatchlistNegative.person_id, WatchlistNegative.embedding).where(
            WatchlistNegative.model == model
        )
        with self.db.reader.connect() as conn:
            rows = conn.execute(query.order_by(WatchlistNegative.id)).all()
        vectors = np.stack([r.embedding for r in rows]) if rows else np.zeros((0, 0), np.float32)
        return ReferenceSet(model, [r.person_id for r in rows], vectors.astype(np.float32))

    def fingerprint(self) -> tuple[int, datetime | None]:
        with self.db.reader.connect() as conn:
            count, newest = conn.execute(
                select(func.count(), func.max(WatchlistNegative.created_at)).select_from(WatchlistNegative)
            ).one()
        return int(count), newest


def learn_rejection(conn: Connection, alert_id: uuid.UUID, person_id: uuid.UUID, by: str) -> int:
    """Copies the alert's faces into negatives of the person, in the caller's transaction; how many."""
    faces = conn.execute(
        select(WatchlistAlertFace.model, WatchlistAlertFace.dim, WatchlistAlertFace.embedding).where(
            WatchlistAlertFace.alert_id == alert_id
        )
    ).all()
    rows = [
        {"id": uuid.uuid4(), "person_id": person_id, "alert_id": alert_id, "model": f.model, "dim": f.dim,
         "embedding": f.embedding, "created_by": by}
        for f in faces
    ]  # fmt: skip
    if rows:
        conn.execute(insert(WatchlistNegative), rows)
    return len(rows)
