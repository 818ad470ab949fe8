"""Web dashboard: managed cameras, users, API keys, audit log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Column types as they were at this revision, written out here: importing them from
# vigil.store.schema would let a later change of the live code alter an applied migration.
UtcDateTime = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("cameras") as batch:
        batch.add_column(sa.Column("managed", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()))
        batch.add_column(sa.Column("fps", sa.Float))
        batch.add_column(sa.Column("loop", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("dead_zones", sa.JSON, nullable=False, server_default="[]"))
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("last_used_at", UtcDateTime),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", UtcDateTime, nullable=False, index=True),
        sa.Column("actor", sa.String(64)),
        sa.Column("action", sa.String(200), nullable=False),
        sa.Column("target", sa.Text),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("ip", sa.String(64)),
    )


def downgrade() -> None:
    for table in ("audit_log", "api_keys", "users"):
        op.drop_table(table)
    with op.batch_alter_table("cameras") as batch:
        for column in ("dead_zones", "loop", "fps", "enabled", "managed"):
            batch.drop_column(column)
