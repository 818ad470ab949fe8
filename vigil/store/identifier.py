"""The pipeline's identity sink: turns `face_embedded` / `track_ended` events into store writes.

Placed before writer sinks (JSON lines), it adds `visitor_id`, `similarity` and `new_visitor`
to each `face_embedded` event. A store failure is logged and counted, and never stops a camera."""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import UTC, datetime

from vigil.runtime.events import FaceEmbedded, PipelineEvent, TrackEnded
from vigil.store.repository import FaceObservation, IdentityStore

log = logging.getLogger(__name__)


class IdentitySink:
    def __init__(self, store: IdentityStore, close_store: bool = True) -> None:
        self.store = store
        self.errors = 0
        self._close_store = close_store
        self._tracks: dict[tuple[str, int], tuple[uuid.UUID, float]] = {}  # -> (sighting, crop quality)
        self._lock = threading.Lock()  # one assignment at a time: no twin visitors from two cameras

    def handle(self, event: PipelineEvent) -> None:
        try:
            if isinstance(event, FaceEmbedded):
                self._embedded(event)
            elif isinstance(event, TrackEnded):
                self._ended(event)
        except Exception as exc:  # the store must never take a camera down
            self.errors += 1
            event.extra["store_error"] = str(exc)
            log.error("identity store: %s (camera %s, track %s)", exc, event.camera, event.track_id)

    def _embedded(self, event: FaceEmbedded) -> None:
        if event.embedding is None:
            return
        key = (event.camera, event.track_id)
        obs = FaceObservation(
            camera=event.camera,
            track_id=event.track_id,
            captured_at=datetime.fromtimestamp(event.ts, UTC),
            embedding=event.embedding,
            quality=event.quality,
            crop=event.crop,
        )
        with self._lock:
            known = self._tracks.get(key)
            result = self.store.update_track(known[0], obs) if known else self.store.observe(obs)
            self._tracks[key] = (result.sighting_id, event.quality)
        event.extra.update(
            visitor_id=str(result.visitor_id),
            similarity=None if result.similarity is None else round(result.similarity, 4),
            new_visitor=result.new_visitor,
        )
        if result.moved_from is not None:
            event.extra["moved_from"] = str(result.moved_from)

    def _ended(self, event: TrackEnded) -> None:
        with self._lock:
            known = self._tracks.pop((event.camera, event.track_id), None)
            if known and event.best_crop is not None and event.best_quality > known[1]:
                self.store.set_track_crop(known[0], event.best_crop, event.best_quality)

    def close(self) -> None:
        if self._close_store:
            self.store.close()
