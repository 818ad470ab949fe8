"""Cameras on Ray without a cluster: the settings, the refusal of SQLite in cluster mode, and the
idempotent sighting write the camera actors rely on (tests/test_ray_cameras.py runs the cluster)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.test_store import T0, crop, face, obs, open_store
from vigil.cli import app
from vigil.cluster.actor import ActorReport, EventBuffer, Placement
from vigil.cluster.cameras import RemoteCamera
from vigil.cluster.config import ClusterConfig, ClusterNeedsPostgres, check_cluster_store
from vigil.cluster.identifier import RunIdentifier, sighting_key
from vigil.config import CameraConfig, load_settings
from vigil.live.camera import CameraStatus
from vigil.live.counters import StageCounters
from vigil.live.events import FaceEmbedded, PipelineEvent, TrackEnded, TrackStarted
from vigil.live.health import SourceHealth, SourceState
from vigil.web.cameras import CameraManager
from vigil.web.events import EventBus


def test_cluster_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not load_settings().cluster.enabled
    monkeypatch.setenv("VIGIL_CLUSTER__RAY_ADDRESS", "10.0.0.5:6379")
    monkeypatch.setenv("VIGIL_CLUSTER__CAMERA_CPUS", "0.5")
    cluster = load_settings().cluster
    assert cluster.enabled and cluster.ray_address == "10.0.0.5:6379" and cluster.camera_cpus == 0.5
    with pytest.raises(ValueError, match="ray address"):
        ClusterConfig(ray_address="http://head:6379")


def test_sqlite_is_refused_in_cluster_mode_before_anything_starts(tmp_path: Path) -> None:
    db = tmp_path / "vigil.db"
    done = CliRunner().invoke(app, ["serve", "--cluster", "127.0.0.1:1", "--db", f"sqlite:///{db}"])
    assert done.exit_code == 1
    assert "cluster mode (--cluster / cluster.ray_address) needs a PostgreSQL store" in done.output
    assert not db.exists()  # refused before the store was opened: no Ray connection tried either
    done = CliRunner().invoke(app, ["serve", "--cluster", "head-without-port"])
    assert done.exit_code == 1 and "ray address 'head-without-port'" in done.output
    check_cluster_store("postgresql://vigil@db.example/vigil")  # accepted
    with pytest.raises(ClusterNeedsPostgres):
        check_cluster_store("sqlite:///elsewhere.db")


def test_the_camera_manager_refuses_an_sqlite_store_in_cluster_mode(tmp_path: Path) -> None:
    """The settings path (`cluster.ray_address` in YAML or the environment), not only the CLI's."""
    store = open_store(f"sqlite:///{tmp_path / 'v.db'}", tmp_path)
    settings = load_settings(cluster={"ray_address": "127.0.0.1:1"}, data_dir=tmp_path / "data")
    try:
        with pytest.raises(ClusterNeedsPostgres, match="SQLite is a file of this machine only"):
            CameraManager(settings, store, EventBus())
    finally:
        store.close()


def test_a_repeated_first_observation_of_a_keyed_track_writes_nothing(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url, tmp_path, same_person_similarity=0.9)
    try:
        key = sighting_key(uuid.uuid4(), "cam-a", 7)
        first = store.observe(replace(obs(1, T0, track=7), sighting_id=key))
        again = store.observe(replace(obs(1, T0, track=7), sighting_id=key))
        assert first.sighting_id == again.sighting_id == key
        assert again.visitor_id == first.visitor_id and not again.new_visitor
        counts = store.counts()
        assert counts["sightings"] == 1 and counts["visitors"] == 1
        other = sighting_key(uuid.uuid4(), "cam-a", 7)  # another run's track 7: a row of its own
        assert store.observe(replace(obs(1, T0, track=7), sighting_id=other)).sighting_id == other
        assert store.counts()["sightings"] == 2
    finally:
        store.close()


