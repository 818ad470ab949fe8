"""Watchlist alert snapshots (issue 15): the frame with the face's box, beside the alert's crop.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: alerts stored before this revision have no snapshot.
    op.add_column("watchlist_alerts", sa.Column("snapshot_path", sa.String(500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("watchlist_alerts") as batch:  # SQLite drops columns by copying the table
        batch.drop_column("snapshot_path")
