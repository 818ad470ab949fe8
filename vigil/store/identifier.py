"""The pipeline's identifier: assigns each `face_embedded` event's face to a visitor in the store.

The recognition worker calls `identify` before any sink sees the event (so JSON lines, the live
view and alerts all get the typed `IdentityMatch`), and `handle` with every event, which stores a
track's best crop when it ends. The worker logs and counts a store failure; it never stops a camera."""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import UTC, datetime

from vigil.live.events import FaceEmbedded, IdentityMatch, PipelineEvent, TrackEnded
from vigil.store.repository import FaceObservation, IdentityStore

log = logging.getLogger(__name__)


class StoreIdentifier:
    def __init__(self, store: IdentityStore, close_store: bool = True) -> None:
        self.store = store
        self.errors = 0  # failed track-end writes (identify failures are counted by the worker)
        self._close_store = close_store
        self._tracks: dict[tuple[str, int], tuple[uuid.UUID, float]] = {}  # -> (sighting, crop quality)
        self._lock = threading.Lock()  # one assignment at a time: no twin visitors from two cameras

    def handle(self, event: PipelineEvent) -> None:
        if not isinstance(event, TrackEnded):
            return
        try:
            self._ended(event)
        except Exception as exc:  # the store must never take a camera down
            self.errors += 1
            log.error("identity store: %s (camera %s, track %s)", exc, event.camera, event.track_id)

    def identify(self, event: FaceEmbedded) -> IdentityMatch | None:
        if event.embedding is None:
            return None
        key = (event.camera, event.track_id)
        obs = FaceObservation(
            camera=event.camera,
            track_id=event.track_id,
            captured_at=datetime.fromtimestamp(event.ts, UTC),
            embedding=event.embedding,
            quality=event.quality,
            crop=event.crop,
            sighting_id=self.sighting_id(event),
        )
        with self._lock:
            known = self._tracks.get(key)
            result = self.store.update_track(known[0], obs) if known else self.store.observe(obs)
            self._tracks[key] = (result.sighting_id, event.quality)
        return IdentityMatch(
            visitor_id=str(result.visitor_id),
            similarity=result.similarity,
            new_visitor=result.new_visitor,
            moved_from=None if result.moved_from is None else str(result.moved_from),
        )

    def sighting_id(self, event: FaceEmbedded) -> uuid.UUID | None:
        """The id of a new track's sighting: None lets the store draw one (a cluster camera's
        identifier derives it from the track's natural key instead)."""
        return None

    def _ended(self, event: TrackEnded) -> None:
        with self._lock:
            known = self._tracks.pop((event.camera, event.track_id), None)
            if known and event.best_crop is not None and event.best_quality > known[1]:
                self.store.set_track_crop(known[0], event.best_crop, event.best_quality)

    def close(self) -> None:
        if self._close_store:
            self.store.close()
