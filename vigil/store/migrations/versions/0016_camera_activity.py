"""A camera's activity analysis on or off (issue 18 item 3), switched from the cameras page/API.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Off for every existing camera: analysis costs CPU, so it is turned on deliberately.
    op.add_column("cameras", sa.Column("activity", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("cameras") as batch:  # SQLite drops columns by copying the table
        batch.drop_column("activity")
