"""A microphone as the sound of a live camera's activity (`activity_audio: microphone`), with the
real PulseAudio null sink of test_activity_microphone.py: hamilton's audio played into the sink is
heard by the camera's activity (voice, loudness, speech and music windows stamped on the wall
clock while it played), and nothing playing is heard as quiet."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from tests.conftest import SHARED
from tests.test_activity_microphone import (  # noqa: F401 (fixtures)
    MONITOR_PCM,
    SINK,
    Pulse,
    clip_wav,
    pulse,
)
from vigil.activity.classify import RulesClassifier
from vigil.activity.live import LiveActivity
from vigil.activity.settings import ActivitySettings
from vigil.config import load_settings


def test_the_microphone_is_heard_by_the_camera_activity(pulse: Pulse, clip_wav: Path, tmp_path: Path) -> None:  # noqa: F811
    dirs = load_settings(data_dir=tmp_path, shared_dir=SHARED).model_search_dirs()
    options = ActivitySettings(clip_buffer_s=0)
    live = LiveActivity("desk", options, dirs, RulesClassifier(), audio="microphone", microphone=MONITOR_PCM)
    assert live.tap is None  # no packets needed: no clip ring, no stream audio
    live.start()
    try:
        deadline = time.monotonic() + 20
        while live.audio.samples < 3 and time.monotonic() < deadline:  # the monitor of an idle sink
            time.sleep(0.1)
        quiet = live.audio_samples()
        played_at = time.time()
        subprocess.run(["paplay", "-d", SINK, str(clip_wav)], env=pulse.env, check=True, timeout=60)
        ended_at = time.time()
        time.sleep(1.5)  # the last windows
        status = live.audio
        heard = [s for s in live.audio_samples() if s.t >= played_at - 0.5]
    finally:
        live.stop()
        live.join(30)
    assert status.source == "microphone" and status.error is None and status.active, status
    assert quiet and all(s.loudness_db < -60 and s.voice < 0.2 for s in quiet), quiet
    assert len(heard) >= 15 and all(s.t <= ended_at + 1.0 for s in heard)
    assert max(s.voice for s in heard) > 0.5 and max(s.loudness_db for s in heard) > -35
    assert max(s.events.speech for s in heard) > 0.3 and max(s.events.music for s in heard) > 0.5
