"""Watchlist alerts (issue 15): a watchlisted person seen by a camera, decided by operators.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

UtcDateTime = sa.DateTime(timezone=True)  # naive UTC on SQLite, timestamptz on PostgreSQL


def upgrade() -> None:
    op.create_table(
        "watchlist_alerts",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column(
            "person_id", sa.Uuid, sa.ForeignKey("watchlist_people.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("camera", sa.String(200), nullable=False),
        sa.Column("track_id", sa.Integer, nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("faces", sa.Integer, nullable=False),
        sa.Column("repeats", sa.Integer, nullable=False),
        sa.Column("crop_path", sa.String(500), nullable=False),
        sa.Column("first_at", UtcDateTime, nullable=False),
        sa.Column("last_at", UtcDateTime, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.String(64)),
        sa.Column("decided_at", UtcDateTime),
        sa.Column("note", sa.Text, nullable=False),
    )
    op.create_index("ix_watchlist_alerts_person_id", "watchlist_alerts", ["person_id"])
    op.create_index("ix_watchlist_alerts_first_at", "watchlist_alerts", ["first_at"])
    op.create_index("ix_watchlist_alerts_status", "watchlist_alerts", ["status"])
    op.create_index(
        "ix_watchlist_alerts_person_camera", "watchlist_alerts", ["person_id", "camera", "last_at"]
    )


def downgrade() -> None:
    op.drop_table("watchlist_alerts")
