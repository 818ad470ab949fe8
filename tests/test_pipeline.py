"""Integration: the whole live pipeline on real clips, through the API and the CLI."""

import json
import statistics
import threading
from collections import defaultdict
from pathlib import Path

import av
import cv2
import numpy as np
from typer.testing import CliRunner

from tests.conftest import read_image
from vigil.cli import app
from vigil.config import CameraConfig, load_settings
from vigil.live.events import FaceEmbedded, MemorySink, PipelineEvent, TrackEnded
from vigil.live.supervisor import Supervisor


def _run(
    cameras: list[CameraConfig], models_dir: Path, **overrides: object
) -> tuple[Supervisor, list[PipelineEvent]]:
    settings = load_settings(shared_dir=models_dir.parent, realtime=False, **overrides)
    sink = MemorySink()
    supervisor = Supervisor(settings, cameras, [sink])
    supervisor.start()
    supervisor.wait(duration_s=120)
    return supervisor, sink.events


def test_hamilton_gated_recognition(hamilton: Path, models_dir: Path) -> None:
    supervisor, events = _run([CameraConfig(url=str(hamilton), name="stage")], models_dir)
    counters = supervisor.status()["stage"].counters
    assert counters.frames_decoded == 275
    assert 9.0 <= counters.stream_s <= 9.3  # last frame's stream time
    assert 44 <= counters.frames_sampled <= 47  # 9.2 s at 5 fps
    assert counters.frames_dropped == 0  # offline files wait instead of dropping
    per_track: dict[int, list[str]] = defaultdict(list)
    for event in events:
        assert event.camera == "stage"
        per_track[event.track_id].append(event.type)
    for track_id, types in per_track.items():  # lifecycle order per track
        assert types[0] == "track_started" and types[-1] == "track_ended", (track_id, types)
        assert set(types[1:-1]) <= {"face_embedded"}
    ended = [e for e in events if isinstance(e, TrackEnded)]
    embedded = [e for e in events if isinstance(e, FaceEmbedded)]
    assert len(ended) == counters.tracks_started >= 3
    assert sum(e.embeddings for e in ended) == len(embedded) == counters.embeddings >= 2
    assert statistics.median(e.embeddings for e in ended) <= 2
    # Gating: far fewer embeddings than a per-frame detect+embed baseline would compute (every
    # track gets a first chance and a well-seen one a look per refresh_s: 12 of 108 faces).
    assert len(embedded) <= 0.15 * counters.faces_detected
    best = max(ended, key=lambda e: e.frames)
    # Tracks end at cuts: the longest shot (Lin's close-up, 4.3 s) is 21 analysed frames.
    assert best.best_crop is not None and best.best_crop.size > 0 and 20 <= best.frames <= 22
    for event in embedded:
        assert event.embedding is not None and event.embedding.dim == 128
        assert event.quality >= 0.25  # gating.first_min_quality: nothing poorer is embedded


def test_dead_zone_covering_frame_finds_nothing(hamilton: Path, models_dir: Path) -> None:
    everything = [[(0.0, 0.0), (640.0, 0.0), (640.0, 360.0), (0.0, 360.0)]]
    supervisor, events = _run([CameraConfig(url=str(hamilton), name="c", dead_zones=everything)], models_dir)
    counters = supervisor.status()["c"].counters
    assert events == [] and counters.faces_detected == 0 and counters.faces_in_dead_zones > 0
    # Dead zones are masked for motion too: only the first and forced detections run.
    assert counters.motion_skipped >= counters.frames_sampled - 5


