"""Tables of the identity store (SQLAlchemy 2), shared by SQLite and PostgreSQL.

Embeddings are pgvector `vector` columns on PostgreSQL and float32 blobs on SQLite; every
embedding row also stores its model name and dimension, and searches filter on the model so
vectors of different models are never compared."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import numpy as np
from pgvector.sqlalchemy import VECTOR
from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    Uuid,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeEngine

from vigil.types import FloatArray


class Embedding(TypeDecorator[FloatArray]):
    """float32 vector: pgvector on PostgreSQL, raw little-endian bytes elsewhere."""

    impl = LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(VECTOR())
        return dialect.type_descriptor(LargeBinary())

    def process_bind_param(self, value: FloatArray | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        vec = np.asarray(value, dtype=np.float32).reshape(-1)
        return vec if dialect.name == "postgresql" else vec.astype("<f4").tobytes()

    def process_result_value(self, value: Any, dialect: Dialect) -> FloatArray | None:
        if value is None:
            return None
        if isinstance(value, bytes | memoryview):
            return np.frombuffer(bytes(value), dtype="<f4").astype(np.float32)
        return np.asarray(value, dtype=np.float32)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps them naive in UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use timezone-aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _no_zones() -> list[Any]:
    return []


class Base(DeclarativeBase):
    pass


class Camera(Base):
    __tablename__ = "cameras"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Cameras added at run time (web UI / API) are `managed`; the others are rows the pipeline
    # created for configured cameras and files, only referenced by sightings.
    managed: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    fps: Mapped[float | None] = mapped_column(Float)
    loop: Mapped[bool] = mapped_column(Boolean, default=False)
    dead_zones: Mapped[list[Any]] = mapped_column(JSON, default=_no_zones)
    activity: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Where the activity's sound comes from (stream, microphone, none); NULL: `activity.live_audio`.
    activity_audio: Mapped[str | None] = mapped_column(String(20))


class Visitor(Base):
    __tablename__ = "visitors"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    visit_count: Mapped[int] = mapped_column(Integer, default=0)
    best_image_path: Mapped[str | None] = mapped_column(Text)
    best_quality: Mapped[float] = mapped_column(Float, default=0.0)
    name: Mapped[str | None] = mapped_column(String(200))
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Prototype(Base):
    """One searchable vector per visitor and model: the plain mean of all their sightings' embeddings
    (kept incrementally by every write path; search is by cosine, so the length does not matter)."""

    __tablename__ = "prototypes"
    visitor_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("visitors.id", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[str] = mapped_column(String(64), primary_key=True)
    dim: Mapped[int] = mapped_column(Integer)
    embedding: Mapped[FloatArray] = mapped_column(Embedding)
    sightings: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class PrototypeAnchor(Base):
    """PostgreSQL's searchable copy of a prototype, under the HNSW indexes: copied from `prototypes`
    when created and again once the mean has drifted past `vectors.ANCHOR_MAX_DRIFT`, so most
    sightings update the mean without touching the HNSW graph (migration 0005). Empty on SQLite."""

    __tablename__ = "prototype_anchors"
    visitor_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("visitors.id", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[str] = mapped_column(String(64), primary_key=True)
    dim: Mapped[int] = mapped_column(Integer)
    embedding: Mapped[FloatArray] = mapped_column(Embedding)


class PrototypeChange(Base):
    """One visitor whose prototype of `model` was written by the transaction that moved the
    `prototypes_version` counter to `version` (migration 0006): in-process indexes of other
    processes fetch just these rows instead of reloading a model."""

    __tablename__ = "prototype_changes"
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(64), primary_key=True)
    visitor_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)


class Visit(Base):
    __tablename__ = "visits"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    visitor_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("visitors.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sightings: Mapped[int] = mapped_column(Integer, default=0)
    # (visitor, time) for one visitor's visits; (time, visitor) for a window's visitors, read from
    # the index alone (migrations 0001, 0003; 0004 dropped the plain `started_at` index).
    __table_args__ = (
        Index("ix_visits_visitor_started", "visitor_id", "started_at"),
        Index("ix_visits_started_visitor", "started_at", "visitor_id"),
    )


class Sighting(Base):
    """One track's identity evidence: its best embedding so far and its best crop."""

    __tablename__ = "sightings"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    visitor_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("visitors.id", ondelete="CASCADE"))
    camera_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("cameras.id", ondelete="SET NULL"))
    visit_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("visits.id", ondelete="SET NULL"))
    track_id: Mapped[int] = mapped_column(Integer)
    captured_at: Mapped[datetime] = mapped_column(UtcDateTime)
    model: Mapped[str] = mapped_column(String(64))
    dim: Mapped[int] = mapped_column(Integer)
    embedding: Mapped[FloatArray] = mapped_column(Embedding)
    quality: Mapped[float] = mapped_column(Float)
    similarity: Mapped[float | None] = mapped_column(Float)
    image_path: Mapped[str | None] = mapped_column(Text)
    # As for visits: one visitor's timeline, and one day's visitors without reading the wide rows.
    __table_args__ = (
        Index("ix_sightings_visitor_captured", "visitor_id", "captured_at"),
        Index("ix_sightings_captured_visitor", "captured_at", "visitor_id"),
    )


class Meta(Base):
    """Counters shared between processes (e.g. the prototype version for in-process indexes)."""

    __tablename__ = "store_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class User(Base):
    """A dashboard/API account; `role` is "admin", "operator" or "viewer"."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Embedded in session cookies; bumped to end every session of the user (migration 0008).
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # A disabled account cannot log in and its API keys are refused (migration 0009).
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class LoginFailure(Base):
    """Consecutive failed logins per attempted user name (lower-cased), for growing delays."""

    __tablename__ = "login_failures"
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_failed_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ApiKey(Base):
    """A bearer token for the API; only its SHA-256 is stored."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AuditEntry(Base):
    """Who did what, when: one row per mutating request (and per login attempt)."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    actor: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(200))
    target: Mapped[str | None] = mapped_column(Text)
    status: Mapped[int] = mapped_column(Integer)
    ip: Mapped[str | None] = mapped_column(String(64))


class Job(Base):
    """A long piece of work (batch tracking, ...) and where it stands (migration 0007):
    `params`, `progress` and `result` are the JSON forms of `vigil.jobs.model` values."""

    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    progress: Mapped[dict[str, Any]] = mapped_column(JSON)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Listings run in creation order; the queue bound counts the active states.
    __table_args__ = (
        Index("ix_jobs_created", "created_at"),
        Index("ix_jobs_state", "state"),
    )
