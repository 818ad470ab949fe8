"""The watchlist (issue 15): people to look for and their reference faces.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import VECTOR

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

Embedding = sa.LargeBinary().with_variant(VECTOR(), "postgresql")  # float32 blobs on SQLite
UtcDateTime = sa.DateTime(timezone=True)  # naive UTC on SQLite, timestamptz on PostgreSQL


def upgrade() -> None:
    op.create_table(
        "watchlist_people",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("notes", sa.Text, nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_watchlist_people_name", "watchlist_people", ["name"])
    op.create_table(
        "watchlist_references",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column(
            "person_id",
            sa.Uuid,
            sa.ForeignKey("watchlist_people.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("dim", sa.Integer, nullable=False),
        sa.Column("embedding", Embedding, nullable=False),
        sa.Column("quality", sa.Float, nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("crop_path", sa.String(500), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_watchlist_references_person_id", "watchlist_references", ["person_id"])
    op.create_index("ix_watchlist_references_model", "watchlist_references", ["model"])


def downgrade() -> None:
    op.drop_table("watchlist_references")
    op.drop_table("watchlist_people")