def test_bad_camera_does_not_stop_others(hamilton: Path, models_dir: Path, tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00" * 4096)
    cameras = [
        CameraConfig(url=str(tmp_path / "missing.mp4"), name="missing"),
        CameraConfig(url=str(corrupt), name="corrupt"),
        CameraConfig(url=str(hamilton), name="good"),
    ]
    supervisor, events = _run(cameras, models_dir)
    status = supervisor.status()
    assert status["missing"].health.state == "failed"
    assert "no such video file" in (status["missing"].health.last_error or "")
    assert status["corrupt"].health.state == "failed" and status["corrupt"].health.last_error
    assert status["good"].health.state == "finished" and status["good"].progress == 1.0
    assert {e.camera for e in events} == {"good"}


def test_realtime_pacing_and_duration(hamilton: Path, models_dir: Path) -> None:
    settings = load_settings(shared_dir=models_dir.parent, realtime=True)
    supervisor = Supervisor(
        settings, [CameraConfig(url=str(hamilton), name="live", loop=True)], [MemorySink()]
    )
    supervisor.start()
    supervisor.wait(duration_s=3.0)
    counters = supervisor.status()["live"].counters
    # ~3 s of a 29.97 fps clip at real pace: neither as fast as possible nor stalled.
    assert 60 <= counters.frames_decoded <= 110
    assert not supervisor.running


def test_cli_watch_writes_events(hamilton: Path, models_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(
        app,
        ["watch", str(hamilton), "--no-realtime", "--events", str(out)],
        env={"VIGIL_SHARED_DIR": str(models_dir.parent), "VIGIL_MODELS_DIR": str(models_dir)},
    )
    assert result.exit_code == 0, result.output
    assert "frames_decoded" in result.output and "275" in result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    types = {line["type"] for line in lines}
    assert types == {"track_started", "face_embedded", "track_ended"}
    for line in lines:
        assert {"type", "camera", "track_id", "ts"} <= set(line)
        assert line["camera"] == "hamilton_640x360" and line["ts"].endswith("Z")
    embedded = [line for line in lines if line["type"] == "face_embedded"]
    assert all(line["embedding_model"] == "dlib_resnet_v1" and 0 < line["quality"] <= 1 for line in embedded)
    ended = [line for line in lines if line["type"] == "track_ended"]
    assert all({"frames", "embeddings", "best_quality"} <= set(line) for line in ended)


def test_cli_reports_failed_camera_with_exit_code(hamilton: Path, models_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["watch", str(hamilton), str(tmp_path / "missing.mp4"), "--no-realtime"],
        env={"VIGIL_SHARED_DIR": str(models_dir.parent)},
    )
    assert result.exit_code == 3
    assert "missing.mp4: no such video file" in " ".join(result.output.split())  # rich wraps lines


def test_static_scene_motion_gate(models_dir: Path, tmp_path: Path) -> None:
    image = np.asarray(cv2.resize(read_image("media/faces/groups/two_people.jpg"), (640, 360)), np.uint8)
    clip = tmp_path / "static.mp4"
    with av.open(str(clip), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        for _ in range(200):  # 8 s of the same picture
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    supervisor, _events = _run([CameraConfig(url=str(clip), name="still")], models_dir)
    counters = supervisor.status()["still"].counters
    assert counters.frames_sampled >= 38
    assert counters.motion_skipped >= 0.8 * counters.frames_sampled
    assert counters.frames_detected <= 5  # first frame + a forced refresh every 3 s


def test_backoff_restarts_after_a_connection_delivered_frames(models_dir: Path) -> None:
    """A camera that works between drops reconnects after `retry_backoff`, not after an
    ever-growing delay (the server streams 30 frames for ~0.3 s, then closes)."""
    from http.server import ThreadingHTTPServer

    from tests.test_sources import _MjpegHandler

    server = ThreadingHTTPServer(("127.0.0.1", 0), _MjpegHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/video"
    settings = load_settings(shared_dir=models_dir.parent, retry_backoff=0.3, runtime={"max_backoff_s": 30})
    supervisor = Supervisor(settings, [CameraConfig(url=url, name="flaky")], [MemorySink()])
    try:
        supervisor.start()
        supervisor.wait(duration_s=4.0)
    finally:
        server.shutdown()
    health = supervisor.status()["flaky"].health
    # Constant 0.3 s waits give ~6 reconnects in 4 s; doubling waits (0.3, 0.6, 1.2, 2.4) give <= 4.
    assert health.reconnects >= 5, health
    assert supervisor.status()["flaky"].counters.frames_decoded >= 120


def test_health_is_a_typed_snapshot_turned_into_strings_at_the_edge() -> None:
    from vigil.live.health import HealthSnapshot, SourceHealth, SourceState

    health = SourceHealth("door", "rtsp://admin:secret@10.0.0.5/stream", "rtsp")
    health.state = SourceState.RECONNECTING
    health.last_frame_ts = 1_800_000_000.0
    snapshot = health.snapshot()
    assert isinstance(snapshot, HealthSnapshot) and snapshot.state is SourceState.RECONNECTING
    health.state = SourceState.RUNNING
    assert snapshot.state is SourceState.RECONNECTING, "a snapshot does not follow the live object"
    edge = snapshot.to_dict()
    assert edge["state"] == "reconnecting" and type(edge["state"]) is str
    assert edge["last_frame_at"] == "2027-01-15T08:00:00.000Z" and "secret" not in edge["url"]


def test_counter_snapshot_has_every_counter_and_is_frozen() -> None:
    import dataclasses

    import pytest

    from vigil.live.counters import CounterSnapshot, StageCounters

    live = StageCounters()
    live.embeddings, live.ms_detect = 3, 12.345
    snapshot = live.snapshot()
    live.embeddings += 1
    assert snapshot.embeddings == 3 and snapshot.ms_detect == 12.3
    with pytest.raises(dataclasses.FrozenInstanceError):
        snapshot.embeddings = 9
    assert isinstance(snapshot, CounterSnapshot)
    assert snapshot.to_dict() == {**dataclasses.asdict(live), "embeddings": 3, "ms_detect": 12.3}


def test_watch_with_an_unwritable_events_file_fails_clearly(tmp_path: Path, models_dir: Path) -> None:
    from typer.testing import CliRunner

    from tests.conftest import shared_file
    from vigil.cli import app

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    clip = shared_file("media/video/single_face.mp4")
    env = {"VIGIL_DATA_DIR": str(tmp_path / "data"), "VIGIL_SHARED_DIR": str(models_dir.parent)}
    result = CliRunner().invoke(app, ["watch", str(clip), "--events", str(blocker / "e.jsonl")], env=env)
    assert result.exit_code == 1, result.output
    assert "error" in result.output and "not-a-dir" in result.output
