"""The identity store: assigns each track's face to a visitor and records sightings and visits.

Identity is decided per track, not per frame: a track's first embedding is searched against the
visitor prototypes (cosine similarity); at or above `same_person_similarity` the track joins that
visitor, otherwise it founds a new one. A later, better embedding of the same track re-runs the
decision and may move the sighting (`update_track`). Every write runs in one transaction on the
writer engine (SQLite: `BEGIN IMMEDIATE`, so processes queue; PostgreSQL: visitor rows are locked
`FOR UPDATE`), which keeps counts exact with several writers."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import Connection, func, select, update
from sqlalchemy.exc import OperationalError

from vigil.config import StoreConfig, VigilSettings
from vigil.errors import (
    InvalidVisitorChange,
    MergeIntoItself,
    SightingsNotOwned,
    SplitTakesAll,
    VisitorNotFound,
)
from vigil.store import maintenance
from vigil.store.cameras import CameraRepository
from vigil.store.crops import CropStore
from vigil.store.database import Database, connect
from vigil.store.schema import Camera, Prototype, Sighting, Visit, Visitor
from vigil.store.vectors import Match, NumpyIndex, PgVectorIndex, VectorIndex, check_model_name
from vigil.store.visitor_reads import VisitorReads
from vigil.types import FaceEmbedding, Image

log = logging.getLogger(__name__)
DEADLOCK_RETRIES = 3


@dataclass(frozen=True)
class FaceObservation:
    camera: str
    track_id: int
    captured_at: datetime  # timezone-aware
    embedding: FaceEmbedding
    quality: float
    crop: Image | None = None
    # The track's natural key as a sighting id (a cluster camera's: its run and track, see
    # vigil/cluster/identifier.py): a repeated observation of a stored id writes nothing.
    sighting_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Assignment:
    sighting_id: uuid.UUID
    visitor_id: uuid.UUID
    similarity: float | None  # best similarity found (None: no visitor of this model yet)
    new_visitor: bool
    moved_from: uuid.UUID | None = None


class IdentityStore:
    def __init__(self, db: Database, crops: CropStore, config: StoreConfig) -> None:
        self.db = db
        self.crops = crops
        self.config = config
        self.index: VectorIndex = (
            NumpyIndex() if db.backend == "sqlite" else PgVectorIndex(config.exact_search_max)
        )
        self.cameras = CameraRepository(db)  # owns the camera name -> row id cache
        self.visitors = VisitorReads(db)  # listings and pages read through it

    @classmethod
    def open(cls, settings: VigilSettings, url: str | None = None) -> IdentityStore:
        cfg = settings.store
        crops = CropStore(settings.resolved_faces_dir, cfg.crop_format, cfg.crop_quality, cfg.thumbnail_px)
        return cls(connect(url or settings.resolved_db_url), crops, cfg)

    def tidy(self) -> None:
        """Start-up housekeeping of the long-running services (`vigil watch`, `vigil serve`):
        crash leftovers (orphan crops) and the retention policy. Not in `open()`, so that reading
        commands stay read-only and `vigil visitors purge` reports what it deletes itself."""
        self.remove_orphans()
        self.apply_retention(datetime.now(UTC))

    def close(self) -> None:
        self.db.dispose()

    @property
    def gap(self) -> timedelta:
        return timedelta(minutes=self.config.visit_gap_min)

    # ------------------------------------------------------------ new tracks
    def observe(self, observation: FaceObservation) -> Assignment:
        return self.observe_many([observation])[0]

    def observe_many(self, observations: Sequence[FaceObservation]) -> list[Assignment]:
        """Assign the first embedding of each of these tracks, in one transaction."""
        if not observations:
            return []
        for attempt in range(DEADLOCK_RETRIES):
            written: list[str] = []
            try:
                with self.db.writer.begin() as conn:
                    return self._observe_many(conn, observations, written)
            except OperationalError as exc:
                self._forget_failed(written)
                if not _is_deadlock(exc) or attempt == DEADLOCK_RETRIES - 1:
                    raise
                log.warning("identity store: deadlock, retrying the batch (%s)", exc.orig)
            except BaseException:
                self._forget_failed(written)
                raise
        raise AssertionError("unreachable")

    def _forget_failed(self, written: list[str]) -> None:
        """After a rollback: its rows are gone, so go its files and the camera ids it cached."""
        self.crops.delete(written)
        self.cameras.forget_ids()

    def _observe_many(
        self, conn: Connection, observations: Sequence[FaceObservation], written: list[str]
    ) -> list[Assignment]:
        stored = self._stored(conn, observations)
        fresh = [obs for obs in observations if obs.sighting_id not in stored]
        assigned = iter(self._observe_fresh(conn, fresh, written) if fresh else [])
        return [
            stored[obs.sighting_id] if obs.sighting_id in stored else next(assigned) for obs in observations
        ]

    def _stored(
        self, conn: Connection, observations: Sequence[FaceObservation]
    ) -> dict[uuid.UUID, Assignment]:
        """The observations whose given sighting id is stored already (a repeated write), as stored."""
        ids = [obs.sighting_id for obs in observations if obs.sighting_id is not None]
        if not ids:
            return {}
        rows = conn.execute(
            select(Sighting.id, Sighting.visitor_id, Sighting.similarity).where(Sighting.id.in_(ids))
        )
        return {row[0]: Assignment(row[0], row[1], row[2], False) for row in rows}

    def _observe_fresh(
        self, conn: Connection, observations: Sequence[FaceObservation], written: list[str]
    ) -> list[Assignment]:
        batch = maintenance.Batch(conn, self.gap)
        results: list[Assignment] = []
        matches = self._search_all(conn, observations)
        threshold = self.config.same_person_similarity
        batch.preload({m[0].visitor_id for m in matches if m and m[0].similarity >= threshold})
        created: dict[str, list[tuple[uuid.UUID, np.ndarray]]] = {}
        for obs, found in zip(observations, matches, strict=True):
            model = check_model_name(obs.embedding.model)
            best = _best_with_created(found, created.get(model, []), obs.embedding.vector)
            if best is not None and best.similarity >= self.config.same_person_similarity:
                visitor_id, new = best.visitor_id, False
            else:
                visitor_id, new = uuid.uuid4(), True
                created.setdefault(model, []).append((visitor_id, obs.embedding.vector))
            sighting_id = obs.sighting_id or uuid.uuid4()
            image = self._save_crop(sighting_id, obs, written)
            batch.add_sighting(
                visitor_id,
                new,
                {
                    "id": sighting_id,
                    "visitor_id": visitor_id,
                    "camera_id": self.cameras.id_in(conn, obs.camera),
                    "track_id": obs.track_id,
                    "captured_at": obs.captured_at,
                    "model": model,
                    "dim": obs.embedding.dim,
                    "embedding": obs.embedding.vector,
                    "quality": obs.quality,
                    "similarity": best.similarity if best else None,
                    "image_path": image,
                },
            )
            self._offer_reference_photo(batch, visitor_id, obs, written)
            results.append(Assignment(sighting_id, visitor_id, best.similarity if best else None, new))
        changed = batch.flush()
        for model, visitor_ids in changed.items():
            self.index.changed(conn, model, visitor_ids)
        return results

    def _search_all(self, conn: Connection, observations: Sequence[FaceObservation]) -> list[list[Match]]:
        """One matrix search per model for the whole batch: each observation's best match."""
        results: list[list[Match]] = [[] for _ in observations]
        by_model: dict[str, list[int]] = {}
        for i, obs in enumerate(observations):
            by_model.setdefault(check_model_name(obs.embedding.model), []).append(i)
        for model, indexes in by_model.items():
            vectors = np.vstack([observations[i].embedding.vector for i in indexes])
            # A new track only needs its best match: k=1 saves two passes over the score matrix.
            for i, found in zip(indexes, self.index.search(conn, model, vectors, 1), strict=True):
                results[i] = found
        return results

    def _save_crop(self, sighting_id: uuid.UUID, obs: FaceObservation, written: list[str]) -> str | None:
        if obs.crop is None:
            return None
        relative = self.crops.sighting_path(sighting_id, obs.captured_at)
        written.append(self.crops.save(relative, obs.crop))
        return relative

    def _offer_reference_photo(
        self, batch: maintenance.Batch, visitor_id: uuid.UUID, obs: FaceObservation, written: list[str]
    ) -> None:
        if obs.crop is None or not batch.better_photo(visitor_id, obs.quality):
            return
        relative = self.crops.visitor_path(visitor_id)
        self.crops.save(relative, obs.crop)
        if batch.visitors[visitor_id].get("new"):
            written.append(relative)
        batch.set_photo(visitor_id, relative, obs.quality)

    # ------------------------------------------------------------ better embedding of a known track
    def update_track(self, sighting_id: uuid.UUID, obs: FaceObservation) -> Assignment:
        """A better embedding of an already assigned track: update it, and move the sighting
        when another visitor now matches better (or no longer anyone)."""
        written: list[str] = []
        trash: list[str] = []
        try:
            with self.db.writer.begin() as conn:
                row = conn.execute(
                    select(
                        Sighting.visitor_id, Sighting.image_path, Sighting.model, Sighting.embedding
                    ).where(Sighting.id == sighting_id)
                ).first()
                if row is not None:
                    before = _Previous(row[0], row[1], row[2], row[3])
                    result = self._update_track(conn, sighting_id, before, obs, written, trash)
        except BaseException:
            self.crops.delete(written)
            raise
        if row is None:  # erased or expired meanwhile: a new track as far as the store knows
            return self.observe(obs)
        self.crops.delete(trash)
        return result

    def _update_track(
        self,
        conn: Connection,
        sighting_id: uuid.UUID,
        before: _Previous,
        obs: FaceObservation,
        written: list[str],
        trash: list[str],
    ) -> Assignment:
        model = check_model_name(obs.embedding.model)
        current, image_path = before.visitor_id, before.image_path
        if obs.crop is not None:
            image_path = image_path or self.crops.sighting_path(sighting_id, obs.captured_at)
            self.crops.save(image_path, obs.crop)
        conn.execute(
            update(Sighting)
            .where(Sighting.id == sighting_id)
            .values(embedding=obs.embedding.vector, quality=obs.quality, image_path=image_path)
        )
        others = conn.execute(
            select(func.count()).where(Sighting.visitor_id == current, Sighting.id != sighting_id)
        ).scalar_one()
        target, new, similarity = self._decide_move(conn, model, obs, current, others)
        if target == current and before.model == model:
            # Same visitor, same time: visits and dates stand, only the mean moves (hot path).
            changed: maintenance.Changed = {}
            if not maintenance.replace_in_prototype(
                conn, current, model, before.embedding, obs.embedding.vector
            ):
                changed = maintenance.rebuild_visitors(conn, {current}, self.gap, self.crops)
        else:
            if target != current:
                maintenance.move_sightings(conn, [sighting_id], current, target, new)
                if others == 0:
                    trash += maintenance.delete_visitors(conn, [current])
            touched = {target} if target != current and others == 0 else {current, target}
            changed = maintenance.rebuild_visitors(conn, touched, self.gap, self.crops)
        if obs.crop is not None:
            self._offer_photo(conn, target, obs.crop, obs.quality, written if new else None)
        changed.setdefault(model, set()).update({current, target})
        for m, ids in changed.items():
            self.index.changed(conn, m, ids)
        return Assignment(sighting_id, target, similarity, new, current if target != current else None)

    def _decide_move(
        self, conn: Connection, model: str, obs: FaceObservation, current: uuid.UUID, others: int
    ) -> tuple[uuid.UUID, bool, float | None]:
        """(visitor, is_new, similarity) for a track whose embedding improved.

        A visitor founded by this track alone joins a matching visitor; a track attached to a
        visitor with other sightings moves when another visitor matches better, or becomes a new
        visitor when nobody matches any more."""
        found = self.index.search(conn, model, obs.embedding.vector, 3)[0]
        other = next((m for m in found if m.visitor_id != current), None)
        own = next((m.similarity for m in found if m.visitor_id == current), None)
        threshold = self.config.same_person_similarity
        if other and other.similarity >= threshold and (others == 0 or other.similarity > (own or -1.0)):
            return other.visitor_id, False, other.similarity
        if others > 0 and (own is None or own < threshold):
            return uuid.uuid4(), True, own
        return current, False, own if others > 0 else (other.similarity if other else None)

    def _offer_photo(
        self, conn: Connection, visitor_id: uuid.UUID, crop: Image, quality: float, written: list[str] | None
    ) -> None:
        """`crop` becomes the visitor's reference photo when it beats the current one. Pass `written`
        only for a visitor created in this transaction: its file is deleted if the transaction fails,
        while an existing visitor's file (overwritten in place) must stay for its row."""
        best = conn.execute(select(Visitor.best_quality).where(Visitor.id == visitor_id)).scalar_one()
        if best >= quality:
            return
        relative = self.crops.save(self.crops.visitor_path(visitor_id), crop)
        if written is not None:
            written.append(relative)
        conn.execute(
            update(Visitor)
            .where(Visitor.id == visitor_id)
            .values(best_image_path=relative, best_quality=quality)
        )

    def set_track_crop(self, sighting_id: uuid.UUID, crop: Image, quality: float) -> None:
        """The track ended with a better crop than its embedded ones: keep it as the sighting photo."""
        with self.db.writer.begin() as conn:
            row = conn.execute(
                select(Sighting.image_path, Sighting.captured_at, Sighting.visitor_id).where(
                    Sighting.id == sighting_id
                )
            ).first()
            if row is None:
                return
            relative = row[0] or self.crops.sighting_path(sighting_id, row[1])
            self.crops.save(relative, crop)
            conn.execute(update(Sighting).where(Sighting.id == sighting_id).values(image_path=relative))
            self._offer_photo(conn, row[2], crop, quality, None)

    # ------------------------------------------------------------ repairs and privacy
    def merge(self, keep: uuid.UUID, absorb: uuid.UUID) -> None:
        """`absorb`'s sightings become `keep`'s; `absorb` disappears."""
        if keep == absorb:
            raise MergeIntoItself
        with self.db.writer.begin() as conn:
            self._require(conn, keep, absorb)
            ids = conn.execute(select(Sighting.id).where(Sighting.visitor_id == absorb)).scalars().all()
            models = maintenance.models_of(conn, [keep, absorb])
            maintenance.move_sightings(conn, list(ids), absorb, keep, False)
            maintenance.adopt_photo(conn, self.crops, absorb, keep)
            trash = maintenance.delete_visitors(conn, [absorb])
            maintenance.rebuild_visitors(conn, {keep}, self.gap, self.crops)
            for model in models:
                self.index.changed(conn, model, {keep, absorb})
        self.crops.delete(trash)

    def split(self, visitor: uuid.UUID, sighting_ids: Sequence[uuid.UUID]) -> uuid.UUID:
        """Move these sightings of `visitor` to a new visitor; returns the new visitor's id."""
        with self.db.writer.begin() as conn:
            self._require(conn, visitor)
            owned = set(
                conn.execute(
                    select(Sighting.id).where(
                        Sighting.visitor_id == visitor, Sighting.id.in_(list(sighting_ids))
                    )
                ).scalars()
            )
            missing = set(sighting_ids) - owned
            if missing or not owned:
                raise SightingsNotOwned(visitor, missing)
            total = conn.execute(select(func.count()).where(Sighting.visitor_id == visitor)).scalar_one()
            if total == len(owned):
                raise SplitTakesAll
            new_id = uuid.uuid4()
            maintenance.move_sightings(conn, list(owned), visitor, new_id, True)
            # The reference photo may show the person split off: choose it again from what is left.
            conn.execute(
                update(Visitor).where(Visitor.id == visitor).values(best_image_path=None, best_quality=0.0)
            )
            changed = maintenance.rebuild_visitors(conn, {visitor, new_id}, self.gap, self.crops)
            for model, ids in changed.items():
                self.index.changed(conn, model, ids)
            return new_id

    def erase(self, visitor: uuid.UUID) -> int:
        """Right to erasure: every row and image of this person. Returns files removed."""
        with self.db.writer.begin() as conn:
            self._require(conn, visitor)
            models = maintenance.models_of(conn, [visitor])
            trash = maintenance.delete_visitors(conn, [visitor])
            for model in models:
                self.index.changed(conn, model, {visitor})
        return self.crops.delete(trash)

    def describe(self, visitor: uuid.UUID, changes: Mapping[str, str | None]) -> None:
        """Set (or clear, with None) a visitor's `name` and/or `label`; other keys are refused."""
        unknown = set(changes) - {"name", "label"}
        if unknown:
            raise InvalidVisitorChange(f"cannot set {sorted(unknown)} on a visitor: only name and label")
        with self.db.writer.begin() as conn:
            self._require(conn, visitor)
            if changes:
                conn.execute(update(Visitor).where(Visitor.id == visitor).values(**changes))

    def apply_retention(self, now: datetime) -> tuple[int, int]:
        """Delete sightings and crops older than `retention_days`; returns (sightings, visitors) removed."""
        if self.config.retention_days <= 0:
            return 0, 0
        cutoff = now - timedelta(days=self.config.retention_days)
        with self.db.writer.begin() as conn:
            result = maintenance.expire(
                conn, self.crops, cutoff, self.gap, self.config.retention_keep_prototypes
            )
            for model, ids in result.changed.items():
                self.index.changed(conn, model, ids)
        self.crops.delete(result.trash)
        return result.sightings, result.visitors

    def remove_orphans(self) -> int:
        with self.db.reader.connect() as conn:
            referenced = set(
                conn.execute(select(Sighting.image_path).where(Sighting.image_path.is_not(None))).scalars()
            )
            referenced |= set(
                conn.execute(
                    select(Visitor.best_image_path).where(Visitor.best_image_path.is_not(None))
                ).scalars()
            )
        return self.crops.remove_orphans({p for p in referenced if p}, self.config.orphan_grace_s)

    def _require(self, conn: Connection, *visitors: uuid.UUID) -> None:
        found = set(conn.execute(select(Visitor.id).where(Visitor.id.in_(visitors))).scalars())
        for visitor in visitors:
            if visitor not in found:
                raise VisitorNotFound(visitor)

    # ------------------------------------------------------------ reads
    def lookup(self, embedding: FaceEmbedding, k: int = 3) -> list[Match]:
        """The `k` visitors whose prototypes are most similar to `embedding` (same model only)."""
        with self.db.reader.connect() as conn:
            return self.index.search(conn, check_model_name(embedding.model), embedding.vector, k)[0]

    def counts(self) -> dict[str, int]:
        with self.db.reader.connect() as conn:
            return {
                table.__tablename__: conn.execute(select(func.count()).select_from(table)).scalar_one()
                for table in (Visitor, Sighting, Visit, Prototype, Camera)
            }


@dataclass(frozen=True)
class _Previous:
    """A sighting as stored before a better embedding of its track replaces it."""

    visitor_id: uuid.UUID
    image_path: str | None
    model: str
    embedding: np.ndarray


def _is_deadlock(exc: OperationalError) -> bool:
    return getattr(exc.orig, "sqlstate", None) in ("40P01", "40001")


def _best_with_created(
    found: list[Match], created: list[tuple[uuid.UUID, np.ndarray]], vector: np.ndarray
) -> Match | None:
    """The best of the index matches and of visitors created earlier in the same batch."""
    best = found[0] if found else None
    if created:
        sims = np.vstack([v for _, v in created]) @ vector
        i = int(np.argmax(sims))
        if best is None or sims[i] > best.similarity:
            best = Match(created[i][0], float(sims[i]))
    return best
