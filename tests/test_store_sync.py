"""In-process exact indexes follow the database through the prototype change log (migration 0006):
another process's writes are applied without reloading the model, a rolled-back write leaves no
trace in memory, a reader behind the pruned log reloads, and PostgreSQL switches a model from the
exact search to HNSW past `store.exact_search_max`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from vigil.config import StoreConfig, VigilSettings
from vigil.store import vectors
from vigil.store.repository import FaceObservation, IdentityStore
from vigil.store.schema import PrototypeChange
from vigil.store.vectors import NumpyIndex, PgVectorIndex, unit_rows
from vigil.types import FaceEmbedding

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
PEOPLE = unit_rows(np.random.default_rng(11).normal(size=(12, 128)).astype(np.float32))


def open_store(url: str, data: Path, **config: object) -> IdentityStore:
    settings = VigilSettings(data_dir=data, store=StoreConfig(url=url, same_person_similarity=0.9, **config))
    return IdentityStore.open(settings)


def seen(person: int, track: int, minutes: int = 0) -> FaceObservation:
    vector = PEOPLE[person] + np.random.default_rng(track).normal(size=128).astype(np.float32) * 0.01
    return FaceObservation("cam", track, T0 + timedelta(minutes=minutes), FaceEmbedding(vector, "m1"), 0.5)


def exact_index(store: IdentityStore) -> NumpyIndex:
    index = store.index
    return index._exact if isinstance(index, PgVectorIndex) else index  # type: ignore[return-value]


@pytest.fixture
def two_stores(db_url: str, tmp_path: Path) -> Iterator[tuple[IdentityStore, IdentityStore]]:
    """Two stores on one database: two processes as far as the in-process index can tell."""
    a, b = open_store(db_url, tmp_path / "a"), open_store(db_url, tmp_path / "b")
    yield a, b
    a.close()
    b.close()


def test_another_writers_changes_are_applied_without_a_reload(
    two_stores: tuple[IdentityStore, IdentityStore],
) -> None:
    reader, writer = two_stores
    first = reader.observe(seen(0, 1)).visitor_id
    matrix = exact_index(reader)._models["m1"]
    joined = writer.observe(seen(0, 2, 5))
    founded = writer.observe(seen(1, 3, 5)).visitor_id
    gone = writer.observe(seen(2, 4, 5)).visitor_id
    writer.erase(gone)
    assert joined.visitor_id == first and not joined.new_visitor
    # The reader sees the new visitor and not the erased one, in the very same matrix object.
    assert reader.lookup(seen(1, 9).embedding)[0].visitor_id == founded
    assert all(m.visitor_id != gone for m in reader.lookup(seen(2, 9).embedding))
    assert exact_index(reader)._models["m1"] is matrix
    assert set(matrix.ids) == {first, founded}
    # Patched rows equal a fresh load of the same database.
    fresh = NumpyIndex()
    with reader.db.reader.connect() as conn:
        probe = unit_rows(PEOPLE[:3])
        assert [[m.visitor_id for m in r] for r in fresh.search(conn, "m1", probe, 2)] == [
            [m.visitor_id for m in r] for r in exact_index(reader).search(conn, "m1", probe, 2)
        ]


def test_a_rolled_back_write_leaves_no_visitor_in_memory(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url, tmp_path)
    try:
        store.observe(seen(0, 1))
        original = store.index.changed

        def fail_after_logging(conn: object, model: str, ids: object) -> None:
            original(conn, model, ids)  # type: ignore[arg-type]
            raise RuntimeError("disk full")

        store.index.changed = fail_after_logging  # type: ignore[method-assign,assignment]
        with pytest.raises(RuntimeError, match="disk full"):
            store.observe(seen(3, 2))
        store.index.changed = original  # type: ignore[method-assign]
        found = store.lookup(seen(3, 3).embedding)
        assert all(m.similarity < 0.5 for m in found)  # only person 0, nothing of the failed write
        assert store.observe(seen(3, 4)).new_visitor
    finally:
        store.close()


def test_a_reader_behind_the_pruned_log_reloads(
    two_stores: tuple[IdentityStore, IdentityStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vectors, "KEEP_VERSIONS", 3)
    monkeypatch.setattr(vectors, "PRUNE_EVERY", 1)
    reader, writer = two_stores
    reader.observe(seen(0, 1))
    ids = {writer.observe(seen(p, 10 + p)).visitor_id for p in range(1, 8)}
    with writer.db.reader.connect() as conn:
        logged = conn.execute(select(func.count(func.distinct(PrototypeChange.version)))).scalar_one()
    assert logged <= 4  # pruned to the last versions
    for p in range(1, 8):
        assert reader.lookup(seen(p, 50 + p).embedding)[0].visitor_id in ids


def test_postgres_switches_a_model_to_hnsw_past_exact_search_max(pg_url: str, tmp_path: Path) -> None:
    small = open_store(pg_url, tmp_path / "small", exact_search_max=100)
    capped = open_store(pg_url, tmp_path / "capped", exact_search_max=5)
    try:
        made = [small.observe(seen(p, p)).visitor_id for p in range(10)]
        for store in (small, capped):
            index = store.index
            assert isinstance(index, PgVectorIndex)
            with store.db.reader.connect() as conn:
                assert index.searches_exactly(conn, "m1") is (store is small)
            # Either way the answers are the same exact similarities.
            matches = [store.lookup(seen(p, 100 + p).embedding)[0] for p in range(10)]
            assert [m.visitor_id for m in matches] == made
            assert all(m.similarity > 0.95 for m in matches)
        assert not exact_index(capped).loaded("m1")  # never loaded past the cap
    finally:
        small.close()
        capped.close()


def test_postgres_model_growing_past_the_cap_moves_to_hnsw(pg_url: str, tmp_path: Path) -> None:
    store = open_store(pg_url, tmp_path, exact_search_max=3)
    try:
        index = store.index
        assert isinstance(index, PgVectorIndex)
        made = [store.observe(seen(p, p)).visitor_id for p in range(3)]
        with store.db.reader.connect() as conn:
            assert index.searches_exactly(conn, "m1")  # 3 prototypes: still exact, matrix loaded
        made += [store.observe(seen(p, p)).visitor_id for p in range(3, 6)]
        assert store.lookup(seen(5, 99).embedding)[0].visitor_id == made[5]  # exact, then over the cap
        with store.db.reader.connect() as conn:
            assert not index.searches_exactly(conn, "m1")
        assert not exact_index(store).loaded("m1")  # its matrix is dropped
        assert [store.lookup(seen(p, 200 + p).embedding)[0].visitor_id for p in range(6)] == made
    finally:
        store.close()
