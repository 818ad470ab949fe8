"""The watchlist's tables (migration 0010), on the store's declarative base so one database and
one migration chain hold everything. Only `vigil.watchlist.repository` reads or writes them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from vigil.store.schema import Base, Embedding, UtcDateTime, utcnow
from vigil.types import FloatArray


class WatchlistPerson(Base):
    """Someone to look for: a name, free notes and a category (seed 004's registry entry)."""

    __tablename__ = "watchlist_people"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200), index=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class WatchlistReference(Base):
    """One reference face of a person: its embedding (per model) and its crop on disk."""

    __tablename__ = "watchlist_references"
    __table_args__ = (Index("ix_watchlist_references_model", "model"),)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    person_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("watchlist_people.id", ondelete="CASCADE"), index=True
    )
    model: Mapped[str] = mapped_column(String(100))
    dim: Mapped[int] = mapped_column(Integer)
    embedding: Mapped[FloatArray] = mapped_column(Embedding)
    quality: Mapped[float] = mapped_column(Float)
    # Where it came from: "photo" (an upload / file), "visitor" (a visitor's crop).
    source: Mapped[str] = mapped_column(String(32))
    crop_path: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class WatchlistAlert(Base):
    """A watchlisted person seen by a camera: one per person and track; repeats on the same camera
    within the cooldown join it. Operators confirm or reject it (migration 0011)."""

    __tablename__ = "watchlist_alerts"
    __table_args__ = (Index("ix_watchlist_alerts_person_camera", "person_id", "camera", "last_at"),)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    person_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("watchlist_people.id", ondelete="CASCADE"), index=True
    )
    camera: Mapped[str] = mapped_column(String(200))
    track_id: Mapped[int] = mapped_column(Integer)
    level: Mapped[str] = mapped_column(String(16))  # probable | match
    score: Mapped[float] = mapped_column(Float)  # the best track score seen
    faces: Mapped[int] = mapped_column(Integer)  # embeddings that took part
    repeats: Mapped[int] = mapped_column(Integer, default=0)  # later sightings that joined it
    crop_path: Mapped[str] = mapped_column(String(500))
    # The frame with the face's box, JPEG (migration 0014); None for alerts raised without a frame.
    snapshot_path: Mapped[str | None] = mapped_column(String(500))
    first_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    last_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(16), index=True)  # open | confirmed | rejected | expired
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    note: Mapped[str] = mapped_column(Text, default="")


class WatchlistOutboxMessage(Base):
    """A message for the external registry (UPR_API_URL), queued in the transaction of the alert
    change it reports and kept until delivered (migration 0012). `id` orders delivery."""

    __tablename__ = "watchlist_outbox"
    __table_args__ = (Index("ix_watchlist_outbox_due", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Erasing a person erases their alerts and, with them, their undelivered messages.
    alert_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("watchlist_alerts.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))  # the body's `event`
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(16))  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    refusals: Mapped[int] = mapped_column(Integer, default=0)  # 4xx answers (not 408/429)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")  # redacted
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class WatchlistAlertFace(Base):
    """An embedded face of an alert's track(s): what a rejection turns into negatives (migration 0013)."""

    __tablename__ = "watchlist_alert_faces"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    alert_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("watchlist_alerts.id", ondelete="CASCADE"), index=True
    )
    model: Mapped[str] = mapped_column(String(100))
    dim: Mapped[int] = mapped_column(Integer)
    embedding: Mapped[FloatArray] = mapped_column(Embedding)
    quality: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class WatchlistNegative(Base):
    """A face an operator said is NOT the person (a rejected alert's faces): later faces nearer to
    a person's negatives than to their references raise no alert for them (migration 0013)."""

    __tablename__ = "watchlist_negatives"
    __table_args__ = (Index("ix_watchlist_negatives_model", "model"),)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    person_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("watchlist_people.id", ondelete="CASCADE"), index=True
    )
    # The rejected alert it came from (undo removes an alert's negatives); kept if the alert goes.
    alert_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    model: Mapped[str] = mapped_column(String(100))
    dim: Mapped[int] = mapped_column(Integer)
    embedding: Mapped[FloatArray] = mapped_column(Embedding)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
