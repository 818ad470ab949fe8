"""Watchlist alerts in the database: raised from track decisions, joined within the cooldown,
decided by operators (confirmed / rejected), expired when nobody decides.

Each alert keeps its best face crop and a snapshot of the frame with the face's box (both under the
person's folder, so erasing the person erases them); both follow the better face when the alert is
upgraded. Files are written before the row that names them and removed if the row is not."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import ColumnElement, Connection, Row, Select, and_, func, insert, select, update

from vigil.errors import ConflictError, NotFoundError
from vigil.live.events import SourceFrame
from vigil.store.crops import CropStore
from vigil.store.database import Database
from vigil.types import Image
from vigil.watchlist.learning import learn_rejection
from vigil.watchlist.matching import LEVEL_RANK, Decision, Level
from vigil.watchlist.outbox_store import enqueue
from vigil.watchlist.registry_message import decision_event, registry_event, registry_message
from vigil.watchlist.snapshots import render_snapshot, snapshot_store
from vigil.watchlist.tables import WatchlistAlert, WatchlistPerson

Status = Literal["open", "confirmed", "rejected", "expired"]
Change = Literal["raised", "upgraded", "joined"]
DECISIONS: tuple[Status, ...] = ("confirmed", "rejected")
ClosedListener = Callable[[Sequence[uuid.UUID]], None]  # alerts that left `open` (decided, expired)
log = logging.getLogger(__name__)


class AlertNotFound(NotFoundError):
    def __init__(self, alert_id: uuid.UUID) -> None:
        super().__init__(f"no watchlist alert {alert_id}")


class AlertAlreadyDecided(ConflictError):
    def __init__(self, alert_id: uuid.UUID, status: str) -> None:
        super().__init__(f"alert {alert_id} is already {status}")


@dataclass(frozen=True)
class Alert:
    id: uuid.UUID
    person_id: uuid.UUID
    person_name: str
    camera: str
    track_id: int
    level: Level
    score: float
    faces: int
    repeats: int
    crop_path: str
    snapshot_path: str | None  # the frame with the face's box (JPEG); None for alerts without a frame
    first_at: datetime
    last_at: datetime
    status: Status
    decided_by: str | None
    decided_at: datetime | None
    note: str


@dataclass(frozen=True)
class AlertChangeRecord:
    """What a decision did to the alerts: a new one, a level raised, or a repeat joined."""

    change: Change
    alert: Alert


@dataclass(frozen=True)
class DecidedAlert:
    alert: Alert
    negatives: int  # faces a rejection turned into negatives of the person


@dataclass(frozen=True)
class AlertFilter:
    status: Status | None = None
    camera: str | None = None
    level: Level | None = None
    person_id: uuid.UUID | None = None


class AlertRepository:
    def __init__(self, db: Database, crops: CropStore, outbox: bool = False) -> None:
        self.db = db
        self.crops = crops
        # Queue every change for the external registry (UPR_API_URL) in the change's transaction.
        self.outbox = outbox
        self.snapshots = snapshot_store(crops)
        self._closed_listeners: list[ClosedListener] = []

    def on_closed(self, listener: ClosedListener) -> None:
        """`listener(ids)` after alerts were decided or expired through this repository (the live
        view stops marking their tracks)."""
        self._closed_listeners.append(listener)

    def record(
        self,
        decision: Decision,
        crop: Image,
        now: datetime,
        cooldown_s: float,
        snapshot: SourceFrame | None = None,
    ) -> AlertChangeRecord:
        """A track decision becomes an alert, or joins the person's open alert on that camera when
        it was last seen there less than `cooldown_s` ago (same track or a repeat visit).

        A new alert stores `crop` and the snapshot drawn from `snapshot` (the face's frame); an
        upgraded one replaces both with this better face's; a joined one draws nothing."""
        written: list[str] = []
        replaced: list[str | None] = []
        try:
            with self.db.writer.begin() as conn:
                current = self._open_recent(conn, decision, now - timedelta(seconds=cooldown_s))
                if current is None:
                    alert_id = self._insert(conn, decision, crop, snapshot, now, written)
                    change: Change = "raised"
                else:
                    alert_id, change = current.id, self._join(conn, current, decision, now)
                    if change == "upgraded":
                        replaced = self._set_images(conn, current, crop, snapshot, written)
                alert = self._read(conn, alert_id)
                repeat = current is not None and current.track_id != decision.track_id
                event = registry_event(change, repeat)
                if self.outbox and event is not None:
                    enqueue(conn, registry_message(event, alert))
        except BaseException:
            self._delete(written)
            raise
        self._delete(replaced)  # the previous face's files, once no row names them
        return AlertChangeRecord(change, alert)

    def _open_recent(self, conn: Connection, decision: Decision, since: datetime) -> Alert | None:
        query = _alerts().where(
            WatchlistAlert.person_id == decision.person_id,
            WatchlistAlert.camera == decision.camera,
            WatchlistAlert.status == "open",
            WatchlistAlert.last_at >= since,
        )
        row = conn.execute(query.order_by(WatchlistAlert.last_at.desc()).limit(1)).first()
        return None if row is None else _alert(row)

    def _insert(
        self,
        conn: Connection,
        decision: Decision,
        crop: Image,
        snapshot: SourceFrame | None,
        now: datetime,
        written: list[str],
    ) -> uuid.UUID:
        alert_id = uuid.uuid4()
        crop_path, snapshot_path = self._save_images(decision.person_id, alert_id, crop, snapshot, written)
        values = {
            "id": alert_id, "person_id": decision.person_id, "camera": decision.camera,
            "track_id": decision.track_id, "level": decision.level, "score": decision.score,
            "faces": decision.faces, "repeats": 0, "crop_path": crop_path,
            "snapshot_path": snapshot_path, "first_at": now, "last_at": now, "status": "open", "note": "",
        }  # fmt: skip
        conn.execute(insert(WatchlistAlert).values(**values))
        return alert_id

    def _set_images(
        self, conn: Connection, alert: Alert, crop: Image, snapshot: SourceFrame | None, written: list[str]
    ) -> list[str | None]:
        """The alert's crop and snapshot become this face's (new files: a reader of the old URLs
        gets 404, never half of a new image); the files replaced. Without a frame the previous
        snapshot stays."""
        crop_path, snapshot_path = self._save_images(alert.person_id, alert.id, crop, snapshot, written)
        values = {"crop_path": crop_path, "snapshot_path": snapshot_path or alert.snapshot_path}
        conn.execute(update(WatchlistAlert).where(WatchlistAlert.id == alert.id).values(**values))
        return [alert.crop_path, alert.snapshot_path if snapshot_path else None]

    def _save_images(
        self,
        person_id: uuid.UUID,
        alert_id: uuid.UUID,
        crop: Image,
        snapshot: SourceFrame | None,
        written: list[str],
    ) -> tuple[str, str | None]:
        """Writes the crop and the snapshot (the only place a snapshot is drawn and encoded) under
        the person's folder; `written` collects them for the caller's cleanup on failure."""
        version = uuid.uuid4().hex[:8]  # an upgrade writes new names: signed URLs name one image
        folder = f"{person_id}/alerts"
        written.append(self.crops.save(f"{folder}/{alert_id}_{version}.webp", crop))
        if snapshot is None:
            return written[-1], None
        image = render_snapshot(snapshot)
        written.append(self.snapshots.save(f"{folder}/{alert_id}_{version}_snapshot.jpg", image))
        return written[-2], written[-1]

    def _delete(self, relatives: Sequence[str | None]) -> None:
        try:
            self.crops.delete(relatives)  # thumbnails too; the same root for crops and snapshots
        except OSError:  # a leftover file is removed with the person; never fail the alert for it
            log.exception("could not remove alert files %s", relatives)

    @staticmethod
    def _join(conn: Connection, alert: Alert, decision: Decision, now: datetime) -> Change:
        upgraded = LEVEL_RANK[decision.level] > LEVEL_RANK[alert.level]
        values: dict[str, object] = {"last_at": now, "score": max(alert.score, decision.score)}
        if upgraded:
            values["level"] = decision.level
        if decision.track_id == alert.track_id:
            values["faces"] = decision.faces
        else:
            values["repeats"] = WatchlistAlert.repeats + 1
        conn.execute(update(WatchlistAlert).where(WatchlistAlert.id == alert.id).values(**values))
        return "upgraded" if upgraded else "joined"

    def get(self, alert_id: uuid.UUID) -> Alert:
        with self.db.reader.connect() as conn:
            return self._read(conn, alert_id)

    @staticmethod
    def _read(conn: Connection, alert_id: uuid.UUID) -> Alert:
        row = conn.execute(_alerts().where(WatchlistAlert.id == alert_id)).first()
        if row is None:
            raise AlertNotFound(alert_id)
        return _alert(row)

    def page(self, where: AlertFilter, limit: int = 50, offset: int = 0) -> tuple[int, list[Alert]]:
        """(total, alerts) newest first."""
        conditions = _conditions(where)
        count = select(func.count()).select_from(WatchlistAlert).where(*conditions)
        query = (
            _alerts().where(*conditions).order_by(WatchlistAlert.first_at.desc()).limit(limit).offset(offset)
        )
        with self.db.reader.connect() as conn:
            total = int(conn.execute(count).scalar_one())
            rows = conn.execute(query).all()
        return total, [_alert(r) for r in rows]

    def decide(self, alert_id: uuid.UUID, status: Status, by: str, note: str, now: datetime) -> Alert:
        """Confirms or rejects an open alert (once: a decided alert answers AlertAlreadyDecided)."""
        return self.decide_and_learn(alert_id, status, by, note, now).alert

    def decide_and_learn(
        self, alert_id: uuid.UUID, status: Status, by: str, note: str, now: datetime
    ) -> DecidedAlert:
        """`decide`; a rejection's faces become negatives of the person in the same transaction."""
        if status not in DECISIONS:
            raise ValueError(f"an alert is decided as one of {DECISIONS}, not {status!r}")
        with self.db.writer.begin() as conn:
            changed = conn.execute(
                update(WatchlistAlert)
                .where(WatchlistAlert.id == alert_id, WatchlistAlert.status == "open")
                .values(status=status, decided_by=by, decided_at=now, note=note)
            ).rowcount
            if not changed:
                row = conn.execute(select(WatchlistAlert.status).where(WatchlistAlert.id == alert_id)).first()
                if row is None:
                    raise AlertNotFound(alert_id)
                raise AlertAlreadyDecided(alert_id, row.status)
            alert = self._read(conn, alert_id)
            learned = learn_rejection(conn, alert_id, alert.person_id, by) if status == "rejected" else 0
            if self.outbox:
                enqueue(conn, registry_message(decision_event(status), alert))
        self._closed([alert_id])
        return DecidedAlert(alert, learned)

    def expire(self, older_than: datetime) -> int:
        """Open alerts last seen before `older_than` become expired; how many."""
        with self.db.writer.begin() as conn:
            query = update(WatchlistAlert).where(
                WatchlistAlert.status == "open", WatchlistAlert.last_at < older_than
            )
            returning = query.values(status="expired").returning(WatchlistAlert.id)
            expired = list(conn.execute(returning).scalars())
            if self.outbox:  # the registry hears that nobody decided, as it hears decisions
                for alert_id in expired:
                    enqueue(conn, registry_message("alert_expired", self._read(conn, alert_id)))
        if expired:
            self._closed(expired)
        return len(expired)

    def _closed(self, alert_ids: Sequence[uuid.UUID]) -> None:
        for listener in list(self._closed_listeners):
            try:
                listener(alert_ids)
            except Exception:  # the decision is stored: a listener must not turn it into an error
                log.exception("alert listener %s failed", listener)

    def crop_paths(self, person_id: uuid.UUID) -> list[str]:
        """Every file of the person's alerts: crops and snapshots."""
        query = select(WatchlistAlert.crop_path, WatchlistAlert.snapshot_path).where(
            WatchlistAlert.person_id == person_id
        )
        with self.db.reader.connect() as conn:
            return [str(path) for row in conn.execute(query) for path in row if path]


def _alerts() -> Select[WatchlistAlert, str]:
    return select(WatchlistAlert, WatchlistPerson.name.label("person_name")).join(
        WatchlistPerson, WatchlistPerson.id == WatchlistAlert.person_id
    )


def _conditions(where: AlertFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if where.status is not None:
        conditions.append(WatchlistAlert.status == where.status)
    if where.camera is not None:
        conditions.append(WatchlistAlert.camera == where.camera)
    if where.level is not None:
        conditions.append(WatchlistAlert.level == where.level)
    if where.person_id is not None:
        conditions.append(WatchlistAlert.person_id == where.person_id)
    return [and_(*conditions)] if conditions else []


def _alert(r: Row[WatchlistAlert, str]) -> Alert:
    return Alert(
        r.id, r.person_id, r.person_name, r.camera, r.track_id, r.level, r.score, r.faces,
        r.repeats, r.crop_path, r.snapshot_path, r.first_at, r.last_at, r.status, r.decided_by,
        r.decided_at, r.note,
    )  # fmt: skip


def utc_now() -> datetime:
    return datetime.now(UTC)
