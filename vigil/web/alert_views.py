"""The JSON shape of a watchlist alert, shared by the alerts API and the live alert streams."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from vigil.watchlist.alerts import Alert, Status
from vigil.watchlist.matching import Level
from vigil.web.images import ImageSigner

# Stream event types: the three the monitor writes (as in `vigil watch --events`) and decisions.
DECIDED: Final = "watchlist_alert_decided"


class AlertOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID
    person_id: uuid.UUID
    person: str = Field(description="The watchlisted person's name")
    camera: str
    track_id: int
    level: Level = Field(description="match (immediate alert) or probable (discreet notice)")
    score: float = Field(description="Best track score seen, on the thresholds' scale")
    faces: int = Field(description="Embedded faces of the track that took part")
    repeats: int = Field(description="Later sightings on the same camera that joined this alert")
    first_at: datetime
    last_at: datetime
    status: Status
    decided_by: str | None
    decided_at: datetime | None
    note: str
    crop_url: str | None = Field(description="Signed, expiring URL of the best face crop")
    crop_thumb_url: str | None
    snapshot_url: str | None = Field(
        description="Signed, expiring URL of the frame the face was seen in, with its box in red "
        "(JPEG, at most 1280 px wide); null for alerts stored without a frame"
    )
    snapshot_thumb_url: str | None = Field(description="The snapshot at most 320 px wide")

    @classmethod
    def of(cls, alert: Alert, sign: ImageSigner) -> AlertOut:
        return cls(
            id=alert.id, person_id=alert.person_id, person=alert.person_name, camera=alert.camera,
            track_id=alert.track_id, level=alert.level, score=round(alert.score, 4), faces=alert.faces,
            repeats=alert.repeats, first_at=alert.first_at, last_at=alert.last_at, status=alert.status,
            decided_by=alert.decided_by, decided_at=alert.decided_at, note=alert.note,
            crop_url=sign.url(alert.crop_path), crop_thumb_url=sign.url(alert.crop_path, thumb=True),
            snapshot_url=sign.url(alert.snapshot_path),
            snapshot_thumb_url=sign.url(alert.snapshot_path, thumb=True),
        )  # fmt: skip


def stream_event(event_type: str, alert: Alert, sign: ImageSigner) -> dict[str, Any]:
    """One message of the alert streams: `{"type": ..., "alert": <AlertOut as JSON>}`."""
    return {"type": event_type, "alert": AlertOut.of(alert, sign).model_dump(mode="json")}
