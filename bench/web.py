"""Recurrence API benchmark: `GET /api/visitors/loyal` with 100k visitors in the store.

The store (embedded SQLite by default, or PostgreSQL from the `pgserver` wheel) is filled through
bench.store's bulk visitor loader, then with visits and sightings spread over the last 8 local days
(each visitor comes on one random day and on each other day with probability 0.15, 1-2 sightings
per visit, 4 cameras). The API is timed through FastAPI's TestClient with a viewer's API key: the
full request path (middleware, auth, queries, signed photo URLs, JSON).

    python -m bench.web                 # 100k visitors, SQLite
    python -m bench.web --postgres      # the same on PostgreSQL + pgvector
    python -m bench.web --quick         # 10k visitors (smoke run)
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy import bindparam, insert, text, update

from bench.pg import postgres_url
from bench.store import DIM, MODEL, open_store, percentiles, populate_visitors, unit_vectors
from vigil.config import load_settings
from vigil.store.repository import IdentityStore
from vigil.store.schema import Camera, Sighting, Visit, Visitor
from vigil.web.app import create_web_app

DAYS = 8
REVISIT_P = 0.15
CHUNK = 20_000


def visit_plan(rng: np.random.Generator, visitors: int) -> np.ndarray:
    """A (visitors, DAYS) boolean matrix: who comes on which day (everyone at least once)."""
    plan = rng.random((visitors, DAYS)) < REVISIT_P
    plan[np.arange(visitors), rng.integers(0, DAYS, visitors)] = True
    return plan


def populate_visits(store: IdentityStore, ids: list[uuid.UUID], today: date, rng: np.random.Generator) -> int:
    """Visits and sightings for `ids` over the `DAYS` local days ending `today`; returns sightings."""
    plan = visit_plan(rng, len(ids))
    vector = np.zeros(DIM, np.float32)
    with store.db.writer.begin() as conn:
        cameras = [
            conn.execute(insert(Camera).values(name=f"cam-{i}").returning(Camera.id)).scalar_one()
            for i in range(4)
        ]
        visits: list[dict[str, Any]] = []
        sightings: list[dict[str, Any]] = []
        summary: list[dict[str, Any]] = []
        total = 0
        for row, visitor in enumerate(ids):
            days = np.flatnonzero(plan[row])
            times = []
            for d in days:
                start = local_time(today - timedelta(days=DAYS - 1 - int(d)), rng)
                visit_id = uuid.uuid4()
                n = int(rng.integers(1, 3))
                visits.append(
                    {"id": visit_id, "visitor_id": visitor, "started_at": start,
                     "ended_at": start + timedelta(minutes=5 * (n - 1)), "sightings": n}
                )  # fmt: skip
                for k in range(n):
                    at = start + timedelta(minutes=5 * k)
                    sightings.append(
                        sighting_row(visitor, visit_id, at, cameras[int(rng.integers(4))], k, vector)
                    )
                times.append(start)
            summary.append(
                {"vid": visitor, "first": min(times), "last": max(times), "count": len(days),
                 "photo": f"visitors/{visitor}.webp"}
            )  # fmt: skip
            if len(sightings) >= CHUNK:
                total += flush(conn, visits, sightings, summary)
        total += flush(conn, visits, sightings, summary)
    analyze(store)
    return total


def analyze(store: IdentityStore) -> None:
    """Planner statistics; on PostgreSQL also VACUUM, as autovacuum would after a bulk load: without
    the visibility map its index-only scans read the table rows too."""
    if store.db.backend != "postgresql":
        with store.db.writer.begin() as conn:
            conn.execute(text("ANALYZE"))
        return
    with store.db.writer.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))


def local_time(day: date, rng: np.random.Generator) -> datetime:
    hour, minute = int(rng.integers(8, 20)), int(rng.integers(0, 60))
    return datetime(day.year, day.month, day.day, hour, minute).astimezone()


def sighting_row(
    visitor: uuid.UUID, visit: uuid.UUID, at: datetime, camera: int, k: int, vector: np.ndarray
) -> dict[str, Any]:
    sighting_id = uuid.uuid4()
    return {
        "id": sighting_id, "visitor_id": visitor, "camera_id": camera, "visit_id": visit, "track_id": k,
        "captured_at": at, "model": MODEL, "dim": DIM, "embedding": vector, "quality": 0.3 + 0.1 * k,
        "similarity": 0.8, "image_path": f"{at:%Y/%m/%d}/{sighting_id}.webp",
    }  # fmt: skip


def flush(
    conn: Any, visits: list[dict[str, Any]], sightings: list[dict[str, Any]], summary: list[Any]
) -> int:
    n = len(sightings)
    if visits:
        conn.execute(insert(Visit), visits)
    if sightings:
        conn.execute(insert(Sighting), sightings)
    if summary:
        conn.execute(
            update(Visitor)
            .where(Visitor.id == bindparam("vid"))
            .values(first_seen_at=bindparam("first"), last_seen_at=bindparam("last"))
            .values(visit_count=bindparam("count"), best_image_path=bindparam("photo")),
            summary,
        )
    for done in (visits, sightings, summary):
        done.clear()
    return n


@contextmanager
def filled_store(visitors: int, postgres: bool, today: date) -> Iterator[tuple[str, Path]]:
    """A store URL holding `visitors` visitors with 8 days of visits (and a temp data dir)."""
    with tempfile.TemporaryDirectory() as tmp, database_url(Path(tmp), postgres) as url:
        rng = np.random.default_rng(5)
        store = open_store(url, Path(tmp))
        start = time.perf_counter()
        ids = populate_visitors(store, unit_vectors(rng, visitors))
        sightings = populate_visits(store, ids, today, rng)
        counts = store.counts()
        store.close()
        print(
            f"filled in {time.perf_counter() - start:.1f} s: {counts['visitors']} visitors, "
            f"{counts['visits']} visits, {sightings} sightings over {DAYS} days"
        )
        yield url, Path(tmp)


@contextmanager
def database_url(tmp: Path, postgres: bool) -> Iterator[str]:
    if not postgres:
        yield f"sqlite:///{tmp}/vigil.db"
        return
    with postgres_url(tmp) as url:
        yield url


def time_calls(
    client: TestClient, url: str, headers: dict[str, str], calls: int
) -> tuple[float, float, float, int]:
    """(p50, p95 wall ms, p50 CPU ms of this process, total) of `calls` GETs."""
    first = client.get(url, headers=headers)  # warm-up (also checks the call works)
    assert first.status_code == 200, first.text
    samples, cpu = [], []
    for _ in range(calls):
        start, start_cpu = time.perf_counter(), time.process_time()
        response = client.get(url, headers=headers)
        samples.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
        assert response.status_code == 200
    p50, p95 = percentiles(samples)
    return p50, p95, percentiles(cpu)[0], int(first.json()["total"])


def bench_api(url: str, data: Path, today: date, calls: int) -> list[tuple[str, float, float, float, int]]:
    settings = load_settings(data_dir=data, web={"admin_password": "bench-password", "start_cameras": False})
    app = create_web_app(settings, url)
    users = app.state.ctx.users
    account = users.create("bench-viewer", "bench-viewer-password", "viewer")
    headers = {"Authorization": f"Bearer {users.create_key(account.id, 'bench')[1]}"}
    base = f"/api/visitors/loyal?date={today}&min_visits=1"
    cases = {
        "loyal, page 1 (50, by arrival)": base + "&limit=50",
        "loyal, deep page (offset 10000)": base + "&limit=50&offset=10000",
        "loyal ≥ 3 visits, by visits": f"/api/visitors/loyal?date={today}&min_visits=3&sort=visits&limit=50",
        "all in window, page 1 (by last seen)": f"/api/visitors?date={today}&sort=last_seen&limit=50",
        "all in window, page 1 (by arrival)": f"/api/visitors?date={today}&limit=50",
        "all in window, page 1 (by visits)": f"/api/visitors?date={today}&sort=visits&limit=50",
    }
    results = []
    with TestClient(app) as client:
        for name, path in cases.items():
            results.append((name, *time_calls(client, path, headers, calls)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="10k visitors (smoke run)")
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL + pgvector instead of SQLite")
    parser.add_argument("--calls", type=int, default=50, help="timed calls per case")
    args = parser.parse_args()
    visitors = 10_000 if args.quick else 100_000
    today = datetime.now().astimezone().date()
    backend = "postgresql" if args.postgres else "sqlite"
    print(
        f"# bench.web {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, {backend}"
    )
    with filled_store(visitors, args.postgres, today) as (url, data):
        for name, p50, p95, cpu, total in bench_api(url, data, today, args.calls):
            verdict = "ok" if p95 <= 100 else "over the goal"
            print(
                f"{name}: total {total}, p50 {p50:.1f} ms, p95 {p95:.1f} ms (goal p95 ≤ 100 ms: {verdict}); "
                f"CPU p50 {cpu:.1f} ms"
            )


if __name__ == "__main__":
    main()