def test_the_event_buffer_gives_each_event_once_until_acknowledged() -> None:
    buffer = EventBuffer(kept=3)
    for track in range(1, 5):
        buffer.handle(TrackStarted("cam", track, 0.0, 0.0))
    events, last = buffer.since(0)
    assert [e.track_id for e in events] == [2, 3, 4] and last == 4 and buffer.dropped == 1
    again, last_again = buffer.since(0)  # the answer was lost: asked again from the same point
    assert [e.track_id for e in again] == [2, 3, 4] and last_again == 4
    assert buffer.since(4) == ([], 4)  # acknowledged: let go
    buffer.handle(TrackEnded("cam", 2, 1.0, 1.0))
    assert [e.type for e in buffer.since(4)[0]] == ["track_ended"]


def test_a_run_s_identifier_keys_its_sightings_and_reports_each_track_once(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'v.db'}", tmp_path, same_person_similarity=0.9)
    run = uuid.uuid4()
    identifier = RunIdentifier(store, run)
    try:
        for quality in (0.5, 0.8):  # a track's first face, then a better one (an update, not a row)
            seen = FaceEmbedded(
                "cam-a", 3, T0.timestamp(), 1.0, quality=quality, embedding=face(1), crop=crop()
            )
            assert identifier.identify(seen) is not None
        assert identifier.drain_written() == [sighting_key(run, "cam-a", 3)]
        assert identifier.drain_written() == []
        assert store.counts()["sightings"] == 1
    finally:
        store.close()


def _report(run: uuid.UUID, node: str, events: list[PipelineEvent], last: int) -> ActorReport:
    status = CameraStatus(SourceHealth("cam", "x.mp4", "file").snapshot(), StageCounters().snapshot(), None)
    placement = Placement(node, "10.0.0.5", 1, run, 0.0, 1.0, "dlib_resnet_v1")
    return ActorReport(placement, True, status, events, last)


def test_a_restarted_camera_ends_the_tracks_its_lost_run_left_open() -> None:
    """The new run counts track ids from 1 again: the server's sinks (live labels, the watchlist
    monitor) get the old run's open tracks ended before the new run's first event."""
    camera = RemoteCamera("cam", CameraConfig(url="x.mp4"), load_settings(), "postgresql://h/db", ray=None)
    first, second = uuid.uuid4(), uuid.uuid4()
    started = [TrackStarted("cam", t, 1.0, 1.0) for t in (1, 2, 3)]
    got = camera.answered(_report(first, "node-a", [*started, TrackEnded("cam", 2, 2.0, 2.0)], 4))
    assert [(e.type, e.track_id) for e in got] == [
        *(("track_started", t) for t in (1, 2, 3)),
        ("track_ended", 2),
    ]
    camera.unanswered("no answer within 2.0 s", for_good=False)
    assert camera.status().health.state == SourceState.RECONNECTING and camera.running
    got = camera.answered(_report(second, "node-b", [TrackStarted("cam", 1, 9.0, 0.2)], 1))
    assert [(e.type, e.track_id) for e in got] == [
        ("track_ended", 1),
        ("track_ended", 3),
        ("track_started", 1),
    ]
    assert [m.placement.node_id for m in camera.moves] == ["node-a", "node-b"]
    assert camera.moves[1].unreachable_s is not None and camera.node == "10.0.0.5 (node-b)"
    camera.unanswered("ActorDiedError: its start failed", for_good=True)
    assert camera.status().health.state == SourceState.FAILED and not camera.running


def test_an_actor_that_never_answered_is_starting_not_reconnecting() -> None:
    camera = RemoteCamera("cam", CameraConfig(url="x.mp4"), load_settings(), "postgresql://h/db", ray=None)
    assert camera.status().health.state == SourceState.STARTING and camera.running
    camera.unanswered("no answer within 2.0 s", for_good=False)  # its process and models still loading
    health = camera.status().health
    assert health.state == SourceState.STARTING and health.last_error == "starting: no answer within 2.0 s"
