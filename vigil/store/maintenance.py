"""Row-level work of the identity store, inside a caller's transaction.

`Batch` applies many new sightings with a handful of statements (the fast ingest path);
`rebuild_visitors` recomputes a visitor's prototype, visits and dates from its sightings (the
slow, exact path used after moves, merges, splits and retention). File deletions are returned
as paths for the caller to remove once the transaction committed."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import cv2
import numpy as np
from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from vigil.store.crops import CropStore
from vigil.store.schema import Prototype, Sighting, Visit, Visitor, utcnow
from vigil.store.visits import Placement, group_visits, place
from vigil.types import FloatArray

Changed = dict[str, set[uuid.UUID]]


def running_mean(mean: FloatArray, count: int, vector: FloatArray) -> FloatArray:
    """The mean of `count` vectors whose mean is `mean`, plus `vector`.

    A prototype is the plain (unnormalised) mean of all its visitor's sightings of one model, so
    the incremental updates here and the recomputation in `rebuild_visitors` agree exactly; search
    is by cosine, which ignores the length."""
    out: FloatArray = ((np.asarray(mean, np.float64) * count + vector) / (count + 1)).astype(np.float32)
    return out


def replace_in_prototype(
    conn: Connection, visitor_id: uuid.UUID, model: str, old: FloatArray, new: FloatArray
) -> bool:
    """One sighting's embedding changed from `old` to `new`: shift the mean by (new - old) / n
    instead of re-reading every sighting. False when there is no such prototype (caller rebuilds)."""
    row = conn.execute(
        select(Prototype.embedding, Prototype.sightings).where(
            Prototype.visitor_id == visitor_id, Prototype.model == model
        )
    ).first()
    if row is None or row[1] < 1:
        return False
    mean = (np.asarray(row[0], np.float64) + (np.asarray(new, np.float64) - old) / row[1]).astype(np.float32)
    conn.execute(
        update(Prototype)
        .where(Prototype.visitor_id == visitor_id, Prototype.model == model)
        .values(embedding=mean, updated_at=utcnow())
    )
    return True


@dataclass
class Batch:
    conn: Connection
    gap: timedelta
    visitors: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    latest_visit: dict[uuid.UUID, dict[str, Any] | None] = field(default_factory=dict)
    protos: dict[tuple[uuid.UUID, str], dict[str, Any]] = field(default_factory=dict)
    sightings: list[dict[str, Any]] = field(default_factory=list)
    new_visits: list[dict[str, Any]] = field(default_factory=list)
    rebuild: set[uuid.UUID] = field(default_factory=set)

    def add_sighting(self, visitor_id: uuid.UUID, new: bool, row: dict[str, Any]) -> None:
        t: datetime = row["captured_at"]
        if new and visitor_id not in self.visitors:
            self.visitors[visitor_id] = {
                "new": True, "first_seen_at": t, "last_seen_at": t, "visit_count": 0,
                "best_quality": 0.0, "best_image_path": None,
            }  # fmt: skip
            self.latest_visit[visitor_id] = None
        elif visitor_id not in self.visitors:
            self.preload([visitor_id])  # callers preload matches in bulk; this is the safety net
        visitor = self.visitors[visitor_id]
        visitor["first_seen_at"] = min(visitor["first_seen_at"], t)
        visitor["last_seen_at"] = max(visitor["last_seen_at"], t)
        row["visit_id"] = self._place_in_visit(visitor_id, t)
        self._update_prototype(visitor_id, row["model"], row["dim"], row["embedding"])
        self.sightings.append(row)

    def better_photo(self, visitor_id: uuid.UUID, quality: float) -> bool:
        return quality > float(self.visitors[visitor_id]["best_quality"])

    def set_photo(self, visitor_id: uuid.UUID, path: str, quality: float) -> None:
        self.visitors[visitor_id].update(best_image_path=path, best_quality=quality)

    def preload(self, visitor_ids: Collection[uuid.UUID]) -> None:
        """Load (and on PostgreSQL lock, in id order so concurrent batches queue instead of
        deadlocking) the visitors this batch will likely update: three queries instead of three
        per visitor. SQLite's BEGIN IMMEDIATE already serialises writers."""
        ordered = sorted(set(visitor_ids) - self.visitors.keys())
        for start in range(0, len(ordered), 500):
            self._preload_chunk(ordered[start : start + 500])

    def _preload_chunk(self, ids: list[uuid.UUID]) -> None:
        columns = (Visitor.id, Visitor.first_seen_at, Visitor.last_seen_at, Visitor.visit_count)
        query = select(*columns, Visitor.best_quality, Visitor.best_image_path).where(Visitor.id.in_(ids))
        for row in self.conn.execute(query.order_by(Visitor.id).with_for_update()).mappings():
            self.visitors[row["id"]] = {k: v for k, v in row.items() if k != "id"} | {"new": False}
            self.latest_visit[row["id"]] = None
        latest = (
            select(Visit.visitor_id, func.max(Visit.started_at).label("m"))
            .where(Visit.visitor_id.in_(ids))
            .group_by(Visit.visitor_id)
            .subquery()
        )
        visits = select(Visit.id, Visit.visitor_id, Visit.started_at, Visit.ended_at, Visit.sightings).join(
            latest, (latest.c.visitor_id == Visit.visitor_id) & (latest.c.m == Visit.started_at)
        )
        for row in self.conn.execute(visits).mappings():
            self.latest_visit[row["visitor_id"]] = {k: v for k, v in row.items() if k != "visitor_id"} | {
                "new": False
            }
        protos = select(Prototype.visitor_id, Prototype.model, Prototype.embedding, Prototype.sightings)
        for vid, model, embedding, count in self.conn.execute(protos.where(Prototype.visitor_id.in_(ids))):
            self.protos[(vid, model)] = {"embedding": embedding, "sightings": count, "new": False}

    def _place_in_visit(self, visitor_id: uuid.UUID, t: datetime) -> uuid.UUID | None:
        visit = self.latest_visit[visitor_id]
        placement = (
            Placement.NEW if visit is None else place(t, visit["started_at"], visit["ended_at"], self.gap)
        )
        if placement is Placement.REBUILD:
            self.rebuild.add(visitor_id)
            return None
        if placement is Placement.EXTEND:
            assert visit is not None
            visit["ended_at"] = max(visit["ended_at"], t)
            visit["sightings"] += 1
            # A visit loaded from the database needs an UPDATE; one created in this batch is
            # inserted at flush with its final values.
            visit["dirty"] = visit.get("new") is False
            visit_id: uuid.UUID = visit["id"]
            return visit_id
        new_id = uuid.uuid4()
        fresh = {"id": new_id, "visitor_id": visitor_id, "started_at": t, "ended_at": t, "sightings": 1}
        self.new_visits.append(fresh)
        self.latest_visit[visitor_id] = fresh  # later sightings in this batch extend it in place
        self.visitors[visitor_id]["visit_count"] += 1
        return new_id

    def _update_prototype(self, visitor_id: uuid.UUID, model: str, dim: int, vector: FloatArray) -> None:
        # Visitors are preloaded with all their prototypes: a missing key is a first prototype.
        key = (visitor_id, model)
        proto = self.protos.setdefault(
            key, {"embedding": np.zeros(dim, np.float32), "sightings": 0, "new": True}
        )
        n = proto["sightings"]
        proto.update(embedding=running_mean(proto["embedding"], n, vector), sightings=n + 1)

    def flush(self) -> Changed:
        conn, now = self.conn, utcnow()
        new_rows = [
            {"id": k, **_visitor_values(v), "created_at": now} for k, v in self.visitors.items() if v["new"]
        ]
        old_rows = [{"b_id": k, **_visitor_values(v)} for k, v in self.visitors.items() if not v["new"]]
        if new_rows:
            conn.execute(insert(Visitor), new_rows)
        if old_rows:
            conn.execute(update(Visitor).where(Visitor.id == bindparam("b_id")), old_rows)
        if self.new_visits:
            conn.execute(insert(Visit), self.new_visits)
        dirty = [
            {"b_id": v["id"], "ended_at": v["ended_at"], "sightings": v["sightings"]}
            for v in self.latest_visit.values()
            if v and v.get("dirty")
        ]
        if dirty:
            conn.execute(update(Visit).where(Visit.id == bindparam("b_id")), dirty)
        self._flush_prototypes(now)
        conn.execute(insert(Sighting), self.sightings)
        changed: Changed = {}
        for visitor_id, model in self.protos:
            changed.setdefault(model, set()).add(visitor_id)
        if self.rebuild:
            _merge_changed(changed, rebuild_visitors(conn, self.rebuild, self.gap))
        return changed

    def _flush_prototypes(self, now: datetime) -> None:
        fresh, old = [], []
        for (visitor_id, model), p in self.protos.items():
            values = {"embedding": p["embedding"], "sightings": p["sightings"], "updated_at": now}
            if p["new"]:
                fresh.append({"visitor_id": visitor_id, "model": model, "dim": len(p["embedding"]), **values})
            else:
                old.append({"b_vid": visitor_id, "b_model": model, **values})
        if fresh:
            self.conn.execute(insert(Prototype), fresh)
        if old:
            self.conn.execute(
                update(Prototype).where(
                    Prototype.visitor_id == bindparam("b_vid"), Prototype.model == bindparam("b_model")
                ),
                old,
            )


