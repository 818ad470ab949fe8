"""Watchlist alerts (issue 15, part 3): raised per person and track, joined within the cooldown,
upgraded, decided once, expired, erased with the person; each keeps a snapshot of the frame with the
face's box in red, which follows the better face; the live monitor turns embedded faces into alert
events for its listeners (the events file of `vigil watch`) and marks the tracks with an open alert."""

from __future__ import annotations

import json
import stat
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy.exc import IntegrityError

from vigil.config import StoreConfig, VigilSettings
from vigil.live.events import FaceEmbedded, JsonlSink, SourceFrame, TrackEnded
from vigil.store.crops import CropStore
from vigil.store.database import Database, connect
from vigil.types import FaceEmbedding
from vigil.watchlist.alerts import AlertAlreadyDecided, AlertFilter, AlertNotFound, AlertRepository
from vigil.watchlist.matching import Decision
from vigil.watchlist.monitor import TrackAlert, WatchlistMonitor
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


def frame_with_face(box: tuple[int, int, int, int], width: int = 1920, height: int = 1080) -> SourceFrame:
    """A grey frame with a lighter "face" at `box` (x1, y1, x2, y2)."""
    image = np.full((height, width, 3), 70, np.uint8)
    x1, y1, x2, y2 = box
    image[y1:y2, x1:x2] = 160
    return SourceFrame(image, np.array(box, np.float32))


def red(image: np.ndarray) -> np.ndarray:
    """Pixels that are (after JPEG) still clearly red."""
    b, g, r = (image[:, :, i].astype(int) for i in range(3))
    return np.asarray((r > 180) & (g < 90) & (b < 90))


def read_snapshot(alerts: AlertRepository, relative: str | None) -> np.ndarray:
    assert relative is not None and relative.endswith(".jpg")
    path = alerts.crops.resolve(relative)
    assert path.read_bytes()[:3] == b"\xff\xd8\xff"  # a JPEG
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # private, like the crops
    image = cv2.imread(str(path))
    assert image is not None
    return np.asarray(image)


def assert_red_box(image: np.ndarray, box: tuple[int, int, int, int]) -> None:
    x1, y1, x2, y2 = box
    found = red(image)
    assert found[y1 - 1 : y1 + 2, x1 + 5 : x2 - 5].any(axis=0).mean() > 0.9  # top edge
    assert found[y1 + 5 : y2 - 5, x1 - 1 : x1 + 2].any(axis=1).mean() > 0.9  # left edge
    assert found[y1 + 5 : y2 - 5, x2 - 1 : x2 + 2].any(axis=1).mean() > 0.9  # right edge
    assert found[y1 + 6 : y2 - 6, x1 + 6 : x2 - 6].mean() < 0.01  # an outline: the face stays visible
    assert found.sum() < 4 * 4 * (x2 - x1 + y2 - y1)  # nothing red elsewhere


def test_an_alert_keeps_a_snapshot_with_the_box_which_follows_the_better_face(
    people: WatchlistRepository, alerts: AlertRepository
) -> None:
    ada = enrol(people, "Ada", 1)
    raised = alerts.record(decision(ada), CROP, T0, 60, frame_with_face((600, 300, 840, 600))).alert
    assert raised.snapshot_path is not None
    first = read_snapshot(alerts, raised.snapshot_path)
    assert first.shape == (720, 1280, 3)  # a 1080p frame downscaled to 1280 px wide, box with it
    assert_red_box(first, (400, 200, 560, 400))
    thumb = cv2.imread(str(alerts.crops.resolve(raised.snapshot_path.replace(".jpg", "_thumb.jpg"))))
    assert thumb is not None and thumb.shape[1] == 320
    # A later face that only joins draws nothing; an upgrade replaces the crop and the snapshot.
    joined = alerts.record(
        decision(ada), CROP, T0 + timedelta(seconds=1), 60, frame_with_face((0, 0, 50, 50))
    )
    assert (joined.change, joined.alert.snapshot_path) == ("joined", raised.snapshot_path)
    small = frame_with_face((100, 120, 220, 260), width=640, height=360)
    up = alerts.record(decision(ada, level="match"), CROP, T0 + timedelta(seconds=2), 60, small).alert
    assert (
        up.id == raised.id and up.snapshot_path != raised.snapshot_path and up.crop_path != raised.crop_path
    )
    assert up.snapshot_path is not None
    second = read_snapshot(alerts, up.snapshot_path)
    assert second.shape == (360, 640, 3)  # smaller frames keep their size
    assert_red_box(second, (100, 120, 220, 260))
    for old in (raised.snapshot_path, raised.crop_path):
        assert not alerts.crops.resolve(old).exists()  # the previous face's files are gone
    assert sorted(alerts.crop_paths(ada)) == sorted([up.crop_path, up.snapshot_path])
    # Without a frame (events from older callers) an upgrade keeps the snapshot it has.
    carol = enrol(people, "Carol", 3)
    probable = alerts.record(decision(carol, track=5), CROP, T0, 60, small).alert
    frameless = alerts.record(decision(carol, track=5, level="match"), CROP, T0, 60).alert
    assert frameless.level == "match" and frameless.snapshot_path == probable.snapshot_path
    assert probable.snapshot_path is not None and alerts.crops.resolve(probable.snapshot_path).is_file()
    # Without a frame (events from older callers) an alert has a crop and no snapshot.
    bob = enrol(people, "Bob", 2)
    assert alerts.record(decision(bob), CROP, T0, 60).alert.snapshot_path is None


