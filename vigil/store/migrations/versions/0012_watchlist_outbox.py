"""Watchlist outbox (issue 15): messages for the external registry (UPR_API_URL), kept until delivered.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

UtcDateTime = sa.DateTime(timezone=True)  # naive UTC on SQLite, timestamptz on PostgreSQL


def upgrade() -> None:
    op.create_table(
        "watchlist_outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "alert_id", sa.Uuid, sa.ForeignKey("watchlist_alerts.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("refusals", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UtcDateTime, nullable=False),
        sa.Column("last_error", sa.Text, nullable=False),
        sa.Column("delivered_at", UtcDateTime),
    )
    op.create_index("ix_watchlist_outbox_alert_id", "watchlist_outbox", ["alert_id"])
    op.create_index("ix_watchlist_outbox_due", "watchlist_outbox", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_table("watchlist_outbox")
