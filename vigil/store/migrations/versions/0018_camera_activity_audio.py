"""Where a camera's activity hears from (issue 18 item 3), chosen from the cameras page/API.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for every existing camera: it keeps following `activity.live_audio`, as before.
    op.add_column("cameras", sa.Column("activity_audio", sa.String(20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cameras") as batch:  # SQLite drops columns by copying the table
        batch.drop_column("activity_audio")
