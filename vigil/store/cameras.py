"""Rows of the `cameras` table, and the name -> row id cache the identity store writes with.

Sightings name their camera by row id; the store finds (or creates) the row by camera name. The
repository owns that cache, so whatever renames a row also drops the stale name from it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast, get_args

from sqlalchemy import Connection, insert, select, update

from vigil.activity.settings import AudioSource
from vigil.store.database import Database
from vigil.store.schema import Camera

Zones = list[list[tuple[float, float]]]


@dataclass(frozen=True)
class CameraSource:
    """What a camera reads and how: the editable part of a row."""

    url: str
    fps: float | None = None
    loop: bool = False
    dead_zones: Zones | None = None
    activity: bool = False  # the person's activity analysed (vigil/activity/live.py)
    activity_audio: AudioSource | None = None  # where that activity's sound comes from; None: the default

    def values(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "fps": self.fps,
            "loop": self.loop,
            "dead_zones": _zones_json(self.dead_zones),
            "activity": self.activity,
            "activity_audio": self.activity_audio,
        }


@dataclass(frozen=True)
class CameraRow:
    id: int
    name: str
    url: str  # "" for rows the identity store created by name alone
    managed: bool  # added at run time (web UI / API), as opposed to configured or named by sightings
    enabled: bool
    fps: float | None
    loop: bool
    dead_zones: Zones
    activity: bool = False
    activity_audio: AudioSource | None = None


class CameraRepository:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._ids: dict[str, int] = {}

    # ------------------------------------------------------------ for the identity store's writes
    def id_in(self, conn: Connection, name: str) -> int:
        """The id of the row named `name`, created within the caller's transaction when missing."""
        if name not in self._ids:
            found = conn.execute(select(Camera.id).where(Camera.name == name)).scalar()
            if found is None:
                found = conn.execute(insert(Camera).values(name=name).returning(Camera.id)).scalar_one()
            self._ids[name] = int(found)
        return self._ids[name]

    def forget_ids(self) -> None:
        """After a rolled-back transaction: the rows it created are gone."""
        self._ids.clear()

    # ------------------------------------------------------------ for the camera manager
    def managed(self) -> list[CameraRow]:
        with self.db.reader.connect() as conn:
            rows = conn.execute(select(Camera).where(Camera.managed.is_(True)).order_by(Camera.id)).all()
        return [_row(r) for r in rows]

    def row(self, camera_id: int) -> CameraRow | None:
        """The row as stored now (another server over the database may have changed it)."""
        with self.db.reader.connect() as conn:
            found = conn.execute(select(Camera).where(Camera.id == camera_id)).first()
        return None if found is None else _row(found)

    def upsert(
        self, name: str, source: CameraSource, *, managed: bool, enabled: bool | None = None
    ) -> CameraRow:
        """The row of this name (created by the identity store, a deleted camera or an earlier
        start) set to `source`, or a new one. `enabled=None` keeps an existing row's flag."""
        values = {**source.values(), "managed": managed}
        if enabled is not None:
            values["enabled"] = enabled
        with self.db.writer.begin() as conn:
            found = conn.execute(select(Camera.id).where(Camera.name == name)).scalar()
            if found is None:
                conn.execute(insert(Camera).values(name=name, **values))
            else:
                conn.execute(update(Camera).where(Camera.id == found).values(**values))
            return _row(conn.execute(select(Camera).where(Camera.name == name)).one())

    def update(self, camera_id: int, name: str, source: CameraSource) -> None:
        """Renames and re-points a row; the old name leaves the id cache."""
        with self.db.writer.begin() as conn:
            old = conn.execute(select(Camera.name).where(Camera.id == camera_id)).scalar()
            conn.execute(update(Camera).where(Camera.id == camera_id).values(name=name, **source.values()))
        if old is not None and old != name:
            self._ids.pop(old, None)

    def set_enabled(self, camera_id: int, enabled: bool) -> None:
        with self.db.writer.begin() as conn:
            conn.execute(update(Camera).where(Camera.id == camera_id).values(enabled=enabled))

    def retire(self, camera_id: int) -> None:
        """Unlists a camera but keeps its row, so its sightings keep their camera name."""
        with self.db.writer.begin() as conn:
            conn.execute(
                update(Camera)
                .where(Camera.id == camera_id)
                .values(managed=False, enabled=False, dead_zones=[])
            )

    def name_taken(self, name: str, other_than: int) -> bool:
        """True when a row other than `other_than` has this name (listed or not)."""
        with self.db.reader.connect() as conn:
            found = conn.execute(
                select(Camera.id).where(Camera.name == name, Camera.id != other_than)
            ).first()
        return found is not None


def _zones_json(zones: Sequence[Sequence[tuple[float, float]]] | None) -> list[list[list[float]]]:
    return [[[float(x), float(y)] for x, y in polygon] for polygon in (zones or [])]


def zones_of(raw: Any) -> Zones:
    """Polygons as float (x, y) tuples, from JSON lists or config tuples (None: none)."""
    return [[(float(x), float(y)) for x, y in polygon] for polygon in (raw or [])]


def audio_of(raw: Any) -> AudioSource | None:
    """A stored sound source; None (the default) for NULL or a value this version does not know."""
    return cast(AudioSource, raw) if raw in get_args(AudioSource) else None


def _row(r: Any) -> CameraRow:
    zones = zones_of(r.dead_zones)
    return CameraRow(
        r.id,
        r.name,
        r.url or "",
        r.managed,
        r.enabled,
        r.fps,
        r.loop,
        zones,
        r.activity,
        audio_of(r.activity_audio),
    )
