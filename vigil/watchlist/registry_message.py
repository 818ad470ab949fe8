"""What Vigil POSTs to the external registry (seed 004's UPR_API_URL): one JSON message per alert
change or decision. The receiver de-duplicates on `message_id`: delivery is at least once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, field_serializer

if TYPE_CHECKING:  # alerts.py imports this module
    from vigil.watchlist.alerts import Alert, Change

RegistryEvent = Literal[
    "alert_raised", "alert_upgraded", "alert_repeat", "alert_confirmed", "alert_rejected", "alert_expired"
]


class RegistryMessage(BaseModel):
    """The body of one POST; times are ISO-8601 in UTC (`…Z`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal[1] = 1  # of this format
    message_id: uuid.UUID  # the same on every retry of this message
    event: RegistryEvent
    queued_at: datetime  # wall-clock time of the change
    alert_id: uuid.UUID
    person_id: uuid.UUID
    person_name: str
    camera: str
    track_id: int
    level: Literal["probable", "match"]
    score: float  # calibrated score of the track (docs/watchlist.md)
    faces: int
    repeats: int
    status: Literal["open", "confirmed", "rejected", "expired"]
    first_at: datetime
    last_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    note: str

    @field_serializer("queued_at", "first_at", "last_at", "decided_at")
    def _utc(self, value: datetime | None) -> str | None:
        if value is None:
            return None
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def registry_event(change: Change, repeat: bool) -> RegistryEvent | None:
    """The event a recorded alert change reports; None for a later face of the same track that
    changed no level (the registry hears of a track once, then of its upgrade)."""
    if change == "raised":
        return "alert_raised"
    if change == "upgraded":
        return "alert_upgraded"
    return "alert_repeat" if repeat else None


def decision_event(status: str) -> RegistryEvent:
    return "alert_confirmed" if status == "confirmed" else "alert_rejected"


def registry_message(event: RegistryEvent, alert: Alert) -> RegistryMessage:
    """A new message about `alert`, queued now by the wall clock: the alert's own times may be a
    recording's (`vigil watch --recorded-at`, files played faster than real time)."""
    return RegistryMessage(
        message_id=uuid.uuid4(), event=event, queued_at=datetime.now(UTC), alert_id=alert.id,
        person_id=alert.person_id, person_name=alert.person_name, camera=alert.camera,
        track_id=alert.track_id, level=alert.level, score=round(alert.score, 4), faces=alert.faces,
        repeats=alert.repeats, status=alert.status, first_at=alert.first_at, last_at=alert.last_at,
        decided_by=alert.decided_by, decided_at=alert.decided_at, note=alert.note,
    )  # fmt: skip