def _visitor_values(v: dict[str, Any]) -> dict[str, Any]:
    keys = ("first_seen_at", "last_seen_at", "visit_count", "best_quality", "best_image_path")
    return {k: v[k] for k in keys}


def _merge_changed(into: Changed, other: Changed) -> None:
    for model, ids in other.items():
        into.setdefault(model, set()).update(ids)


def move_sightings(
    conn: Connection, ids: list[uuid.UUID], source: uuid.UUID, target: uuid.UUID, create: bool
) -> None:
    if create:
        now = utcnow()
        conn.execute(
            insert(Visitor).values(
                id=target,
                first_seen_at=now,
                last_seen_at=now,
                visit_count=0,
                best_quality=0.0,
                created_at=now,
            )
        )
    if ids:
        conn.execute(
            update(Sighting)
            .where(Sighting.id.in_(ids), Sighting.visitor_id == source)
            .values(visitor_id=target, visit_id=None)
        )


def models_of(conn: Connection, visitors: Iterable[uuid.UUID]) -> set[str]:
    return set(
        conn.execute(select(Prototype.model).where(Prototype.visitor_id.in_(list(visitors)))).scalars()
    )


def delete_visitors(conn: Connection, visitors: Collection[uuid.UUID]) -> list[str]:
    """Delete visitors with their sightings, visits and prototypes; returns crop paths to delete."""
    ids = list(visitors)
    paths = list(conn.execute(select(Sighting.image_path).where(Sighting.visitor_id.in_(ids))).scalars())
    paths += list(conn.execute(select(Visitor.best_image_path).where(Visitor.id.in_(ids))).scalars())
    conn.execute(delete(Sighting).where(Sighting.visitor_id.in_(ids)))
    conn.execute(delete(Visit).where(Visit.visitor_id.in_(ids)))
    conn.execute(delete(Prototype).where(Prototype.visitor_id.in_(ids)))
    conn.execute(delete(Visitor).where(Visitor.id.in_(ids)))
    return [p for p in paths if p]


