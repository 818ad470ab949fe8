"""The activity history's tables (migration 0015), on the store's declarative base so one database
and one migration chain hold everything. Only `vigil.activity.repository` and
`vigil.activity.reports` read or write them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from vigil.store.schema import Base, UtcDateTime


class ActivitySegmentRow(Base):
    """One activity of one camera's person from `started_at` to `ended_at` (UTC). The live path
    keeps the camera's current segment open, one row per (camera, started_at), extended while the
    activity lasts (`ActivityRepository.record_live`)."""

    __tablename__ = "activity_segments"
    __table_args__ = (
        Index("ix_activity_segments_camera_started", "camera", "started_at"),
        Index("ix_activity_segments_started", "started_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    camera: Mapped[str] = mapped_column(String(200))  # the camera's name, or the file's for `file`
    # The visitor when recognised; erasing the visitor keeps the segment, without them.
    visitor_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("visitors.id", ondelete="SET NULL"), index=True
    )
    activity: Mapped[str] = mapped_column(String(16))  # an `Activity` id
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime] = mapped_column(UtcDateTime)
    confidence: Mapped[float] = mapped_column(Float)
    cues: Mapped[dict[str, Any]] = mapped_column(JSON)  # a `CueSummary`
    source: Mapped[str] = mapped_column(String(8))  # live | file
    open: Mapped[bool] = mapped_column(Boolean)  # the camera's current segment, still extended


class ActivityReportOutboxMessage(Base):
    """A 5-minute activity report for the external service, kept until delivered. One per camera
    and period (`period_end` unique with the camera): a restart never queues a period twice."""

    __tablename__ = "activity_report_outbox"
    __table_args__ = (
        Index("ix_activity_report_outbox_due", "status", "next_attempt_at"),
        UniqueConstraint("camera", "period_end", name="uq_activity_report_outbox_period"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    camera: Mapped[str] = mapped_column(String(200))  # each camera's reports arrive in order
    period_end: Mapped[datetime] = mapped_column(UtcDateTime)
    kind: Mapped[str] = mapped_column(String(32))  # the body's `event`
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(16))  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    refusals: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")  # redacted
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
