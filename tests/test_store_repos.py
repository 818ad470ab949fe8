"""The store's small repositories, through which the web app reads and writes (no SQL in
vigil/web): visitor reads and camera rows with the name cache they own; both backends."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from vigil.config import StoreConfig, VigilSettings
from vigil.errors import VisitorNotFound
from vigil.store.cameras import CameraSource
from vigil.store.repository import FaceObservation, IdentityStore
from vigil.types import FaceEmbedding

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def sighting(person: int, minute: int, camera: str = "cam-a") -> FaceObservation:
    vector = np.random.default_rng(person).normal(size=64).astype(np.float32)
    return FaceObservation(camera, minute, T0 + timedelta(minutes=minute), FaceEmbedding(vector, "m1"), 0.5)


@pytest.fixture
def store(db_url: str, tmp_path: Path) -> Iterator[IdentityStore]:
    settings = VigilSettings(data_dir=tmp_path / "data", store=StoreConfig(url=db_url))
    opened = IdentityStore.open(settings)
    yield opened
    opened.close()


def test_visitor_reads(store: IdentityStore) -> None:
    reads = store.visitors
    assert reads.last_sighting_at() is None
    ada = store.observe(sighting(0, 1)).visitor_id
    store.observe(sighting(0, 5, camera="cam-b"))
    store.describe(ada, {"name": "Ada"})
    unknown = uuid.uuid4()
    assert reads.names([ada, unknown]) == {ada: "Ada"}
    assert reads.last_sighting_at() == T0 + timedelta(minutes=5)
    record = reads.get(ada)
    assert (record.name, record.sighting_count, record.cameras) == ("Ada", 2, ["cam-a", "cam-b"])
    assert [row.camera for row in reads.sightings(ada, 1, 0)] == ["cam-b"]  # newest first
    assert [row.camera for row in reads.sightings(ada, 1, 1)] == ["cam-a"]
    assert reads.find(unknown) is None
    with pytest.raises(VisitorNotFound, match="merged or erased") as gone:
        reads.get(unknown)
    assert gone.value.visitor_id == unknown


def test_a_renamed_camera_leaves_the_name_cache(store: IdentityStore) -> None:
    before = store.observe(sighting(0, 1, camera="lobby")).visitor_id  # caches lobby -> its row id
    lobby = store.cameras.upsert("lobby", CameraSource("usb:0"), managed=True)  # adopts that row
    store.cameras.update(lobby.id, "hall", CameraSource("usb:0"))
    after = store.observe(sighting(1, 2, camera="lobby")).visitor_id  # another source named lobby
    assert store.visitors.get(before).cameras == ["hall"]
    assert store.visitors.get(after).cameras == ["lobby"]  # a new row, not the renamed one


def test_camera_rows(store: IdentityStore) -> None:
    cameras = store.cameras
    zones = [[(0.0, 0.0), (10.0, 0.0), (10.0, 5.5)]]
    added = cameras.upsert("door", CameraSource("rtsp://h/s", 4.0, True, zones), managed=True, enabled=False)
    assert (added.url, added.fps, added.loop, added.dead_zones, added.enabled) == (
        "rtsp://h/s",
        4.0,
        True,
        zones,
        False,
    )
    configured = cameras.upsert("yard", CameraSource("usb:1"), managed=False)
    assert configured.enabled and not configured.managed
    cameras.set_enabled(configured.id, False)
    again = cameras.upsert("yard", CameraSource("usb:2"), managed=False)  # a restart keeps the flag
    assert (again.id, again.url, again.enabled) == (configured.id, "usb:2", False)
    assert [row.name for row in cameras.managed()] == ["door"]
    assert cameras.name_taken("yard", other_than=added.id) and not cameras.name_taken("yard", configured.id)
    cameras.retire(added.id)
    assert cameras.managed() == [] and cameras.name_taken("door", other_than=configured.id)
