"""Drop the single-column time indexes that 0003's covering indexes made redundant.

`ix_sightings_captured_visitor (captured_at, visitor_id)` and `ix_visits_started_visitor
(started_at, visitor_id)` serve every range on `captured_at` / `started_at` that the single-column
indexes served (same leading column), so the latter only cost writes and space. After this
revision `schema.py` declares exactly the indexes the migrations create (tests/test_store.py
compares them).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_sightings_captured_at", "sightings")
    op.drop_index("ix_visits_started_at", "visits")


def downgrade() -> None:
    op.create_index("ix_visits_started_at", "visits", ["started_at"])
    op.create_index("ix_sightings_captured_at", "sightings", ["captured_at"])
