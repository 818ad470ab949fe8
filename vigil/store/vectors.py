"""Nearest-prototype search by cosine similarity.

Prototypes are stored as plain means (see `maintenance.running_mean`); cosine similarity ignores
their length.

SQLite: an exact in-process NumPy search over all prototypes of one model, rows normalised in
memory (100k × 128 floats is one 50 MB matrix-vector product: lookup p95 ~2 ms on this 2-core
machine when idle, see docs/benchmarks.md). The matrix follows the `prototypes_version` counter
that every prototype write bumps and the `prototype_changes` log of which visitors it touched,
so every process's committed writes are applied before its next search.

PostgreSQL: pgvector's HNSW index over a lagging copy of the prototypes (`prototype_anchors`),
re-ranked by the exact means; one partial expression index per (model, dimension), since one
column holds vectors of several models and dimensions. Models with at most
`store.exact_search_max` prototypes are searched like SQLite's, exactly in process.
`hnsw.ef_search` is set once per connection (`HNSW_EF_SEARCH`, by `database.connect`)."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, delete, func, insert, select, text, update

from vigil.store.schema import Meta, Prototype, PrototypeAnchor, PrototypeChange
from vigil.types import FloatArray

VERSION_KEY = "prototypes_version"
HNSW_EF_SEARCH = 64  # candidates per HNSW scan: recall@1 0.99-1.0 in bench/store.py
# An anchor is copied again from its prototype past this cosine distance (similarity 0.99). A
# query's similarity to the anchor then differs from its similarity to the mean by at most
# sqrt(2 * 0.01) = 0.14, and by ~0.0125 (one standard deviation) for a query in a random
# direction in 128 dimensions; the exact re-rank of ANCHOR_CANDIDATES absorbs that (agreement
# with exact search is measured in bench/store.py and tested in tests/test_store_anchors.py).
ANCHOR_MAX_DRIFT = 0.01
ANCHOR_CANDIDATES = 10
PATCH_MAX_ROWS = 5000  # NumpyIndex: more changed rows than this reload the matrix instead
CHANGES_FROM_KEY = "prototype_changes_from"  # lowest version whose changes are all logged
KEEP_VERSIONS = 2000  # log kept for the last versions (write transactions); older is pruned
PRUNE_EVERY = 200
_SAFE_MODEL = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


@dataclass(frozen=True)
class Match:
    visitor_id: uuid.UUID
    similarity: float


class VectorIndex(Protocol):
    def search(self, conn: Connection, model: str, vectors: FloatArray, k: int) -> list[list[Match]]: ...

    def changed(self, conn: Connection, model: str, visitor_ids: Collection[uuid.UUID]) -> None:
        """Call inside the writing transaction after these visitors' prototypes of `model`
        were inserted, updated or deleted."""


def check_model_name(model: str) -> str:
    if not _SAFE_MODEL.match(model):
        raise ValueError(f"embedding model name {model!r} must match {_SAFE_MODEL.pattern}")
    return model


class _ModelMatrix:
    """Rows of one model's prototypes in a growable buffer (amortised O(1) append and delete)."""

    def __init__(self) -> None:
        self.ids: list[uuid.UUID] = []
        self.pos: dict[uuid.UUID, int] = {}
        self.buf: FloatArray = np.zeros((0, 0), np.float32)

    @property
    def matrix(self) -> FloatArray:
        return self.buf[: len(self.ids)]

    def put(self, visitor_id: uuid.UUID, vector: FloatArray) -> None:
        vector = unit_rows(vector)
        if visitor_id in self.pos:
            self.buf[self.pos[visitor_id]] = vector
            return
        n = len(self.ids)
        if self.buf.shape[1] != vector.shape[0]:
            self.buf = np.zeros((max(n, 16), vector.shape[0]), np.float32)
        elif n == self.buf.shape[0]:
            self.buf = np.vstack([self.buf, np.zeros_like(self.buf)])
        self.buf[n] = vector
        self.ids.append(visitor_id)
        self.pos[visitor_id] = n

    def drop(self, visitor_id: uuid.UUID) -> None:
        index = self.pos.pop(visitor_id, None)
        if index is None:
            return
        last = len(self.ids) - 1
        if index != last:
            moved = self.ids[last]
            self.buf[index] = self.buf[last]
            self.ids[index] = moved
            self.pos[moved] = index
        self.ids.pop()


