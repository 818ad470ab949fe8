"""The sound a live camera's activity hears, visible in GET /api/activity/live's `sound` (issue 18
item 3): real pipelines on real files. A microphone that does not exist is reported as missing
(problem, the name asked, the reason redacted: its name carries a credential here), the camera
running on with picture-only activity; hamilton's stream is heard with its codec and rate; a
stream without an audio track says so; `none` is picture only; a stopped camera has no sound."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import SHARED
from tests.sound_cameras import sound_app, sound_cameras
from tests.test_activity_microphone import (  # noqa: F401 (fixtures)
    MONITOR_PCM,
    SINK,
    Pulse,
    clip_wav,
    pulse,
)
from tests.waiting import until
from tests.web_util import bearer, ctx_of, make_app
from vigil.activity.classify import RulesClassifier
from vigil.activity.live import LiveActivity
from vigil.activity.settings import ActivitySettings
from vigil.config import load_settings

# A missing microphone whose name carries a URL credential: the error quotes it, redacted.
MISSING = "rtsp://vigil:s3cret@mic.example/room"
SHOWN = "rtsp://***@mic.example/room"


def test_a_stopped_camera_has_no_sound(tmp_path: Path, hamilton: Path) -> None:
    app = make_app(tmp_path)
    camera = ctx_of(app).cameras.create(str(hamilton), "desk", enabled=False, activity=True)
    with TestClient(app) as client:
        [tile] = client.get("/api/activity/live", headers=bearer(app, "viewer")).json()
        assert tile["camera_id"] == camera.id and not tile["running"]
        assert tile["sound"] is None
        schema = client.get("/openapi.json", headers=bearer(app)).json()["components"]["schemas"]
        assert set(schema["LiveSoundOut"]["properties"]) >= {"source", "heard", "problem", "error", "codec"}


@pytest.mark.slow
def test_the_sound_heard_is_in_the_live_state(tmp_path: Path, models_dir: Path, hamilton: Path) -> None:
    cameras = sound_cameras(hamilton, ("mic", "stream", "silent", "picture"))
    app = sound_app(tmp_path, models_dir, cameras, MISSING)
    with TestClient(app) as client:
        viewer = bearer(app, "viewer")

        def sounds() -> dict[str, dict[str, Any]] | None:
            tiles = client.get("/api/activity/live", headers=viewer).json()
            shown = {t["camera"]: t["sound"] for t in tiles if t["sound"] is not None}
            settled = (
                len(shown) == 4
                and shown["mic"]["problem"] is not None
                and shown["stream"]["samples"] > 0
                and shown["silent"]["problem"] is not None
            )
            return shown if settled else None

        shown = until(sounds, 120, "every camera's sound settled")
        print(shown)
        mic = shown["mic"]
        assert mic["source"] == "microphone" and mic["problem"] == "microphone_missing"
        assert mic["heard"] is None and mic["device"] == SHOWN
        assert SHOWN in mic["error"] and "s3cret" not in str(shown)

        stream = shown["stream"]
        assert stream["source"] == "stream" and stream["problem"] is None and stream["error"] is None
        assert stream["heard"] == "stream AAC 44.1 kHz"  # hamilton's track
        assert stream["codec"] == "aac" and stream["sample_rate"] == 44100

        silent = shown["silent"]
        assert silent["source"] == "stream" and silent["problem"] == "no_audio_track"
        assert silent["heard"] is None and "no audio track" in silent["error"]

        picture = shown["picture"]
        assert picture["source"] == "none" and picture["heard"] is None and picture["problem"] is None

        # The cameras go on: the one without its microphone still decides from the picture.
        running = {t["camera"]: t["running"] for t in client.get("/api/activity/live", headers=viewer).json()}
        assert all(running.values()), running


def test_a_microphone_heard_is_named(pulse: Pulse, clip_wav: Path, tmp_path: Path) -> None:  # noqa: F811
    """The PulseAudio null sink's monitor (test_activity_microphone.py) as a camera's microphone,
    hamilton's sound playing into the sink (an idle monitor delivers nothing, and PortAudio's
    start waits for it): its status names the device heard, in the activity's state too."""
    dirs = load_settings(data_dir=tmp_path, shared_dir=SHARED).model_search_dirs()
    live = LiveActivity(
        "desk",
        ActivitySettings(clip_buffer_s=0),
        dirs,
        RulesClassifier(),
        audio="microphone",
        microphone=MONITOR_PCM,
    )
    stop_playing = threading.Event()

    def play_until_stopped() -> None:  # again and again: the capture may open after one play ended
        while not stop_playing.is_set():
            player = subprocess.Popen(["paplay", "-d", SINK, str(clip_wav)], env=pulse.env)
            while player.poll() is None and not stop_playing.wait(0.2):
                pass
            player.kill()
            player.wait(10)

    playing = threading.Thread(target=play_until_stopped, daemon=True)
    playing.start()
    live.start()
    try:
        status = until(lambda: live.audio if live.audio.samples >= 2 else None, 60, "the monitor heard")
        sound = live.state.sound
    finally:
        live.stop()
        live.join(30)
        stop_playing.set()
        playing.join(15)
    assert status.source == "microphone" and status.problem is None and status.error is None
    assert status.device == MONITOR_PCM and status.heard == f"microphone {MONITOR_PCM}"
    assert sound is not None and sound.heard == status.heard
