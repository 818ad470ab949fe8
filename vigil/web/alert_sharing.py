"""Alert stream events shared by every `vigil serve` process over one PostgreSQL database.

The server that records an alert (its monitor saw the face) or a decision pushes the stream event
to its own open streams, then announces it on the `vigil_alerts` channel (vigil/store/notify.py):
a notice of the event type and the alert's id, tagged with the sender's process id. Every other
server reads the stored alert and pushes the same event to its streams, with image URLs it signs
itself; the sender skips its own notices. So each dashboard gets each event once, whichever server
its cameras or its operators are on. The outbox is not involved: its row is written once, with the
alert, by the recording server, and delivery claims rows with a lease (vigil/outbox/store.py)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, ValidationError

from vigil.store.database import Database
from vigil.store.notify import NoticeNotSent, PgChannel, open_channel

log = logging.getLogger(__name__)
CHANNEL = "vigil_alerts"
StreamType = Literal[
    "watchlist_alert", "watchlist_alert_upgraded", "watchlist_alert_repeat", "watchlist_alert_decided"
]

STREAM_TYPES: tuple[StreamType, ...] = get_args(StreamType)


def stream_type(text: str) -> StreamType:
    """`text` as a stream event type (ValueError when it is none of them)."""
    for known in STREAM_TYPES:
        if known == text:
            return known
    raise ValueError(f"not an alert stream event type: {text!r}")


class AlertNotice(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    origin: uuid.UUID  # the announcing server process
    type: StreamType
    alert_id: uuid.UUID


class AlertSharing:
    """`announce` after a local push; `on_remote(type, alert_id)` for another server's events."""

    def __init__(self, db: Database, on_remote: Callable[[StreamType, uuid.UUID], None]) -> None:
        self.origin = uuid.uuid4()
        self._on_remote = on_remote
        self.channel: PgChannel | None = open_channel(db, CHANNEL, self._heard)

    def announce(self, event_type: StreamType, alert_id: uuid.UUID) -> None:
        """Tells the other servers; a failure is logged (this server's streams already had it)."""
        if self.channel is None:
            return
        notice = AlertNotice(origin=self.origin, type=event_type, alert_id=alert_id)
        try:
            self.channel.send(notice.model_dump_json())
        except NoticeNotSent as exc:
            log.warning("alert %s not announced to the other servers: %s", alert_id, exc)

    def close(self) -> None:
        if self.channel is not None:
            self.channel.close()

    def _heard(self, payload: str) -> None:
        try:
            notice = AlertNotice.model_validate_json(payload)
        except ValidationError as exc:
            log.warning("ignored a malformed notice on %s: %s", CHANNEL, exc.errors()[0]["msg"])
            return
        if notice.origin != self.origin:
            self._on_remote(notice.type, notice.alert_id)
