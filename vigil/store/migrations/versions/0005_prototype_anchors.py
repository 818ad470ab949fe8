"""Move the PostgreSQL HNSW indexes from `prototypes` to a lagging copy, `prototype_anchors`.

Every sighting updates its visitor's prototype (the exact mean). With the HNSW index on
`prototypes`, each such update inserted a new tuple into the HNSW graph (~1.4-2.5 ms each on the
2-core bench machine: 500-sighting batches spent most of their time there, docs/benchmarks.md).
An anchor is the prototype as it was when last copied; it is copied again only once the mean has
drifted past `vectors.ANCHOR_MAX_DRIFT`, and searches re-rank the anchors' candidates by the exact
means. SQLite searches the means in process and leaves the table empty.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import VECTOR

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Frozen copies of the live code of this revision (vigil.store.schema, vigil.store.vectors): a later
# change there must not alter a migration that databases have already applied.
Embedding = sa.LargeBinary().with_variant(VECTOR(), "postgresql")
SAFE_MODEL = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def hnsw_index_ddl(model: str, dim: int) -> str:
    """One partial expression index per (model, dimension), as `PgVectorIndex.index_ddl` made it."""
    if not SAFE_MODEL.match(model):
        raise ValueError(f"embedding model name {model!r} must match {SAFE_MODEL.pattern}")
    safe = re.sub(r"[^a-z0-9_]", "_", model.lower())
    return (
        f"CREATE INDEX IF NOT EXISTS prototype_anchors_hnsw_{safe}_{dim} ON prototype_anchors "
        f"USING hnsw ((embedding::vector({dim})) vector_cosine_ops) "
        f"WHERE model = '{model}' AND dim = {int(dim)}"
    )


def upgrade() -> None:
    op.create_table(
        "prototype_anchors",
        sa.Column("visitor_id", sa.Uuid, sa.ForeignKey("visitors.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("model", sa.String(64), primary_key=True),
        sa.Column("dim", sa.Integer, nullable=False),
        sa.Column("embedding", Embedding, nullable=False),
    )
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    old = bind.execute(
        sa.text(
            "SELECT indexname FROM pg_indexes "
            "WHERE tablename = 'prototypes' AND indexname LIKE 'prototypes_hnsw_%'"
        )
    ).all()
    for (name,) in old:
        op.execute(f'DROP INDEX IF EXISTS "{name}"')
    op.execute(
        "INSERT INTO prototype_anchors (visitor_id, model, dim, embedding) "
        "SELECT visitor_id, model, dim, embedding FROM prototypes"
    )
    # The indexes are built here, after the copy, rather than grown row by row at the first write.
    pairs = bind.execute(sa.text("SELECT DISTINCT model, dim FROM prototype_anchors")).all()
    for row in pairs:
        op.execute(hnsw_index_ddl(str(row[0]), int(row[1])))


def downgrade() -> None:
    op.drop_table("prototype_anchors")
