"""The current run of each cluster camera (issue 19): a fence against a replaced actor's writes.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "camera_runs",
        sa.Column("camera", sa.String(200), primary_key=True),
        sa.Column("run", sa.Uuid, nullable=False),
        sa.Column("node", sa.String(200), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("camera_runs")
