"""A log of prototype changes, so in-process exact indexes follow other writers incrementally.

Before, a process whose matrix was behind the `prototypes_version` counter reloaded the whole
model (100k rows) before its next search; with several writers that was a reload per batch. Now
each prototype write logs (version, model, visitor) and a reader fetches only the visitors changed
since its version. `prototype_changes_from` is the lowest version whose changes are all logged
(older log rows are pruned; a reader further behind reloads).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prototype_changes",
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("model", sa.String(64), primary_key=True),
        sa.Column("visitor_id", sa.Uuid, primary_key=True),
    )
    op.execute(
        "INSERT INTO store_meta (key, value) SELECT 'prototype_changes_from', value + 1 "
        "FROM store_meta WHERE key = 'prototypes_version'"
    )


def downgrade() -> None:
    op.execute("DELETE FROM store_meta WHERE key = 'prototype_changes_from'")
    op.drop_table("prototype_changes")
