"""Activity history (issue 18): activity segments per camera and the 5-minute reports' outbox.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

UtcDateTime = sa.DateTime(timezone=True)  # naive UTC on SQLite, timestamptz on PostgreSQL


def upgrade() -> None:
    op.create_table(
        "activity_segments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("camera", sa.String(200), nullable=False),
        sa.Column("visitor_id", sa.Uuid, sa.ForeignKey("visitors.id", ondelete="SET NULL")),
        sa.Column("activity", sa.String(16), nullable=False),
        sa.Column("started_at", UtcDateTime, nullable=False),
        sa.Column("ended_at", UtcDateTime, nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("cues", sa.JSON, nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("open", sa.Boolean, nullable=False),
    )
    op.create_index("ix_activity_segments_camera_started", "activity_segments", ["camera", "started_at"])
    op.create_index("ix_activity_segments_started", "activity_segments", ["started_at"])
    op.create_index("ix_activity_segments_visitor_id", "activity_segments", ["visitor_id"])
    op.create_table(
        "activity_report_outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("camera", sa.String(200), nullable=False),
        sa.Column("period_end", UtcDateTime, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("refusals", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UtcDateTime, nullable=False),
        sa.Column("last_error", sa.Text, nullable=False),
        sa.Column("delivered_at", UtcDateTime),
        sa.UniqueConstraint("camera", "period_end", name="uq_activity_report_outbox_period"),
    )
    op.create_index("ix_activity_report_outbox_due", "activity_report_outbox", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_table("activity_report_outbox")
    op.drop_table("activity_segments")
