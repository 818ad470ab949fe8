"""The watchlist inside `vigil serve`: the registry the API enrols into, the alerts operators decide,
the live monitor the camera pipelines feed, and the feed that pushes alerts to the open streams.

Everything runs over the store's database (one engine, closed by the store) and the same data
directory as `vigil watch`. The monitor is built per embedder model: at start for the configured
embedder when its model name is known without loading it, so thresholds that cannot work with it
stop the server with their ConfigError before it serves anything."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import timedelta

import cv2

from vigil.config import VigilSettings
from vigil.embed import FaceEmbedder
from vigil.errors import NotFoundError
from vigil.live.events import EventSink, PipelineEvent
from vigil.store.repository import IdentityStore
from vigil.watchlist.alerts import Alert, AlertNotFound, AlertRepository, Status, utc_now
from vigil.watchlist.decisions import AlertDesk, DecisionResult, NothingToLearn
from vigil.watchlist.errors import NoUsablePhoto, PhotoRefused
from vigil.watchlist.learning import LearningRepository, Lesson
from vigil.watchlist.monitor import AlertEvent, TrackAlert, WatchlistMonitor
from vigil.watchlist.repository import NewReference
from vigil.watchlist.service import Enrolment, Photo, Watchlist
from vigil.web.alert_feed import AlertFeed
from vigil.web.alert_sharing import AlertSharing, StreamType, stream_type
from vigil.web.alert_views import DECIDED, stream_event
from vigil.web.images import ImageSigner

log = logging.getLogger(__name__)
IMAGE_SALT = "vigil.watchlist-image-url"
IMAGE_PREFIX = "/api/watchlist/images/"
VISITOR_CROPS = 5  # the best crops of a visitor tried as references ("Add to watchlist")
EXPIRE_EVERY_S = 10.0
VISITOR_SIGHTINGS_READ = 500  # the newest sightings among which the best crops are chosen


class LessonNotFound(NotFoundError):
    def __init__(self, person_id: uuid.UUID, alert_id: uuid.UUID) -> None:
        super().__init__(f"alert {alert_id} taught nothing about watchlist person {person_id}")


class WatchlistHost:
    def __init__(
        self,
        settings: VigilSettings,
        store: IdentityStore,
        signing_key: str,
        embedder: FaceEmbedder | None = None,
    ) -> None:
        self.settings = settings
        self.config = settings.watchlist
        self.store = store
        self.registry = Watchlist(settings, store.db, embedder)
        self.people = self.registry.repository
        self.alerts = AlertRepository(store.db, self.people.crops, outbox=self.config.upr_enabled)
        self.learning = LearningRepository(store.db)
        self.desk = AlertDesk(self.alerts, self.people, self.learning)
        self.images = ImageSigner(
            signing_key, settings.web.image_url_ttl_s, salt=IMAGE_SALT, prefix=IMAGE_PREFIX
        )
        self.feed = AlertFeed()
        self.sharing = AlertSharing(store.db, self._from_other_server)  # PostgreSQL: every server's streams
        self._monitors: dict[str, WatchlistMonitor] = {}
        self._expired_at = -float("inf")
        self._models = threading.Lock()  # one enrolment at a time loads and uses the photo models
        model = settings.embedder.vector_model()
        if self.live and model is not None:
            self.monitor_for(model)  # ConfigError now, not at the first camera start

    @property
    def live(self) -> bool:
        """Whether camera pipelines match faces (the watchlist and the store are both enabled)."""
        return self.config.enabled and self.settings.store.enabled

    # ---------------------------------------------------------------- live pipeline
    def sinks_for(self, model: str) -> list[EventSink]:
        """What the camera pipelines of embedder `model` feed (nothing when matching is off)."""
        return [self.monitor_for(model)] if self.live else []

    def monitor_for(self, model: str) -> WatchlistMonitor:
        monitor = self._monitors.get(model)
        if monitor is None:
            monitor = WatchlistMonitor(self.people, self.alerts, self.config, model, [_Relay(self)])
            self._monitors[model] = monitor
        return monitor

    def track_alerts(self, camera: str) -> dict[int, TrackAlert]:
        """The camera's current tracks with an open alert (the live view's red boxes)."""
        marks: dict[int, TrackAlert] = {}
        for monitor in list(self._monitors.values()):
            marks.update(monitor.track_alerts(camera))
        return marks

    def relay(self, event: AlertEvent) -> None:
        """An alert the monitor recorded, pushed to the streams as the stored alert."""
        if event.alert_id is not None:
            self._publish(stream_type(event.type), self.alerts.get(event.alert_id))

    def _publish(self, event_type: StreamType, alert: Alert) -> None:
        """To this server's open streams, then to the other servers' (they read the stored alert)."""
        self.feed.publish(stream_event(event_type, alert, self.images))
        self.sharing.announce(event_type, alert.id)

    def _from_other_server(self, event_type: StreamType, alert_id: uuid.UUID) -> None:
        try:
            alert = self.alerts.get(alert_id)
        except AlertNotFound:  # erased since (its person was removed): nothing to show
            return
        self.feed.publish(stream_event(event_type, alert, self.images))

    # ---------------------------------------------------------------- registry
    def enrol(self, name: str, photos: Sequence[Photo], notes: str, category: str) -> Enrolment:
        with self._models:
            enrolment = self.registry.enrol(name, photos, notes, category)
        self._changed()
        return enrolment

    def add_photos(self, person_id: uuid.UUID, photos: Sequence[Photo]) -> Enrolment:
        """More references for a person; NoUsablePhoto when none of `photos` is usable."""
        person = self.people.get(person_id)  # PersonNotFound before any model is loaded
        with self._models:
            accepted, refused = self.registry.check(photos)
        if not accepted:
            reasons = "; ".join(str(r) for r in refused) or "no photo given"
            raise NoUsablePhoto(f"no usable photo for {person.name!r}: {reasons}", refused)
        self.people.add_references(person.id, accepted)
        self._changed()
        return Enrolment(self.people.get(person_id), len(accepted), refused)

    def enrol_visitor(self, visitor_id: uuid.UUID, name: str, notes: str, category: str) -> Enrolment:
        """A new person whose references are the visitor's best stored crops (each through the photo
        check)."""
        visitor = self.store.visitors.get(visitor_id)  # VisitorNotFound (404) when gone
        with self._models:
            accepted, refused = self._crop_references(
                self._visitor_crops(visitor_id, visitor.reference_photo)
            )
        if not accepted:
            reasons = "; ".join(str(r) for r in refused) or "the visitor has no stored crop"
            raise NoUsablePhoto(f"no usable crop of visitor {visitor_id}: {reasons}", refused)
        name = name or visitor.name or f"visitor {visitor_id}"
        person = self.people.add_person(name, accepted, notes, category)
        self._changed()
        return Enrolment(person, len(accepted), refused)

    def _visitor_crops(self, visitor_id: uuid.UUID, reference_photo: str | None) -> list[tuple[str, str]]:
        """(label, crop path in the faces directory): the best sightings' crops, at most
        VISITOR_CROPS; else the visitor's reference photo (a copy of a sighting's crop, kept after
        the sightings expire)."""
        sightings = self.store.visitors.sightings(visitor_id, VISITOR_SIGHTINGS_READ, 0)
        ranked = sorted((s for s in sightings if s.image_path), key=lambda s: -s.quality)
        crops = [(f"sighting {s.sighting_id}", s.image_path) for s in ranked if s.image_path]
        fallback = [("reference photo", reference_photo)] if reference_photo else []
        return crops[:VISITOR_CROPS] or fallback

    def _crop_references(self, crops: list[tuple[str, str]]) -> tuple[list[NewReference], list[PhotoRefused]]:
        accepted: list[NewReference] = []
        refused: list[PhotoRefused] = []
        for label, relative in crops:
            image = cv2.imread(str(self.store.crops.resolve(relative)))
            try:
                if image is None:
                    raise PhotoRefused("not_an_image", "the crop file is gone or unreadable")
                accepted.append(self.registry.checker.reference_of_image(image, "visitor"))
            except PhotoRefused as exc:
                refused.append(PhotoRefused(exc.reason, str(exc), label))
        return accepted, refused

    def remove(self, person_id: uuid.UUID) -> int:
        """Erases the person, their references and alerts (rows and files); files removed."""
        files = self.people.remove(person_id)
        self._changed()
        return files

    def _changed(self) -> None:
        for monitor in list(self._monitors.values()):
            monitor.watchlist_changed()

    # ---------------------------------------------------------------- alerts
    def expire_old(self) -> int:
        """Open alerts past `watchlist.alert_expiry_h` become expired (before every decision)."""
        self._expired_at = time.monotonic()
        return self.alerts.expire(utc_now() - timedelta(hours=self.config.alert_expiry_h))

    def expire_before_reading(self) -> None:
        """`expire_old` before a read, at most every EXPIRE_EVERY_S: a page of operators polling
        the alerts does not take the database's write lock on every request."""
        if time.monotonic() - self._expired_at >= EXPIRE_EVERY_S:
            self.expire_old()

    def decide(
        self, alert_id: uuid.UUID, decision: Status, by: str, note: str, add_reference: bool = False
    ) -> DecisionResult:
        """Confirms or rejects an open alert, with what it teaches (a rejection's negatives; a
        confirmation's face added to the references when asked), and tells every open stream
        (other operators' screens). NothingToLearn (409) when asked to add a face the alert did not
        keep: checked first, so the alert then stays open."""
        self.expire_old()
        if add_reference and decision == "confirmed":
            self._check_face_kept(alert_id)
        try:
            result = self.desk.decide(alert_id, decision, by, note, utc_now(), add_reference)
        except NothingToLearn:  # the face went between the check and the decision: decided anyway
            self._publish(DECIDED, self.alerts.get(alert_id))
            raise
        self._publish(DECIDED, result.alert)
        if result.reference_added or result.negatives_learned:
            self._changed()  # the live matcher re-reads references and negatives at the next face
        return result

    def _check_face_kept(self, alert_id: uuid.UUID) -> None:
        alert = self.alerts.get(alert_id)  # AlertNotFound (404) first
        if alert.status != "open":
            return  # the decision answers AlertAlreadyDecided (409)
        if (
            self.learning.best_face(alert_id) is None
            or not self.alerts.crops.resolve(alert.crop_path).is_file()
        ):
            raise NothingToLearn(f"alert {alert_id} kept no face to add to {alert.person_name}'s references")

    def lessons(self, person_id: uuid.UUID) -> list[Lesson]:
        """What rejections taught about the person, newest first (PersonNotFound when unknown)."""
        self.people.get(person_id)
        return self.learning.lessons(person_id)

    def undo_lesson(self, person_id: uuid.UUID, alert_id: uuid.UUID) -> int:
        """Forgets what one rejected alert taught about the person; how many negatives.
        LessonNotFound when that alert taught the person nothing."""
        if not any(lesson.alert_id == alert_id for lesson in self.lessons(person_id)):
            raise LessonNotFound(person_id, alert_id)
        removed = self.learning.undo(alert_id)
        self._changed()
        return removed

    def close(self) -> None:
        """Ends the streams and frees the photo models; the database belongs to the store."""
        self.sharing.close()
        self.feed.close()
        self.registry.release_models()


class _Relay:
    """The monitor's listener: alert events go to the host's feed."""

    def __init__(self, host: WatchlistHost) -> None:
        self.host = host

    def handle(self, event: PipelineEvent) -> None:
        if isinstance(event, AlertEvent):
            self.host.relay(event)

    def close(self) -> None:
        pass
