"""Watchlist alerts (issue 15, part 3): raised per person and track, joined within the cooldown,
upgraded, decided once, expired, erased with the person; the live monitor turns embedded faces into
alert events for its listeners (the events file of `vigil watch`)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from vigil.config import StoreConfig, VigilSettings
from vigil.live.events import FaceEmbedded, JsonlSink, TrackEnded
from vigil.store.crops import CropStore
from vigil.store.database import Database, connect
from vigil.types import FaceEmbedding
from vigil.watchlist.alerts import AlertAlreadyDecided, AlertFilter, AlertNotFound, AlertRepository
from vigil.watchlist.matching import Decision
from vigil.watchlist.monitor import WatchlistMonitor
from vigil.watchlist.repository import NewReference, WatchlistRepository

T0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
MODEL = "dlib_resnet_v1"
CROP = np.full((64, 64, 3), 90, np.uint8)


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    db = connect(db_url)
    yield db
    db.dispose()


@pytest.fixture
def people(database: Database, tmp_path: Path) -> WatchlistRepository:
    return WatchlistRepository(database, tmp_path / "watchlist")


@pytest.fixture
def alerts(database: Database, tmp_path: Path) -> AlertRepository:
    return AlertRepository(database, CropStore(tmp_path / "watchlist"))


def vector(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return v / np.linalg.norm(v)


def enrol(people: WatchlistRepository, name: str, seed: int) -> uuid.UUID:
    return people.add_person(name, [NewReference(vector(seed), MODEL, CROP, 0.9, "photo")]).id


def decision(person: uuid.UUID, track: int = 1, level: str = "probable", camera: str = "door") -> Decision:
    return Decision(camera, track, person, level, 0.5 if level == "probable" else 0.6, 0.5, 1)  # type: ignore[arg-type]


def test_one_alert_per_person_and_track_and_repeats_join_within_the_cooldown(
    people: WatchlistRepository, alerts: AlertRepository
) -> None:
    ada = enrol(people, "Ada", 1)
    first = alerts.record(decision(ada), CROP, T0, cooldown_s=60)
    assert first.change == "raised" and first.alert.status == "open" and first.alert.person_name == "Ada"
    assert alerts.crops.resolve(first.alert.crop_path).is_file()
    up = alerts.record(decision(ada, level="match"), CROP, T0 + timedelta(seconds=5), cooldown_s=60)
    assert (up.change, up.alert.id, up.alert.level, up.alert.score) == (
        "upgraded",
        first.alert.id,
        "match",
        0.6,
    )
    repeat = alerts.record(decision(ada, track=9), CROP, T0 + timedelta(seconds=50), cooldown_s=60)
    assert (repeat.change, repeat.alert.id, repeat.alert.repeats, repeat.alert.level) == (
        "joined", first.alert.id, 1, "match",
    )  # fmt: skip
    other_camera = alerts.record(
        decision(ada, camera="hall"), CROP, T0 + timedelta(seconds=51), cooldown_s=60
    )
    assert other_camera.change == "raised"
    later = alerts.record(decision(ada, track=10), CROP, T0 + timedelta(seconds=200), cooldown_s=60)
    assert later.change == "raised" and later.alert.id != first.alert.id  # the cooldown had passed
    total, listed = alerts.page(AlertFilter(camera="door"))
    assert total == 2 and [a.id for a in listed] == [later.alert.id, first.alert.id]  # newest first
    assert alerts.page(AlertFilter(level="match"))[0] == 1


def test_decisions_happen_once_and_old_alerts_expire(
    people: WatchlistRepository, alerts: AlertRepository
) -> None:
    ada = enrol(people, "Ada", 1)
    one = alerts.record(decision(ada), CROP, T0, cooldown_s=60).alert
    two = alerts.record(decision(ada, camera="hall"), CROP, T0, cooldown_s=60).alert
    decided = alerts.decide(one.id, "rejected", "olga", "not her", T0 + timedelta(minutes=1))
    assert (decided.status, decided.decided_by, decided.note) == ("rejected", "olga", "not her")
    with pytest.raises(AlertAlreadyDecided, match="already rejected"):
        alerts.decide(one.id, "confirmed", "olga", "", T0)
    with pytest.raises(AlertNotFound):
        alerts.decide(uuid.uuid4(), "confirmed", "olga", "", T0)
    # a decided alert is not joined: the next sighting opens a new one
    assert alerts.record(decision(ada), CROP, T0 + timedelta(seconds=10), cooldown_s=60).change == "raised"
    assert alerts.expire(T0 + timedelta(seconds=5)) == 1  # `two`; the new one is too recent
    assert alerts.get(two.id).status == "expired"
    assert alerts.page(AlertFilter(status="open"))[0] == 1


def test_removing_a_person_erases_their_alerts_and_crops(
    people: WatchlistRepository, alerts: AlertRepository
) -> None:
    ada, bob = enrol(people, "Ada", 1), enrol(people, "Bob", 2)
    alert = alerts.record(decision(ada), CROP, T0, cooldown_s=60).alert
    kept = alerts.record(decision(bob), CROP, T0, cooldown_s=60).alert
    crop = alerts.crops.resolve(alert.crop_path)
    assert people.remove(ada) == 4  # reference + alert crops, each with its thumbnail
    assert not crop.exists() and not (people.crops.root / str(ada)).exists()
    with pytest.raises(AlertNotFound):
        alerts.get(alert.id)
    assert alerts.get(kept.id).person_name == "Bob"


def embedded(track: int, seed: int, ts: float, quality: float = 0.8) -> FaceEmbedded:
    return FaceEmbedded(
        camera="door", track_id=track, ts=ts, pts=ts - 1000, quality=quality,
        embedding=FaceEmbedding(vector(seed), MODEL), crop=CROP,
    )  # fmt: skip


def test_the_monitor_writes_alert_events_beside_the_others(tmp_path: Path) -> None:
    settings = VigilSettings(
        data_dir=tmp_path / "data", store=StoreConfig(url=f"sqlite:///{tmp_path / 'v.db'}")
    )
    db = connect(settings.resolved_db_url)
    people = WatchlistRepository(db, tmp_path / "watchlist")
    alerts = AlertRepository(db, CropStore(tmp_path / "watchlist"))
    events = tmp_path / "events.jsonl"
    sink = JsonlSink(events)
    monitor = WatchlistMonitor(people, alerts, settings.watchlist, MODEL, [sink], refresh_s=0)
    t = T0.timestamp()
    monitor.handle(embedded(1, 1, t))  # nobody enrolled yet: nothing
    ada = enrol(people, "Ada", 1)  # enrolled while running: seen at the next face
    monitor.handle(embedded(1, 1, t + 1))  # Ada's own vector: a match
    monitor.handle(embedded(1, 1, t + 2))  # already raised for this track
    monitor.handle(embedded(2, 7, t + 3))  # a stranger
    monitor.handle(TrackEnded(camera="door", track_id=1, ts=t + 4, pts=4))
    monitor.handle(embedded(1, 1, t + 5))  # a new track 1, within the cooldown: joins
    monitor.close()
    sink.close()
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    assert [(e["type"], e["person"], e["level"]) for e in lines] == [
        ("watchlist_alert", "Ada", "match"),
        ("watchlist_alert_repeat", "Ada", "match"),
    ]
    assert lines[0]["person_id"] == str(ada) and lines[0]["score"] == pytest.approx(1.0)
    assert lines[0]["alert_id"] == lines[1]["alert_id"]
    assert alerts.page(AlertFilter())[0] == 1
