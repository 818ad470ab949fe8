"""A camera actor's identifier: each track's sighting id is its natural key, and what it wrote is
reported to the server.

The key of a live track is (camera, run, track id): `run` is drawn anew by every incarnation of a
camera actor (a restart after its node died is a new run: its tracker counts ids from 1 again) and
the tracker never reuses an id within a run. The sighting id is a UUIDv5 of that key, so writing
the same track's first observation twice (a retried call whose commit was in fact done) finds the
row and writes nothing (`IdentityStore.observe`), and the primary key refuses a racing second
insert. A sighting the actor reported as written (`drain_written`) is therefore in the table, once."""

from __future__ import annotations

import threading
import uuid
from collections import deque

from vigil.live.events import FaceEmbedded, IdentityMatch
from vigil.store.identifier import StoreIdentifier
from vigil.store.repository import IdentityStore

_NAMESPACE = uuid.UUID("0f6c63f4-5e0d-4c47-9d7e-4a8f1c1e7a19")  # vigil live sightings
WRITTEN_KEPT = 100_000  # reported ids waiting for the server's next pull (it pulls every 0.5 s)


def sighting_key(run: uuid.UUID, camera: str, track_id: int) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"{run}/{camera}/{track_id}")


class RunIdentifier(StoreIdentifier):
    def __init__(self, store: IdentityStore, run: uuid.UUID) -> None:
        super().__init__(store, close_store=False)
        self.run = run
        self._written: deque[uuid.UUID] = deque(maxlen=WRITTEN_KEPT)
        self._reported = threading.Lock()

    def sighting_id(self, event: FaceEmbedded) -> uuid.UUID:
        return sighting_key(self.run, event.camera, event.track_id)

    def identify(self, event: FaceEmbedded) -> IdentityMatch | None:
        new_track = (event.camera, event.track_id) not in self._tracks
        match = super().identify(event)  # returns once the store's transaction committed
        if match is not None and new_track:
            with self._reported:
                self._written.append(self.sighting_id(event))
        return match

    def drain_written(self) -> list[uuid.UUID]:
        """Sightings committed since the last call (each track once)."""
        with self._reported:
            written = list(self._written)
            self._written.clear()
        return written
