"""PostgreSQL's HNSW index over lagging prototype copies (`prototype_anchors`, migration 0005):
anchors follow their prototype only past the drift threshold, searches re-rank by the exact
means and agree with exact search, anchors of deleted prototypes go, and the migration moves an
existing index."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, func, select, text

from vigil.config import StoreConfig, VigilSettings
from vigil.store.repository import FaceObservation, IdentityStore
from vigil.store.schema import Prototype, PrototypeAnchor
from vigil.store.vectors import ANCHOR_MAX_DRIFT, unit_rows
from vigil.types import FaceEmbedding

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
def pg_store(pg_url: str, tmp_path: Path) -> Iterator[IdentityStore]:
    settings = VigilSettings(
        data_dir=tmp_path / "data",
        store=StoreConfig(url=pg_url, same_person_similarity=0.9, exact_search_max=0),  # HNSW only
    )
    store = IdentityStore.open(settings)
    yield store
    store.close()


def seen(vector: np.ndarray, track: int, minutes: int = 0) -> FaceObservation:
    return FaceObservation("cam", track, T0 + timedelta(minutes=minutes), FaceEmbedding(vector, "m1"), 0.5)


def anchor_and_mean(store: IdentityStore, visitor: uuid.UUID) -> tuple[np.ndarray, np.ndarray]:
    with store.db.reader.connect() as conn:
        anchor = conn.execute(
            select(PrototypeAnchor.embedding).where(PrototypeAnchor.visitor_id == visitor)
        ).scalar_one()
        mean = conn.execute(select(Prototype.embedding).where(Prototype.visitor_id == visitor)).scalar_one()
    return np.asarray(anchor), np.asarray(mean)


def cosine_distance(a: np.ndarray, b: np.ndarray) -> float:
    return 1.0 - float(unit_rows(a) @ unit_rows(b))


def test_anchor_moves_only_once_the_mean_drifted_past_the_threshold(pg_store: IdentityStore) -> None:
    rng = np.random.default_rng(1)
    a = unit_rows(rng.normal(size=128).astype(np.float32))
    orth = rng.normal(size=128).astype(np.float32)
    orth = unit_rows(orth - (orth @ a) * a)
    first = pg_store.observe(seen(a, 1))
    assert np.allclose(anchor_and_mean(pg_store, first.visitor_id)[0], a, atol=1e-6)
    # cos 0.92 to `a` joins (threshold 0.9) and moves the mean by ~0.02 > 0.01: copied again.
    far = unit_rows(0.92 * a + np.sqrt(1 - 0.92**2) * orth)
    assert pg_store.observe(seen(far, 2, 1)).visitor_id == first.visitor_id
    anchor, mean = anchor_and_mean(pg_store, first.visitor_id)
    assert np.allclose(anchor, mean, atol=1e-6) and cosine_distance(anchor, a) > ANCHOR_MAX_DRIFT
    # A sighting close to the mean moves it by far less than the threshold: the anchor stays.
    assert pg_store.observe(seen(unit_rows(mean), 3, 2)).visitor_id == first.visitor_id
    kept, moved = anchor_and_mean(pg_store, first.visitor_id)
    assert np.array_equal(kept, anchor) and not np.allclose(moved, mean, atol=1e-4)
    assert cosine_distance(kept, moved) < ANCHOR_MAX_DRIFT
    with pg_store.db.reader.connect() as conn:
        indexes: dict[str, str] = dict(
            conn.execute(  # the list: dict() would take a Result (it has keys()) for a mapping
                text(
                    "SELECT indexname, tablename FROM pg_indexes WHERE position('USING hnsw' in indexdef) > 0"
                )
            )
            .tuples()
            .all()
        )
    assert indexes == {"prototype_anchors_hnsw_m1_128": "prototype_anchors"}


def test_search_agrees_with_exact_search_over_the_means(pg_store: IdentityStore) -> None:
    """Random visitors with several drifting sightings each: the HNSW candidates re-ranked by the
    exact means give the same best visitor and similarity as an exact scan of the means."""
    rng = np.random.default_rng(2)
    people = unit_rows(rng.normal(size=(300, 128)).astype(np.float32))
    for round_ in range(4):
        noisy = unit_rows(people + rng.normal(size=people.shape).astype(np.float32) * 0.015)
        pg_store.observe_many([seen(v, 1000 * round_ + i, round_) for i, v in enumerate(noisy)])
    with pg_store.db.reader.connect() as conn:
        rows = conn.execute(select(Prototype.visitor_id, Prototype.embedding)).all()
        drifted: int = conn.execute(
            text(
                "SELECT count(*) FROM prototype_anchors a JOIN prototypes p USING (visitor_id, model) "
                "WHERE (a.embedding <=> p.embedding) > 1e-6"
            )
        ).scalar_one()
    assert len(rows) == 300 and drifted > 100  # most anchors lag their mean: the re-rank matters
    ids, means = [r[0] for r in rows], unit_rows(np.vstack([r[1] for r in rows]))
    queries = unit_rows(people + rng.normal(size=people.shape).astype(np.float32) * 0.05)
    exact = queries @ means.T
    with pg_store.db.reader.connect() as conn:
        results = pg_store.index.search(conn, "m1", queries, 3)
    for q, matches in enumerate(results):
        best = int(np.argmax(exact[q]))
        assert matches[0].visitor_id == ids[best]
        assert matches[0].similarity == pytest.approx(float(exact[q, best]), abs=1e-5)
        assert [m.similarity for m in matches] == sorted((m.similarity for m in matches), reverse=True)


def test_anchors_of_erased_and_merged_visitors_are_gone(pg_store: IdentityStore) -> None:
    rng = np.random.default_rng(3)
    a, b, c = unit_rows(rng.normal(size=(3, 128)).astype(np.float32))
    va, vb, vc = (pg_store.observe(seen(v, i)).visitor_id for i, v in enumerate((a, b, c)))
    pg_store.merge(va, vb)
    pg_store.erase(vc)
    with pg_store.db.reader.connect() as conn:
        left = set(conn.execute(select(PrototypeAnchor.visitor_id)).scalars())
    assert left == {va}
    assert pg_store.lookup(FaceEmbedding(c, "m1"))[0].visitor_id == va  # only va is left to find


def test_migration_moves_an_existing_hnsw_index_to_the_anchors(pg_url: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(resources.files("vigil.store") / "migrations"))
    engine = create_engine(pg_url)
    visitor = uuid.uuid4()
    vector = "[" + ",".join(["0.5"] * 4) + "]"
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0004")
            conn.execute(
                text(
                    "INSERT INTO visitors (id, first_seen_at, last_seen_at, visit_count, best_quality, "
                    "created_at) VALUES (:id, now(), now(), 1, 0, now())"
                ),
                {"id": visitor},
            )
            conn.execute(
                text("INSERT INTO prototypes VALUES (:id, 'm1', 4, CAST(:v AS vector), 1, now())"),
                {"id": visitor, "v": vector},
            )
            conn.execute(
                text(
                    "CREATE INDEX prototypes_hnsw_m1_4 ON prototypes USING hnsw "
                    "((embedding::vector(4)) vector_cosine_ops) WHERE model = 'm1' AND dim = 4"
                )
            )
            command.upgrade(config, "head")
            hnsw = conn.execute(
                text("SELECT indexname FROM pg_indexes WHERE position('USING hnsw' in indexdef) > 0")
            ).all()
            assert hnsw == [("prototype_anchors_hnsw_m1_4",)]
            copied = conn.execute(
                select(PrototypeAnchor.visitor_id, func.count()).group_by(PrototypeAnchor.visitor_id)
            ).all()
            assert copied == [(visitor, 1)]
    finally:
        engine.dispose()