def adopt_photo(conn: Connection, crops: CropStore, source: uuid.UUID, target: uuid.UUID) -> None:
    """Give `target` the reference photo of `source` when it is better."""
    rows = dict(
        conn.execute(select(Visitor.id, Visitor.best_quality).where(Visitor.id.in_([source, target]))).all()
    )
    src_path = conn.execute(select(Visitor.best_image_path).where(Visitor.id == source)).scalar()
    if not src_path or rows.get(source, 0.0) <= rows.get(target, 0.0):
        return
    image = cv2.imread(str(crops.resolve(src_path)))
    if image is None:
        return
    path = crops.save(crops.visitor_path(target), image)
    conn.execute(
        update(Visitor).where(Visitor.id == target).values(best_image_path=path, best_quality=rows[source])
    )


def rebuild_visitors(
    conn: Connection,
    visitors: Collection[uuid.UUID],
    gap: timedelta,
    crops: CropStore | None = None,
) -> Changed:
    """Recompute prototypes, visits, dates (and, given `crops`, a missing reference photo) from sightings."""
    changed: Changed = {}
    for visitor_id in visitors:
        columns = (Sighting.id, Sighting.captured_at, Sighting.model, Sighting.embedding, Sighting.quality)
        query = select(*columns, Sighting.image_path).where(Sighting.visitor_id == visitor_id)
        rows = list(conn.execute(query.order_by(Sighting.quality.desc())).all())
        conn.execute(delete(Visit).where(Visit.visitor_id == visitor_id))
        if not rows:
            conn.execute(update(Visitor).where(Visitor.id == visitor_id).values(visit_count=0))
            continue
        _merge_changed(changed, _rebuild_prototypes(conn, visitor_id, rows))
        spans = group_visits([r[1] for r in rows], gap)
        visits, links = [], []
        for span in spans:
            visit_id = uuid.uuid4()
            visits.append({"id": visit_id, "visitor_id": visitor_id, "started_at": span.started,
                           "ended_at": span.ended, "sightings": len(span.members)})  # fmt: skip
            links += [{"b_id": rows[i][0], "visit_id": visit_id} for i in span.members]
        conn.execute(insert(Visit), visits)
        conn.execute(update(Sighting).where(Sighting.id == bindparam("b_id")), links)
        conn.execute(
            update(Visitor)
            .where(Visitor.id == visitor_id)
            .values(
                first_seen_at=min(r[1] for r in rows),
                last_seen_at=max(r[1] for r in rows),
                visit_count=len(spans),
            )
        )
        if crops is not None:
            _ensure_photo(conn, crops, visitor_id, rows)
    return changed


