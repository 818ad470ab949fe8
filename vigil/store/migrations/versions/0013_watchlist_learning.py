"""Watchlist learning (issue 15): the faces of each alert, and negatives learned from rejections.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import VECTOR

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

Embedding = sa.LargeBinary().with_variant(VECTOR(), "postgresql")  # float32 blobs on SQLite
UtcDateTime = sa.DateTime(timezone=True)  # naive UTC on SQLite, timestamptz on PostgreSQL


def upgrade() -> None:
    op.create_table(
        "watchlist_alert_faces",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column(
            "alert_id", sa.Uuid, sa.ForeignKey("watchlist_alerts.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("dim", sa.Integer, nullable=False),
        sa.Column("embedding", Embedding, nullable=False),
        sa.Column("quality", sa.Float, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_watchlist_alert_faces_alert_id", "watchlist_alert_faces", ["alert_id"])
    op.create_table(
        "watchlist_negatives",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column(
            "person_id", sa.Uuid, sa.ForeignKey("watchlist_people.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("alert_id", sa.Uuid),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("dim", sa.Integer, nullable=False),
        sa.Column("embedding", Embedding, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_watchlist_negatives_person_id", "watchlist_negatives", ["person_id"])
    op.create_index("ix_watchlist_negatives_alert_id", "watchlist_negatives", ["alert_id"])
    op.create_index("ix_watchlist_negatives_model", "watchlist_negatives", ["model"])


def downgrade() -> None:
    op.drop_table("watchlist_negatives")
    op.drop_table("watchlist_alert_faces")
