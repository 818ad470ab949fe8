"""The watchlist in the live pipeline: an event sink that scores each embedded face against the
enrolled people, decides per track, records alerts and passes alert events on to its listeners
(the events file of `vigil watch`, the live bus of `vigil serve`).

Shared by every camera's recognition thread: the decisions are serialised by a lock; the reference
set is reloaded when the watchlist changes (checked every `refresh_s`, so enrolments made by
another process, e.g. `vigil watchlist add` while `vigil watch` runs, are seen).

It also knows which current tracks have an open alert (`track_alerts`): the live view draws them
in red (match) or amber (probable) with the person's name for operators. A mark goes when its track
ends, when its alert is decided or expired through the same `AlertRepository`, when its person is
erased, or after `alert_expiry_h` without a new face."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from vigil.live.events import EventSink, FaceEmbedded, PipelineEvent, TrackEnded
from vigil.watchlist.alerts import AlertChangeRecord, AlertRepository
from vigil.watchlist.calibration import scorer_for
from vigil.watchlist.config import WatchlistConfig
from vigil.watchlist.learning import LearningRepository, TrackFace
from vigil.watchlist.matching import Decision, Level, Matcher, TrackDecider
from vigil.watchlist.repository import WatchlistRepository

log = logging.getLogger(__name__)
TrackKey = tuple[str, int]
MAX_TRACK_FACES = 30  # a track's faces kept for its alert (the newest)
MAX_MARKS = 10_000  # tracks marked at once (their ends are normally seen long before)
EVENT_TYPES = {
    "raised": "watchlist_alert",
    "upgraded": "watchlist_alert_upgraded",
    "joined": "watchlist_alert_repeat",
}


@dataclass(frozen=True)
class TrackAlert:
    """A current track with an open alert: who, and at which level (for the live view)."""

    alert_id: uuid.UUID
    person_id: uuid.UUID
    person: str
    level: Level
    seen_at: float  # the monitor's clock at the track's last alerting face


@dataclass
class AlertEvent(PipelineEvent):
    """An alert raised, upgraded (probable -> match) or joined by a repeat sighting."""

    alert_id: uuid.UUID | None = None
    person_id: uuid.UUID | None = None
    person: str = ""
    level: str = ""
    score: float = 0.0  # the track's score on the thresholds' scale
    face_score: float = 0.0  # the newest face's own score
    faces: int = 0

    def _fields(self) -> dict[str, Any]:
        return {
            "alert_id": str(self.alert_id), "person_id": str(self.person_id), "person": self.person,
            "level": self.level, "score": round(self.score, 4), "face_score": round(self.face_score, 4),
            "faces": self.faces,
        }  # fmt: skip


class WatchlistMonitor:
    def __init__(
        self,
        people: WatchlistRepository,
        alerts: AlertRepository,
        config: WatchlistConfig,
        model: str,
        listeners: Sequence[EventSink] = (),
        refresh_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.people, self.alerts, self.config = people, alerts, config
        self.scorer = scorer_for(model, config)  # ConfigError at start for thresholds that cannot work
        self.model = model
        self.listeners = list(listeners)
        self.decider = TrackDecider(config.thresholds_for)
        self._refresh_s, self._clock = refresh_s, clock
        self._lock = threading.Lock()
        self._fingerprint: object = None
        self._checked_at = -float("inf")
        self.learning = LearningRepository(people.db)
        # Per track: its faces (kept for its alert, which a rejection turns into negatives), and the
        # alert they go to with how many are stored already.
        self._faces: dict[TrackKey, list[TrackFace]] = {}
        self._stored: dict[TrackKey, tuple[uuid.UUID, int]] = {}  # alert, faces seen when last stored
        self._seen: dict[TrackKey, int] = {}
        self._marks: dict[TrackKey, TrackAlert] = {}
        self._mark_ttl_s = config.alert_expiry_h * 3600
        self._matcher = self._load()
        alerts.on_closed(self._alerts_closed)

    def handle(self, event: PipelineEvent) -> None:
        if isinstance(event, TrackEnded):
            with self._lock:
                self.decider.end(event.camera, event.track_id)
                self._faces.pop((event.camera, event.track_id), None)
                self._stored.pop((event.camera, event.track_id), None)
                self._seen.pop((event.camera, event.track_id), None)
                self._marks.pop((event.camera, event.track_id), None)
        elif isinstance(event, FaceEmbedded) and event.embedding is not None:
            decision = self._decide(event)
            alert_id = (
                self._alert(event, decision) if decision is not None and event.crop is not None else None
            )
            self._keep_faces((event.camera, event.track_id), alert_id)

    def track_alerts(self, camera: str) -> dict[int, TrackAlert]:
        """Track id -> its open alert, for the camera's current tracks (a copy: cheap, no database)."""
        oldest = self._clock() - self._mark_ttl_s
        with self._lock:
            return {
                track: mark
                for (cam, track), mark in self._marks.items()
                if cam == camera and mark.seen_at >= oldest
            }

    def _alerts_closed(self, alert_ids: Sequence[uuid.UUID]) -> None:
        closed = set(alert_ids)
        with self._lock:
            for key in [k for k, mark in self._marks.items() if mark.alert_id in closed]:
                del self._marks[key]

    def _mark(self, key: TrackKey, mark: TrackAlert) -> None:
        with self._lock:
            if key not in self._marks and len(self._marks) >= MAX_MARKS:
                self._marks.pop(next(iter(self._marks)))  # the oldest: its track ended unseen
            self._marks[key] = mark

    def watchlist_changed(self) -> None:
        """The next face re-reads the references (a change made in this process, e.g. through the
        API, is seen at once rather than at the next `refresh_s` check); an erased person's tracks
        are no longer marked from now on."""
        enrolled = {person.id for person in self.people.people()}
        with self._lock:
            self._checked_at = -float("inf")
            self._keep_marks_of(enrolled)

    def _keep_marks_of(self, people: set[uuid.UUID]) -> None:
        for key in [k for k, mark in self._marks.items() if mark.person_id not in people]:
            del self._marks[key]

    def close(self) -> None:
        """Releases the database; the listeners belong to the caller, which closes them."""
        self.people.db.dispose()

    def _decide(self, event: FaceEmbedded) -> Decision | None:
        assert event.embedding is not None
        with self._lock:
            key = (event.camera, event.track_id)
            faces = self._faces.setdefault(key, [])
            faces.append(TrackFace(event.embedding.vector, event.embedding.model, event.quality))
            del faces[:-MAX_TRACK_FACES]
            self._seen[key] = self._seen.get(key, 0) + 1
            matcher = self._current()
            return self.decider.observe(event.camera, event.track_id, event.embedding, event.quality, matcher)

    def _keep_faces(self, key: TrackKey, alert_id: uuid.UUID | None) -> None:
        """Stores the track's faces not yet stored with its alert (all of them when it was raised
        or joined just now, then each new face), outside the lock: a database write."""
        with self._lock:
            if alert_id is not None:
                previous = self._stored.get(key)
                stored = previous[1] if previous is not None and previous[0] == alert_id else 0
                self._stored[key] = (alert_id, stored)
            if key not in self._stored:
                return
            alert, stored = self._stored[key]
            faces = self._faces.get(key, [])
            seen = self._seen.get(key, 0)
            new = faces[-(seen - stored) :] if seen > stored else []
            self._stored[key] = (alert, seen)
        self.learning.add_faces(alert, new)

    def _alert(self, event: FaceEmbedded, decision: Decision) -> uuid.UUID:
        assert event.crop is not None
        now = datetime.fromtimestamp(event.ts, UTC)
        record = self.alerts.record(decision, event.crop, now, self.config.cooldown_s, event.source)
        alert = record.alert
        if alert.status == "open":
            mark = TrackAlert(alert.id, alert.person_id, alert.person_name, alert.level, self._clock())
            self._mark((event.camera, event.track_id), mark)
        log.info("watchlist %s: %s (%s %.2f) on %s track %d", record.change, alert.person_name,
                 alert.level, decision.score, event.camera, event.track_id)  # fmt: skip
        out = self._event(event, decision, record)
        for listener in self.listeners:
            try:
                listener.handle(out)
            except Exception:  # one failing listener must not silence the others
                log.exception("watchlist listener %s failed", type(listener).__name__)
        return alert.id

    @staticmethod
    def _event(event: FaceEmbedded, decision: Decision, record: AlertChangeRecord) -> AlertEvent:
        alert = record.alert
        return AlertEvent(
            camera=event.camera, track_id=event.track_id, ts=event.ts, pts=event.pts,
            type=EVENT_TYPES[record.change], alert_id=alert.id, person_id=alert.person_id,
            person=alert.person_name, level=alert.level, score=decision.score,
            face_score=decision.face_score, faces=decision.faces,
        )  # fmt: skip

    def _current(self) -> Matcher:
        now = self._clock()
        if now - self._checked_at >= self._refresh_s:
            self._checked_at = now
            if self._watchlist_state() != self._fingerprint:
                self._matcher = self._load()
        return self._matcher

    def _watchlist_state(self) -> object:
        return self.people.fingerprint(), self.learning.fingerprint()

    def _load(self) -> Matcher:
        self._fingerprint = self._watchlist_state()
        self._checked_at = self._clock()
        references = self.people.reference_set(self.model)
        self._keep_marks_of(set(references.person_ids))  # someone erased by another process
        return Matcher(references, self.scorer, self.learning.negative_set(self.model))