def _rebuild_prototypes(conn: Connection, visitor_id: uuid.UUID, rows: list[Any]) -> Changed:
    by_model: dict[str, list[FloatArray]] = {}
    for row in rows:
        by_model.setdefault(row[2], []).append(row[3])
    old = models_of(conn, [visitor_id])
    conn.execute(delete(Prototype).where(Prototype.visitor_id == visitor_id))
    now = utcnow()
    for model, vectors in by_model.items():
        mean: FloatArray = np.vstack(vectors).mean(axis=0, dtype=np.float64).astype(np.float32)
        conn.execute(
            insert(Prototype).values(
                visitor_id=visitor_id, model=model, dim=len(mean), embedding=mean,
                sightings=len(vectors), updated_at=now,
            )
        )  # fmt: skip
    return {m: {visitor_id} for m in old | by_model.keys()}


def _ensure_photo(conn: Connection, crops: CropStore, visitor_id: uuid.UUID, rows: list[Any]) -> None:
    if conn.execute(select(Visitor.best_image_path).where(Visitor.id == visitor_id)).scalar():
        return
    for row in rows:  # best quality first
        image = cv2.imread(str(crops.resolve(row[5]))) if row[5] else None
        if image is not None:
            path = crops.save(crops.visitor_path(visitor_id), image)
            conn.execute(
                update(Visitor)
                .where(Visitor.id == visitor_id)
                .values(best_image_path=path, best_quality=row[4])
            )
            return


@dataclass
class Expired:
    sightings: int
    visitors: int
    changed: Changed
    trash: list[str]


def expire(
    conn: Connection, crops: CropStore, cutoff: datetime, gap: timedelta, keep_prototypes: bool
) -> Expired:
    old = conn.execute(
        select(Sighting.id, Sighting.visitor_id, Sighting.image_path).where(Sighting.captured_at < cutoff)
    ).all()
    if not old:
        return Expired(0, 0, {}, [])
    affected = {r[1] for r in old}
    conn.execute(delete(Sighting).where(Sighting.id.in_([r[0] for r in old])))
    trash = [r[2] for r in old if r[2]]
    remaining = set(
        conn.execute(select(Sighting.visitor_id).where(Sighting.visitor_id.in_(affected))).scalars()
    )
    emptied = affected - remaining
    changed = rebuild_visitors(conn, remaining, gap, crops)
    if keep_prototypes:
        changed = {m: ids | emptied for m, ids in changed.items()} if changed else changed
        rebuild_visitors(conn, emptied, gap)  # drops their visits, keeps prototype and photo
        return Expired(len(old), 0, changed, trash)
    models = models_of(conn, emptied)
    trash += delete_visitors(conn, emptied)
    for model in models:
        changed.setdefault(model, set()).update(emptied)
    return Expired(len(old), len(emptied), changed, trash)