def test_removing_a_person_erases_their_alerts_and_crops(
    people: WatchlistRepository, alerts: AlertRepository
) -> None:
    ada, bob = enrol(people, "Ada", 1), enrol(people, "Bob", 2)
    alert = alerts.record(decision(ada), CROP, T0, 60, frame_with_face((10, 10, 90, 90), 320, 240)).alert
    kept = alerts.record(decision(bob), CROP, T0, 60, frame_with_face((10, 10, 90, 90), 320, 240)).alert
    crop = alerts.crops.resolve(alert.crop_path)
    assert alert.snapshot_path is not None
    snapshot = alerts.crops.resolve(alert.snapshot_path)
    assert snapshot.is_file()
    assert people.remove(ada) == 6  # reference + alert crops + the snapshot, each with its thumbnail
    assert not crop.exists() and not snapshot.exists() and not (people.crops.root / str(ada)).exists()
    assert kept.snapshot_path is not None and alerts.crops.resolve(kept.snapshot_path).is_file()
    with pytest.raises(AlertNotFound):
        alerts.get(alert.id)
    assert alerts.get(kept.id).person_name == "Bob"


def embedded(
    track: int, seed: int, ts: float, quality: float = 0.8, source: SourceFrame | None = None
) -> FaceEmbedded:
    return FaceEmbedded(
        camera="door", track_id=track, ts=ts, pts=ts - 1000, quality=quality,
        embedding=FaceEmbedding(vector(seed), MODEL), crop=CROP, source=source,
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


def test_the_monitor_snapshots_alerts_and_marks_their_tracks_until_they_end_or_are_decided(
    tmp_path: Path, people: WatchlistRepository, alerts: AlertRepository
) -> None:
    clock = [0.0]
    settings = VigilSettings(watchlist={"alert_expiry_h": 1})
    monitor = WatchlistMonitor(people, alerts, settings.watchlist, MODEL, refresh_s=0, clock=lambda: clock[0])
    ada = enrol(people, "Ada", 1)
    t = T0.timestamp()
    box = (300, 100, 420, 260)
    monitor.handle(embedded(1, 1, t, source=frame_with_face(box, 640, 480)))
    monitor.handle(embedded(2, 7, t, source=frame_with_face(box, 640, 480)))  # a stranger: no mark
    marks = monitor.track_alerts("door")
    assert list(marks) == [1] and monitor.track_alerts("hall") == {}
    mark = marks[1]
    assert isinstance(mark, TrackAlert) and (mark.person, mark.level) == ("Ada", "match")
    stored = alerts.get(mark.alert_id)
    assert stored.person_id == ada
    assert_red_box(read_snapshot(alerts, stored.snapshot_path), box)
    monitor.handle(TrackEnded(camera="door", track_id=1, ts=t + 1, pts=1))
    assert monitor.track_alerts("door") == {}  # the track ended
    monitor.handle(embedded(3, 1, t + 2, source=frame_with_face(box, 640, 480)))  # a repeat joins
    assert monitor.track_alerts("door")[3].alert_id == mark.alert_id
    alerts.decide(mark.alert_id, "confirmed", "olga", "", T0 + timedelta(seconds=3))
    assert monitor.track_alerts("door") == {}  # decided: no longer marked
    monitor.handle(TrackEnded(camera="door", track_id=3, ts=t + 3, pts=3))
    monitor.handle(embedded(4, 1, t + 4, source=frame_with_face(box, 640, 480)))  # a new alert
    assert list(monitor.track_alerts("door")) == [4]
    clock[0] += 3601  # no alerting face for longer than alert_expiry_h: the mark lapses
    assert monitor.track_alerts("door") == {}
    clock[0] = 0
    assert list(monitor.track_alerts("door")) == [4]
    assert alerts.expire(T0 + timedelta(hours=2)) == 1
    assert monitor.track_alerts("door") == {}  # expired
    monitor.handle(TrackEnded(camera="door", track_id=4, ts=t + 5, pts=5))
    monitor.handle(embedded(5, 1, t + 6, source=frame_with_face(box, 640, 480)))
    assert list(monitor.track_alerts("door")) == [5]
    people.remove(ada)
    monitor.watchlist_changed()  # as the API does after erasing someone
    assert monitor.track_alerts("door") == {}  # an erased person's name is not shown any more
    bob = enrol(people, "Bob", 3)
    monitor.handle(embedded(6, 3, t + 7, source=frame_with_face(box, 640, 480)))
    assert [m.person for m in monitor.track_alerts("door").values()] == ["Bob"]
    people.remove(bob)  # by another process (`vigil watchlist remove`): seen at the next face
    monitor.handle(embedded(7, 7, t + 8, source=frame_with_face(box, 640, 480)))
    assert monitor.track_alerts("door") == {}
    monitor.close()


def test_a_failed_alert_write_leaves_no_file(people: WatchlistRepository, alerts: AlertRepository) -> None:
    enrol(people, "Ada", 1)
    before = sorted(p for p in alerts.crops.root.rglob("*") if p.is_file())
    with pytest.raises(IntegrityError):  # nobody of that id: the row is refused after its files
        alerts.record(decision(uuid.uuid4()), CROP, T0, 60, frame_with_face((10, 10, 90, 90), 320, 240))
    assert sorted(p for p in alerts.crops.root.rglob("*") if p.is_file()) == before
