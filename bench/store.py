"""Identity store benchmark on synthetic unit vectors (128-d, the default embedder's size).

Printed in one run:
1. SQLite (embedded default): identity lookup latency (p50/p95) with N visitors, and batched
   ingest rate (sightings assigned and written per second) on top of them;
2. PostgreSQL + pgvector (a real server from the `pgserver` wheel), V visitors and S sightings:
   lookup latency, recall and ingest through the default exact in-process search and through
   HNSW only (anchors re-ranked by the exact means), and how often the two agree.

    python -m bench.store                  # 100k visitors (SQLite), 100k visitors + 1M sightings (PG)
    python -m bench.store --quick          # 10k / 10k + 100k, a smoke run
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import insert, text

from bench.pg import postgres_url
from vigil.config import StoreConfig, VigilSettings
from vigil.store.repository import FaceObservation, IdentityStore
from vigil.store.schema import Prototype, Visitor
from vigil.types import FaceEmbedding

DIM = 128
MODEL = "bench_v1"
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def unit_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, DIM)).astype(np.float32)
    out: np.ndarray = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def open_store(url: str, data: Path, **config: Any) -> IdentityStore:
    return IdentityStore.open(
        VigilSettings(data_dir=data, store=StoreConfig(url=url, same_person_similarity=0.9, **config))
    )


def populate_visitors(store: IdentityStore, vectors: np.ndarray, chunk: int = 5000) -> list[uuid.UUID]:
    """Bulk-load visitors and prototypes directly (the ingest path is measured separately)."""
    ids = [uuid.uuid4() for _ in range(len(vectors))]
    with store.db.writer.begin() as conn:
        for start in range(0, len(ids), chunk):
            part = range(start, min(start + chunk, len(ids)))
            conn.execute(
                insert(Visitor),
                [
                    {
                        "id": ids[i],
                        "first_seen_at": T0,
                        "last_seen_at": T0,
                        "visit_count": 1,
                        "best_quality": 0.5,
                        "created_at": T0,
                    }
                    for i in part
                ],
            )
            conn.execute(
                insert(Prototype),
                [
                    {
                        "visitor_id": ids[i],
                        "model": MODEL,
                        "dim": DIM,
                        "embedding": vectors[i],
                        "sightings": 1,
                        "updated_at": T0,
                    }
                    for i in part
                ],
            )
        store.index.changed(conn, MODEL, set(ids))
    return ids


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(0.95 * (len(ordered) - 1))]


def time_lookups(store: IdentityStore, queries: np.ndarray) -> tuple[float, float]:
    store.lookup(FaceEmbedding(queries[0], MODEL))  # warm: loads the matrix / index pages
    samples = []
    for q in queries:
        start = time.perf_counter()
        store.lookup(FaceEmbedding(q, MODEL))
        samples.append((time.perf_counter() - start) * 1000)
    return percentiles(samples)


def time_ingest(
    store: IdentityStore, people: np.ndarray, total: int, batch: int, rng: np.random.Generator, day: int
) -> float:
    """Sightings per second through `observe_many` (search + assignment + rows), batched. Each call
    takes its own `day` after T0, so sightings arrive in time order as from a live camera (an
    earlier time than a visitor's latest visit would take the slow visit-rebuild path)."""
    done, start = 0, time.perf_counter()
    while done < total:
        picks = rng.integers(0, len(people), size=batch)
        noisy = people[picks] + rng.normal(size=(batch, DIM)).astype(np.float32) * 0.02
        at = T0 + timedelta(days=day, seconds=done)
        store.observe_many(
            [
                FaceObservation("bench", done + i, at, FaceEmbedding(v, MODEL), 0.5)
                for i, v in enumerate(noisy)
            ]
        )
        done += batch
    return done / (time.perf_counter() - start)


def bench_sqlite(visitors: int, lookups: int, ingest: int) -> dict[str, Any]:
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{tmp}/vigil.db", Path(tmp))
        people = unit_vectors(rng, visitors)
        t = time.perf_counter()
        populate_visitors(store, people)
        load_s = time.perf_counter() - t
        p50, p95 = time_lookups(store, unit_vectors(rng, lookups))
        rate = time_ingest(store, people, ingest, 500, rng, day=1)
        single = time_ingest(store, people, max(ingest // 10, 50), 1, rng, day=2)
        store.close()
    return {
        "visitors": visitors,
        "load_s": load_s,
        "ingest_single_per_s": single,
        "lookup_p50_ms": p50,
        "lookup_p95_ms": p95,
        "ingest_per_s": rate,
    }


def populate_sightings_pg(store: IdentityStore, total: int) -> None:
    """Server-side bulk insert: `total` sightings spread over the visitors, random 128-d vectors."""
    with store.db.writer.begin() as conn:
        conn.execute(
            text("INSERT INTO cameras (name, created_at) VALUES ('bench', now()) ON CONFLICT DO NOTHING")
        )
        conn.execute(
            text(
                """
                WITH v AS (SELECT id, row_number() OVER () AS n FROM visitors),
                     c AS (SELECT count(*) AS total FROM visitors)
                INSERT INTO sightings (id, visitor_id, camera_id, track_id, captured_at, model, dim,
                                       embedding, quality, similarity, image_path)
                SELECT gen_random_uuid(), v.id, NULL, g, now() - (g || ' seconds')::interval, :model, 128,
                       (SELECT array_agg(random() - 0.5)::vector FROM generate_series(1, 128) WHERE g > 0),
                       0.5, NULL, NULL
                FROM generate_series(1, :total) AS g CROSS JOIN c
                JOIN v ON v.n = (g % c.total) + 1
                """
            ),
            {"model": MODEL, "total": total},
        )


def bench_postgres(visitors: int, sightings: int, lookups: int, ingest: int) -> dict[str, Any]:
    """The default (exact in-process search below `store.exact_search_max`) and HNSW only
    (`exact_search_max=0`, the path of models past it), on the same database."""
    rng = np.random.default_rng(2)
    with tempfile.TemporaryDirectory() as tmp, postgres_url(Path(tmp)) as url:
        store = open_store(url, Path(tmp))
        hnsw = open_store(url, Path(tmp), exact_search_max=0)
        people = unit_vectors(rng, visitors)
        timings: dict[str, float] = {}
        ids: list[uuid.UUID] = []
        timed(timings, "load_visitors_s", lambda: ids.extend(populate_visitors(store, people)))
        timed(timings, "load_sightings_s", lambda: populate_sightings_pg(store, sightings))
        with store.db.writer.begin() as conn:
            conn.execute(text("ANALYZE"))
        queries = unit_vectors(rng, lookups)
        out = {"visitors": visitors, "sightings": sightings, **timings}
        for day, (name, s) in enumerate((("hnsw", hnsw), ("exact", store))):
            out[f"{name}_lookup_p50_ms"], out[f"{name}_lookup_p95_ms"] = time_lookups(s, queries)
            out[f"{name}_recall_at_1"] = recall_at_1(s, people, ids, rng)
            out[f"{name}_ingest_per_s"] = time_ingest(s, people, ingest, 500, rng, day=1 + 2 * day)
            single = time_ingest(s, people, max(ingest // 10, 50), 1, rng, day=2 + 2 * day)
            out[f"{name}_ingest_single_per_s"] = single
        out["hnsw_agreement"] = agreement(hnsw, store, people, rng)
        out["anchors_copied"] = anchors_copied(store)
        hnsw.close()
        store.close()
    return out


def agreement(
    hnsw: IdentityStore, exact: IdentityStore, people: np.ndarray, rng: np.random.Generator
) -> float:
    """Share of noisy queries whose best visitor is the same through HNSW (anchors re-ranked by
    the means) as through the exact search of the means, after the ingest moved the means."""
    picks = rng.integers(0, len(people), size=200)
    queries = people[picks] + rng.normal(size=(200, DIM)).astype(np.float32) * 0.02
    same = 0
    for q in queries:
        a, b = hnsw.lookup(FaceEmbedding(q, MODEL), 1), exact.lookup(FaceEmbedding(q, MODEL), 1)
        same += bool(a) and bool(b) and a[0].visitor_id == b[0].visitor_id
    return same / len(queries)


def anchors_copied(store: IdentityStore) -> int:
    """Anchors equal to a mean of several sightings: copied again after drifting (and not moved
    since; an anchor that drifted again below the threshold is not counted)."""
    with store.db.reader.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM prototype_anchors a JOIN prototypes p USING (visitor_id, model) "
                    "WHERE p.sightings > 1 AND (a.embedding <=> p.embedding) < 1e-6"
                )
            ).scalar_one()
        )


def recall_at_1(
    store: IdentityStore, people: np.ndarray, ids: list[uuid.UUID], rng: np.random.Generator, n: int = 200
) -> float:
    """Share of noisy queries whose top hit is the visitor they were made from (`ids[i]` was
    loaded from `people[i]`)."""
    picks = rng.integers(0, len(people), size=n)
    queries = people[picks] + rng.normal(size=(n, DIM)).astype(np.float32) * 0.02
    hits = 0
    for pick, q in zip(picks, queries, strict=True):
        found = store.lookup(FaceEmbedding(q, MODEL), 1)
        hits += bool(found) and found[0].visitor_id == ids[int(pick)]
    return hits / n


def timed(into: dict[str, float], key: str, fn: Callable[[], object]) -> None:
    start = time.perf_counter()
    fn()
    into[key] = time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    print(
        f"# bench.store {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    lite = bench_sqlite(100_000 // scale, 300, 5000 // scale)
    print(
        f"sqlite: {lite['visitors']} visitors (bulk load {lite['load_s']:.1f} s): lookup p50 "
        f"{lite['lookup_p50_ms']:.2f} ms, p95 {lite['lookup_p95_ms']:.2f} ms (goal ≤ 5 ms); ingest "
        f"{lite['ingest_per_s']:.0f} sightings/s batched (goal ≥ 1000), "
        f"{lite['ingest_single_per_s']:.0f}/s one per transaction"
    )
    if args.skip_postgres:
        return
    pg = bench_postgres(100_000 // scale, 1_000_000 // scale, 300, 5000 // scale)
    print(
        f"postgresql: {pg['visitors']} visitors, {pg['sightings']} sightings "
        f"(load {pg['load_visitors_s']:.1f} s incl. the HNSW index, + {pg['load_sightings_s']:.1f} s)"
    )
    for name, label in (("exact", "default, exact in process"), ("hnsw", "HNSW only, exact_search_max=0")):
        print(
            f"  {label}: lookup p50 {pg[f'{name}_lookup_p50_ms']:.2f} ms, "
            f"p95 {pg[f'{name}_lookup_p95_ms']:.2f} ms (goal ≤ 10 ms), recall@1 "
            f"{pg[f'{name}_recall_at_1']:.3f}; ingest {pg[f'{name}_ingest_per_s']:.0f} sightings/s "
            f"batched (goal ≥ 1000), {pg[f'{name}_ingest_single_per_s']:.0f}/s one per transaction"
        )
    print(
        f"  HNSW best visitor = exact best visitor on {pg['hnsw_agreement']:.3f} of queries after ingest; "
        f"anchors copied again after drifting (lower bound): {pg['anchors_copied']}"
    )


if __name__ == "__main__":
    main()
