"""The watchlist's people and reference faces, in the store's database; crops under
`<data_dir>/watchlist/` (not the store's faces dir, whose orphan sweep knows only its own rows)."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from sqlalchemy import ColumnElement, delete, func, insert, select

from vigil.store.crops import CropStore
from vigil.store.database import Database
from vigil.types import FloatArray, Image
from vigil.watchlist.errors import AmbiguousPerson, PersonNotFound
from vigil.watchlist.tables import WatchlistPerson, WatchlistReference


@dataclass(frozen=True)
class Person:
    id: uuid.UUID
    name: str
    notes: str
    category: str
    created_at: datetime
    references: int


@dataclass(frozen=True)
class Reference:
    id: uuid.UUID
    person_id: uuid.UUID
    model: str
    quality: float
    source: str
    crop_path: str
    created_at: datetime


@dataclass(frozen=True)
class NewReference:
    """A checked face ready to be stored: its embedding, crop and quality."""

    embedding: FloatArray
    model: str
    crop: Image
    quality: float
    source: str


@dataclass(frozen=True)
class ReferenceSet:
    """Every reference embedding of one model: row i of `vectors` belongs to `person_ids[i]`."""

    model: str
    person_ids: list[uuid.UUID]
    vectors: FloatArray  # (n, dim), L2-normalised


class WatchlistRepository:
    def __init__(self, db: Database, crops_root: Path) -> None:
        self.db = db
        self.crops = CropStore(crops_root)

    def add_person(
        self, name: str, references: Sequence[NewReference], notes: str = "", category: str = ""
    ) -> Person:
        """A person and their references in one transaction (crops written first; removed on failure)."""
        person_id = uuid.uuid4()
        written: list[str] = []
        try:
            rows = [self._saved(person_id, ref, written) for ref in references]
            with self.db.writer.begin() as conn:
                conn.execute(
                    insert(WatchlistPerson).values(id=person_id, name=name, notes=notes, category=category)
                )
                if rows:
                    conn.execute(insert(WatchlistReference), rows)
        except BaseException:
            self.crops.delete(written)
            raise
        return self.get(person_id)

    def add_references(self, person_id: uuid.UUID, references: Sequence[NewReference]) -> int:
        self.get(person_id)
        written: list[str] = []
        try:
            rows = [self._saved(person_id, ref, written) for ref in references]
            with self.db.writer.begin() as conn:
                conn.execute(insert(WatchlistReference), rows)
        except BaseException:
            self.crops.delete(written)
            raise
        return len(rows)

    def _saved(self, person_id: uuid.UUID, ref: NewReference, written: list[str]) -> dict[str, object]:
        ref_id = uuid.uuid4()
        relative = self.crops.save(f"{person_id}/{ref_id}.webp", ref.crop)
        written.append(relative)
        vector = np.asarray(ref.embedding, np.float32).reshape(-1)
        return {
            "id": ref_id,
            "person_id": person_id,
            "model": ref.model,
            "dim": int(vector.shape[0]),
            "embedding": vector,
            "quality": float(ref.quality),
            "source": ref.source,
            "crop_path": relative,
        }

    def people(self) -> list[Person]:
        """Everyone, by name."""
        return self._people_where(None)

    def get(self, person_id: uuid.UUID) -> Person:
        found = self._people_where(WatchlistPerson.id == person_id)
        if not found:
            raise PersonNotFound(str(person_id))
        return found[0]

    def find(self, id_or_name: str) -> Person:
        """By id, else by exact name (refused when the name is not unique)."""
        try:
            return self.get(uuid.UUID(id_or_name.strip()))
        except ValueError:
            pass
        matches = self._people_where(WatchlistPerson.name == id_or_name)
        if not matches:
            raise PersonNotFound(f"named {id_or_name!r}")
        if len(matches) > 1:
            raise AmbiguousPerson(id_or_name, len(matches))
        return matches[0]

    def references(self, person_id: uuid.UUID) -> list[Reference]:
        query = (
            select(WatchlistReference)
            .where(WatchlistReference.person_id == person_id)
            .order_by(WatchlistReference.created_at)
        )
        with self.db.reader.connect() as conn:
            rows = conn.execute(query).all()
        return [
            Reference(r.id, r.person_id, r.model, r.quality, r.source, r.crop_path, r.created_at)
            for r in rows
        ]

    def reference_set(self, model: str) -> ReferenceSet:
        """Every reference embedding of `model`, for the matcher (vectors of other models never mix)."""
        query = select(WatchlistReference.person_id, WatchlistReference.embedding).where(
            WatchlistReference.model == model
        )
        with self.db.reader.connect() as conn:
            rows = conn.execute(query.order_by(WatchlistReference.id)).all()
        vectors = np.stack([r.embedding for r in rows]) if rows else np.zeros((0, 0), np.float32)
        return ReferenceSet(model, [r.person_id for r in rows], vectors.astype(np.float32))

    def fingerprint(self) -> tuple[int, int, datetime | None]:
        """Changes whenever a person or reference is added or removed (cheap: two aggregates)."""
        with self.db.reader.connect() as conn:
            people = conn.execute(select(func.count()).select_from(WatchlistPerson)).scalar_one()
            refs, newest = conn.execute(
                select(func.count(), func.max(WatchlistReference.created_at)).select_from(WatchlistReference)
            ).one()
        return int(people), int(refs), newest

    def remove(self, person_id: uuid.UUID) -> int:
        """Erases the person with their references, alerts (rows cascade) and every file of theirs
        (reference and alert crops live in their folder); the number of files removed."""
        with self.db.writer.begin() as conn:
            conn.execute(delete(WatchlistReference).where(WatchlistReference.person_id == person_id))
            if conn.execute(delete(WatchlistPerson).where(WatchlistPerson.id == person_id)).rowcount == 0:
                raise PersonNotFound(str(person_id))
        folder = self.crops.resolve(str(person_id))
        files = [p for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []
        shutil.rmtree(folder, ignore_errors=True)
        return len(files)

    def _people_where(self, condition: ColumnElement[bool] | None) -> list[Person]:
        count = (
            select(func.count())
            .where(WatchlistReference.person_id == WatchlistPerson.id)
            .correlate(WatchlistPerson)
            .scalar_subquery()
        )
        query = select(WatchlistPerson, count.label("n"))
        if condition is not None:
            query = query.where(condition)
        with self.db.reader.connect() as conn:
            rows = conn.execute(query.order_by(WatchlistPerson.name, WatchlistPerson.created_at)).all()
        return [Person(r.id, r.name, r.notes, r.category, r.created_at, int(r.n)) for r in rows]
