"""Watchlist alerts in the database: raised from track decisions, joined within the cooldown,
decided by operators (confirmed / rejected), expired when nobody decides."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import ColumnElement, Connection, Row, Select, and_, func, insert, select, update

from vigil.errors import ConflictError, NotFoundError
from vigil.store.crops import CropStore
from vigil.store.database import Database
from vigil.types import Image
from vigil.watchlist.learning import learn_rejection
from vigil.watchlist.matching import LEVEL_RANK, Decision, Level
from vigil.watchlist.outbox_store import enqueue
from vigil.watchlist.registry_message import decision_event, registry_event, registry_message
from vigil.watchlist.tables import WatchlistAlert, WatchlistPerson

Status = Literal["open", "confirmed", "rejected", "expired"]
Change = Literal["raised", "upgraded", "joined"]
DECISIONS: tuple[Status, ...] = ("confirmed", "rejected")


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

    def record(self, decision: Decision, crop: Image, now: datetime, cooldown_s: float) -> AlertChangeRecord:
        """A track decision becomes an alert, or joins the person's open alert on that camera when
        it was last seen there less than `cooldown_s` ago (same track or a repeat visit)."""
        with self.db.writer.begin() as conn:
            current = self._open_recent(conn, decision, now - timedelta(seconds=cooldown_s))
            if current is None:
                alert_id = self._insert(conn, decision, crop, now)
                change: Change = "raised"
            else:
                alert_id, change = current.id, self._join(conn, current, decision, now)
            alert = self._read(conn, alert_id)
            repeat = current is not None and current.track_id != decision.track_id
            event = registry_event(change, repeat)
            if self.outbox and event is not None:
                enqueue(conn, registry_message(event, alert))
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

    def _insert(self, conn: Connection, decision: Decision, crop: Image, now: datetime) -> uuid.UUID:
        alert_id = uuid.uuid4()
        relative = self.crops.save(f"{decision.person_id}/alerts/{alert_id}.webp", crop)
        values = {
            "id": alert_id, "person_id": decision.person_id, "camera": decision.camera,
            "track_id": decision.track_id, "level": decision.level, "score": decision.score,
            "faces": decision.faces, "repeats": 0, "crop_path": relative, "first_at": now,
            "last_at": now, "status": "open", "note": "",
        }  # fmt: skip
        try:
            conn.execute(insert(WatchlistAlert).values(**values))
        except BaseException:
            self.crops.delete([relative])
            raise
        return alert_id

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
        return DecidedAlert(alert, learned)

    def expire(self, older_than: datetime) -> int:
        """Open alerts last seen before `older_than` become expired; how many."""
        with self.db.writer.begin() as conn:
            query = update(WatchlistAlert).where(
                WatchlistAlert.status == "open", WatchlistAlert.last_at < older_than
            )
            return int(conn.execute(query.values(status="expired")).rowcount)

    def crop_paths(self, person_id: uuid.UUID) -> list[str]:
        with self.db.reader.connect() as conn:
            query = select(WatchlistAlert.crop_path).where(WatchlistAlert.person_id == person_id)
            return [str(path) for path in conn.execute(query).scalars()]


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
        r.repeats, r.crop_path, r.first_at, r.last_at, r.status, r.decided_by, r.decided_at, r.note,
    )  # fmt: skip


def utc_now() -> datetime:
    return datetime.now(UTC)