def unit_rows(vectors: FloatArray) -> FloatArray:
    """Rows scaled to length 1 (zero rows stay zero), so a dot product is the cosine similarity."""
    array = np.asarray(vectors, np.float32)
    norms = np.linalg.norm(array, axis=-1, keepdims=True)
    out: FloatArray = array / np.maximum(norms, 1e-12)
    return out


def pop_top_k(scores: FloatArray, k: int) -> tuple[npt.NDArray[np.intp], FloatArray]:
    """Column indexes and values of each row's k best scores, best first. Consumes `scores`
    (picked cells become -inf): for the small k used here, k passes of argmax over the matrix
    are several times faster than argpartition, and copying a 500 × 100k matrix first would
    cost more than the passes."""
    rows = np.arange(scores.shape[0])
    cols, values = [], []
    for _ in range(k):
        col = np.argmax(scores, axis=1)
        cols.append(col)
        values.append(scores[rows, col])
        scores[rows, col] = -np.inf
    return np.stack(cols, axis=1), np.stack(values, axis=1)


class NumpyIndex:
    """Exact search over one in-process matrix per model. Each search first brings the matrices
    to the database's current `prototypes_version`: it applies the prototypes logged as changed
    since (this process's writes and other processes' alike, committed only), or reloads when the
    log no longer reaches back that far. Memory is not touched inside a write, so a transaction
    that rolls back leaves nothing behind."""

    def __init__(self) -> None:
        self._models: dict[str, _ModelMatrix] = {}
        self._version = -1
        self._lock = threading.Lock()

    def search(self, conn: Connection, model: str, vectors: FloatArray, k: int) -> list[list[Match]]:
        queries = np.atleast_2d(np.asarray(vectors, np.float32))
        with self._lock:
            data = self._current(conn, model)
            if not data.ids:
                return [[] for _ in queries]
            scores = queries @ data.matrix.T
            best, sims = pop_top_k(scores, min(k, len(data.ids)))
            return [
                [Match(data.ids[c], float(s)) for c, s in zip(cols, row_sims, strict=True)]
                for cols, row_sims in zip(best, sims, strict=True)
            ]

    def loaded_size(self, model: str) -> int:
        """Rows of `model` in memory as of the last search (0 when not loaded)."""
        with self._lock:
            data = self._models.get(model)
            return len(data.ids) if data else 0

    def loaded(self, model: str) -> bool:
        with self._lock:
            return model in self._models

    def forget(self, model: str) -> None:
        with self._lock:
            self._models.pop(model, None)

    def changed(self, conn: Connection, model: str, visitor_ids: Collection[uuid.UUID]) -> None:
        log_changes(conn, model, visitor_ids)

    def _current(self, conn: Connection, model: str) -> _ModelMatrix:
        wanted = select(Meta.key, Meta.value).where(Meta.key.in_([VERSION_KEY, CHANGES_FROM_KEY]))
        meta = {key: value for key, value in conn.execute(wanted).tuples()}
        version, logged_from = meta[VERSION_KEY], meta[CHANGES_FROM_KEY]
        if version != self._version:
            if self._models and self._version >= 0 and self._version + 1 >= logged_from:
                self._apply_log(conn, version)
            else:
                self._models.clear()
            self._version = version
        if model not in self._models:
            self._models[model] = self._load(conn, model)
        return self._models[model]

    def _apply_log(self, conn: Connection, version: int) -> None:
        changes = conn.execute(
            select(PrototypeChange.model, PrototypeChange.visitor_id)
            .where(
                PrototypeChange.version > self._version,
                PrototypeChange.version <= version,
                PrototypeChange.model.in_(list(self._models)),
            )
            .distinct()
        ).all()
        if len(changes) > PATCH_MAX_ROWS:  # far behind: one reload beats many patches
            self._models.clear()
            return
        by_model: dict[str, list[uuid.UUID]] = {}
        for model, visitor_id in changes:
            by_model.setdefault(model, []).append(visitor_id)
        for model, ids in by_model.items():
            data, found = self._models[model], set()
            for start in range(0, len(ids), 900):  # under SQLite's bound-parameter limit
                rows = conn.execute(
                    select(Prototype.visitor_id, Prototype.embedding).where(
                        Prototype.model == model, Prototype.visitor_id.in_(ids[start : start + 900])
                    )
                ).all()
                for visitor_id, vector in rows:
                    data.put(visitor_id, vector)
                    found.add(visitor_id)
            for visitor_id in set(ids) - found:
                data.drop(visitor_id)

    @staticmethod
    def _load(conn: Connection, model: str) -> _ModelMatrix:
        data = _ModelMatrix()
        rows = conn.execute(
            select(Prototype.visitor_id, Prototype.embedding).where(Prototype.model == model)
        ).all()
        if rows:
            data.buf = unit_rows(np.vstack([r[1] for r in rows]))
            data.ids = [r[0] for r in rows]
            data.pos = {v: i for i, v in enumerate(data.ids)}
        return data


