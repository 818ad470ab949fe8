"""Initial identity store schema (seed 001 §6, extended).

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import VECTOR

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Column types as they were at this revision, written out here: importing them from
# vigil.store.schema would let a later change of the live code alter an applied migration.
UtcDateTime = sa.DateTime(timezone=True)  # stored in UTC; naive on SQLite
Embedding = sa.LargeBinary().with_variant(VECTOR(), "postgresql")  # float32 blobs on SQLite


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.create_table(
        "cameras",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("url", sa.Text),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "visitors",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("first_seen_at", UtcDateTime, nullable=False),
        sa.Column("last_seen_at", UtcDateTime, nullable=False, index=True),
        sa.Column("visit_count", sa.Integer, nullable=False),
        sa.Column("best_image_path", sa.Text),
        sa.Column("best_quality", sa.Float, nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("label", sa.String(200)),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "prototypes",
        sa.Column("visitor_id", sa.Uuid, sa.ForeignKey("visitors.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("model", sa.String(64), primary_key=True),
        sa.Column("dim", sa.Integer, nullable=False),
        sa.Column("embedding", Embedding, nullable=False),
        sa.Column("sightings", sa.Integer, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "visits",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("visitor_id", sa.Uuid, sa.ForeignKey("visitors.id", ondelete="CASCADE"), nullable=False),
        sa.Column("started_at", UtcDateTime, nullable=False, index=True),
        sa.Column("ended_at", UtcDateTime, nullable=False),
        sa.Column("sightings", sa.Integer, nullable=False),
    )
    op.create_index("ix_visits_visitor_started", "visits", ["visitor_id", "started_at"])
    op.create_table(
        "sightings",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("visitor_id", sa.Uuid, sa.ForeignKey("visitors.id", ondelete="CASCADE"), nullable=False),
        sa.Column("camera_id", sa.Integer, sa.ForeignKey("cameras.id", ondelete="SET NULL")),
        sa.Column("visit_id", sa.Uuid, sa.ForeignKey("visits.id", ondelete="SET NULL")),
        sa.Column("track_id", sa.Integer, nullable=False),
        sa.Column("captured_at", UtcDateTime, nullable=False, index=True),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("dim", sa.Integer, nullable=False),
        sa.Column("embedding", Embedding, nullable=False),
        sa.Column("quality", sa.Float, nullable=False),
        sa.Column("similarity", sa.Float),
        sa.Column("image_path", sa.Text),
    )
    op.create_index("ix_sightings_visitor_captured", "sightings", ["visitor_id", "captured_at"])
    meta = op.create_table(
        "store_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Integer, nullable=False),
    )
    op.bulk_insert(meta, [{"key": "prototypes_version", "value": 0}])


def downgrade() -> None:
    for table in ("store_meta", "sightings", "visits", "prototypes", "visitors", "cameras"):
        op.drop_table(table)
