"""Several processes writing to one store at once: exact counts, nothing lost or duplicated."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import func, select

from vigil.config import StoreConfig, VigilSettings
from vigil.store.repository import FaceObservation, IdentityStore
from vigil.store.schema import Prototype, Sighting, Visit, Visitor
from vigil.types import FaceEmbedding

PEOPLE = 20
WRITERS = 4
PER_WRITER = 1000
BATCH = 25
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _people() -> np.ndarray:
    return np.random.default_rng(3).normal(size=(PEOPLE, 128)).astype(np.float32)


def _store(url: str, data: Path) -> IdentityStore:
    return IdentityStore.open(
        VigilSettings(data_dir=data, store=StoreConfig(url=url, same_person_similarity=0.9))
    )


def _writer(url: str, data: str, worker: int) -> None:
    store = _store(url, Path(data))
    people = _people()
    rng = np.random.default_rng(100 + worker)
    batch: list[FaceObservation] = []
    for i in range(PER_WRITER):
        person = i % PEOPLE
        vector = people[person] + rng.normal(size=128).astype(np.float32) * 0.05
        at = T0 + timedelta(seconds=i)  # every sighting within one visit per person
        batch.append(FaceObservation(f"cam-{worker}", i, at, FaceEmbedding(vector, "m1"), 0.5))
        if len(batch) == BATCH:
            store.observe_many(batch)
            batch = []
    store.close()


def test_four_processes_writing_concurrently_give_exact_counts(db_url: str, tmp_path: Path) -> None:
    store = _store(db_url, tmp_path)
    founders = store.observe_many(
        [FaceObservation("cam-0", -1, T0, FaceEmbedding(v, "m1"), 0.5) for v in _people()]
    )
    assert all(f.new_visitor for f in founders)
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_writer, args=(db_url, str(tmp_path), w)) for w in range(WRITERS)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=240)
    assert [w.exitcode for w in workers] == [0] * WRITERS
    expected = 1 + WRITERS * PER_WRITER // PEOPLE
    with store.db.reader.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Visitor)).scalar_one() == PEOPLE
        assert (
            conn.execute(select(func.count()).select_from(Sighting)).scalar_one()
            == PEOPLE + WRITERS * PER_WRITER
        )
        per_visitor = dict(
            conn.execute(select(Sighting.visitor_id, func.count()).group_by(Sighting.visitor_id)).all()
        )
        assert set(per_visitor.values()) == {expected}
        # Read-modify-write counters: a lost update would show here.
        assert set(conn.execute(select(Prototype.sightings)).scalars()) == {expected}
        assert set(conn.execute(select(Visit.sightings)).scalars()) == {expected}
        assert set(conn.execute(select(Visitor.visit_count)).scalars()) == {1}
        distinct = conn.execute(select(func.count(func.distinct(Sighting.id)))).scalar_one()
        assert distinct == PEOPLE + WRITERS * PER_WRITER
    store.close()