def log_changes(conn: Connection, model: str, visitor_ids: Collection[uuid.UUID]) -> None:
    """Inside the writing transaction: move `prototypes_version` on and log these visitors under
    the new version. The counter's row stays locked until commit, so versions commit in order and
    a reader that sees version V sees every log row up to V."""
    version = conn.execute(
        update(Meta).where(Meta.key == VERSION_KEY).values(value=Meta.value + 1).returning(Meta.value)
    ).scalar_one()
    if len(visitor_ids) > PATCH_MAX_ROWS:  # a bulk change: readers reload instead of patching
        conn.execute(update(Meta).where(Meta.key == CHANGES_FROM_KEY).values(value=version + 1))
        return
    if visitor_ids:
        rows = [{"version": version, "model": model, "visitor_id": v} for v in visitor_ids]
        conn.execute(insert(PrototypeChange), rows)
    if version % PRUNE_EVERY == 0:
        floor = version - KEEP_VERSIONS
        conn.execute(delete(PrototypeChange).where(PrototypeChange.version < floor))
        conn.execute(update(Meta).where(Meta.key == CHANGES_FROM_KEY, Meta.value < floor).values(value=floor))


class PgVectorIndex:
    """pgvector HNSW (cosine) per model over `prototype_anchors`, re-ranked by the exact means;
    models with at most `exact_max` prototypes are searched exactly in process instead
    (`store.exact_search_max`: a 500-query batch over 100k prototypes is one matrix product,
    ~0.17 s when profiled with a top-3 pick, against ~1 s of HNSW scans on the 2-core bench machine).

    An anchor is a prototype as it was when last copied (migration 0005). Writes call `changed`,
    which copies a prototype to its anchor only when it is new or has drifted by more than
    `ANCHOR_MAX_DRIFT` (cosine distance), so most sightings update the mean without an HNSW insert.
    A search takes the `ANCHOR_CANDIDATES` nearest anchors and orders them by the similarity to
    their current mean; `<=>` is cosine distance, similarity = 1 - distance."""

    def __init__(self, exact_max: int = 0) -> None:
        self._indexed: set[tuple[str, int]] = set()
        self._lock = threading.Lock()
        self._exact = NumpyIndex()
        self._exact_max = exact_max
        self._too_big: set[str] = set()  # models past `exact_max`: HNSW from now on

    def search(self, conn: Connection, model: str, vectors: FloatArray, k: int) -> list[list[Match]]:
        if not self.searches_exactly(conn, model):
            return self._search_hnsw(conn, model, vectors, k)
        found = self._exact.search(conn, model, vectors, k)
        if self._exact.loaded_size(model) > self._exact_max:  # grew past the cap: HNSW from now on
            self._too_big.add(model)
            self._exact.forget(model)
        return found

    def searches_exactly(self, conn: Connection, model: str) -> bool:
        """Small models are searched exactly in process (faster than HNSW for batches here, and no
        approximation); before its matrix is loaded, a model's prototypes are counted first."""
        if self._exact_max == 0 or model in self._too_big:
            return False
        if not self._exact.loaded(model):
            count = conn.execute(select(func.count()).where(Prototype.model == model)).scalar_one()
            if count > self._exact_max:
                self._too_big.add(model)
                return False
        return True

    def _search_hnsw(self, conn: Connection, model: str, vectors: FloatArray, k: int) -> list[list[Match]]:
        queries = np.atleast_2d(np.asarray(vectors, np.float32))
        dim = queries.shape[1]
        check_model_name(model)
        # All queries in one round trip; each runs its own index scan through LATERAL. The exact
        # similarity is a scalar subquery per candidate, so no plan (even on fresh statistics
        # after a bulk load) can re-run the index scan once per prototype row of a join.
        sql = text(
            f"SELECT u.i, c.visitor_id, (SELECT 1 - (p.embedding <=> CAST(u.t AS vector({dim}))) "
            f"FROM prototypes p WHERE p.visitor_id = c.visitor_id AND p.model = :model) "
            f"FROM unnest(CAST(:qs AS text[])) WITH ORDINALITY AS u(t, i) "
            f"CROSS JOIN LATERAL (SELECT visitor_id FROM prototype_anchors "
            f"WHERE model = :model AND dim = {dim} "
            f"ORDER BY embedding::vector({dim}) <=> CAST(u.t AS vector({dim})) LIMIT :n) AS c"
        )
        literals = ["[" + ",".join(f"{v:.7g}" for v in query) + "]" for query in queries]
        params = {"qs": literals, "model": model, "n": max(k, ANCHOR_CANDIDATES)}
        results: list[list[Match]] = [[] for _ in queries]
        for row in conn.execute(sql, params).all():
            if row[2] is not None:  # None: no prototype behind the anchor (cannot happen in one transaction)
                results[int(row[0]) - 1].append(Match(row[1], float(row[2])))
        return [sorted(found, key=lambda m: -m.similarity)[:k] for found in results]

    def changed(self, conn: Connection, model: str, visitor_ids: Collection[uuid.UUID]) -> None:
        ids = sorted(set(visitor_ids))
        if ids:
            params = {"model": model, "ids": ids, "drift": ANCHOR_MAX_DRIFT}
            conn.execute(_DROP_ANCHORS, params)
            conn.execute(_REFRESH_ANCHORS, params)
        log_changes(conn, model, ids)
        with self._lock:
            if any(m == model for m, _ in self._indexed):
                return  # a model has one dimension: its index exists, skip the query per write
        dims = conn.execute(select(PrototypeAnchor.dim).where(PrototypeAnchor.model == model).distinct())
        for dim in dims.scalars():
            self.ensure_index(conn, model, int(dim))

    def ensure_index(self, conn: Connection, model: str, dim: int) -> None:
        with self._lock:
            if (model, dim) in self._indexed:
                return
        conn.execute(text(self.index_ddl(model, dim)))
        with self._lock:
            self._indexed.add((model, dim))

    @staticmethod
    def index_ddl(model: str, dim: int) -> str:
        """One partial expression index per (model, dimension): one column holds them all."""
        safe = re.sub(r"[^a-z0-9_]", "_", check_model_name(model).lower())
        return (
            f"CREATE INDEX IF NOT EXISTS prototype_anchors_hnsw_{safe}_{dim} ON prototype_anchors "
            f"USING hnsw ((embedding::vector({dim})) vector_cosine_ops) "
            f"WHERE model = '{model}' AND dim = {int(dim)}"
        )


# Anchors of these visitors whose prototype is gone (erased, merged away, expired).
_DROP_ANCHORS = text(
    "DELETE FROM prototype_anchors a WHERE a.model = :model AND a.visitor_id = ANY(:ids) "
    "AND NOT EXISTS (SELECT 1 FROM prototypes p WHERE p.visitor_id = a.visitor_id AND p.model = a.model)"
)
# Copy new prototypes and those that drifted; in id order, like the visitor row locks.
_REFRESH_ANCHORS = text(
    "INSERT INTO prototype_anchors (visitor_id, model, dim, embedding) "
    "SELECT p.visitor_id, p.model, p.dim, p.embedding FROM prototypes p "
    "LEFT JOIN prototype_anchors a ON a.visitor_id = p.visitor_id AND a.model = p.model "
    "WHERE p.model = :model AND p.visitor_id = ANY(:ids) AND (a.visitor_id IS NULL OR "
    "CASE WHEN a.dim <> p.dim THEN true ELSE (a.embedding <=> p.embedding) > :drift END) "
    "ORDER BY p.visitor_id "
    "ON CONFLICT (visitor_id, model) DO UPDATE SET dim = excluded.dim, embedding = excluded.embedding"
)
