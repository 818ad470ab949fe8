"""Short messages between Vigil server processes over their one PostgreSQL database.

PostgreSQL's LISTEN/NOTIFY, no broker: `send` is a `pg_notify` (delivered when its transaction
commits, to every session listening on the channel, the sender's own included), and a thread per
channel keeps one connection that LISTENs and hands each payload to `receive`. Payloads are small
JSON notices (PostgreSQL caps them at 8000 bytes); what they point to is read from the database.

A notice sent while a listener is disconnected is not replayed to it: the listener reconnects
(with a growing pause) and the live streams go on from there; what the notices announce is in the
tables anyway. SQLite has no such channel: `open_channel` answers None and one server is the rule."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from vigil.errors import StoreError
from vigil.redact import redact
from vigil.store.database import Database

log = logging.getLogger(__name__)
MAX_PAYLOAD = 7900  # bytes; PostgreSQL refuses more than 8000 per notice
POLL_S = 0.5  # how often the listener looks at its stop flag between notices
RETRY_S = (0.5, 1.0, 2.0, 5.0, 10.0)  # pauses between reconnection attempts, the last repeated
CHANNEL_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")  # a plain identifier: LISTEN takes no parameter


class NoticeNotSent(StoreError):
    """The database did not take the notice (unreachable, or refused it)."""


class PayloadTooLarge(ValueError):
    def __init__(self, size: int) -> None:
        super().__init__(f"a notice of {size} bytes is over PostgreSQL's limit ({MAX_PAYLOAD})")


class PgChannel:
    """One LISTEN/NOTIFY channel: `send` from any thread; `receive` is called on the listener thread."""

    def __init__(self, db: Database, name: str, receive: Callable[[str], None]) -> None:
        if not CHANNEL_NAME.fullmatch(name):
            raise ValueError(f"not a plain channel name: {name!r}")
        self._db = db
        self.name = name
        self._receive = receive
        self._stop = threading.Event()
        self._listening = threading.Event()
        self.received = 0
        self.reconnects = 0
        self._thread = threading.Thread(target=self._listen, name=f"notify-{name}", daemon=True)
        self._thread.start()

    def send(self, payload: str) -> None:
        """PayloadTooLarge over PostgreSQL's limit; NoticeNotSent when the database fails."""
        size = len(payload.encode())
        if size > MAX_PAYLOAD:
            raise PayloadTooLarge(size)
        try:
            with self._db.writer.begin() as conn:
                conn.execute(
                    text("SELECT pg_notify(:channel, :payload)"), {"channel": self.name, "payload": payload}
                )
        except SQLAlchemyError as exc:
            raise NoticeNotSent(f"channel {self.name}: {redact(str(exc))}") from exc

    def wait_listening(self, timeout_s: float) -> bool:
        """True once the listener's LISTEN is in place (notices sent from then on reach it)."""
        return self._listening.wait(timeout_s)

    def close(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)

    def _listen(self) -> None:
        driver_error = self._db.writer.dialect.loaded_dbapi.Error  # psycopg's, without importing it
        failures = 0
        while not self._stop.is_set():
            try:
                self._listen_once()
                failures = 0
            except (driver_error, SQLAlchemyError, OSError) as exc:
                self._listening.clear()
                pause = RETRY_S[min(failures, len(RETRY_S) - 1)]
                failures += 1
                self.reconnects += 1
                log.warning("channel %s: %s; listening again in %.1f s", self.name, redact(str(exc)), pause)
                self._stop.wait(pause)

    def _listen_once(self) -> None:
        """On a connection of the engine taken out of its pool for good (autocommit, listening)."""
        pooled = self._db.writer.raw_connection()
        try:
            conn = pooled.driver_connection  # the psycopg connection
            assert conn is not None
            conn.autocommit = True
            conn.execute(f"LISTEN {self.name}")
            self._listening.set()
            while not self._stop.is_set():
                for notice in conn.notifies(timeout=POLL_S):
                    self.received += 1
                    self._deliver(notice.payload)
        finally:
            pooled.invalidate()  # never back to the pool: it listens and is in autocommit

    def _deliver(self, payload: str) -> None:
        try:
            self._receive(payload)
        except Exception:  # one bad notice or a failed read must not end the listening
            log.exception("channel %s: a notice could not be handled", self.name)


def open_channel(db: Database, name: str, receive: Callable[[str], None]) -> PgChannel | None:
    """A channel over `db`, or None on SQLite (no LISTEN/NOTIFY there)."""
    return PgChannel(db, name, receive) if db.backend == "postgresql" else None
