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
    PIPE_PCM,
    PIPE_RATE,
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


def test_a_clip_of_a_camera_with_a_microphone_has_the_microphones_sound_in_sync(
    pulse: Pulse,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The seed's set-up: picture from a camera, sound from a microphone, saved together. The
    flash-and-beep clip's picture plays as a real-time file camera; its beeps are written on the
    same wall clock into a PulseAudio pipe source (a real-time source, test_activity_microphone.py)
    recorded as the camera's microphone. In the saved clip, the microphone's sound (encoded as
    AAC) is placed by wall clock against the stream's frames: each beep within 40 ms of its flash."""
    import threading

    import numpy as np

    from tests.test_activity_clip import assert_in_sync, make_sync_clip
    from vigil.activity.clip import save_clip
    from vigil.activity.live_audio import MicrophoneFeed
    from vigil.activity.media_tap import CameraMedia
    from vigil.activity.ring import PacketRing
    from vigil.config import CameraConfig, RuntimeConfig
    from vigil.live.counters import StageCounters
    from vigil.live.decode import DecodeWorker
    from vigil.live.health import SourceHealth
    from vigil.live.queues import DropOldestQueue
    from vigil.types import Frame

    dirs = load_settings(data_dir=tmp_path, shared_dir=SHARED).model_search_dirs()
    clip = make_sync_clip(tmp_path / "sync.mp4", 12.0)
    microphone = MicrophoneFeed("desk", lambda samples, origin: None, dirs, PIPE_PCM)
    microphone.start()
    ring = PacketRing(10.0)
    origin = threading.Event()
    video_t0: list[float] = []

    class Timed(CameraMedia):  # the wall time of the picture's t = 0, for the "microphone"
        def frame_time(self, source_pts: float, wall: float) -> None:
            super().frame_time(source_pts, wall)
            if not video_t0:
                video_t0.append(wall - source_pts)
                origin.set()

    stop = threading.Event()

    def speak() -> None:  # the beeps, written on the picture's clock, 10 ms at a time
        origin.wait(10)
        block, sent = PIPE_RATE // 100, 0
        with open(pulse.fifo, "wb", buffering=0) as fifo:
            while not stop.is_set():
                t = (sent + np.arange(block)) / PIPE_RATE
                beep = (np.mod(t + 1e-5, 2.0) >= 1.0) & (np.mod(t + 1e-5, 2.0) < 1.06)
                piece = (0.8 * np.sin(2 * np.pi * 1000 * t) * beep).astype(np.float32)
                while time.time() < video_t0[0] + sent / PIPE_RATE:
                    time.sleep(0.001)
                fifo.write(piece.tobytes())
                sent += block

    camera = CameraConfig(url=str(clip), name="desk")
    frames: DropOldestQueue[Frame | None] = DropOldestQueue(2)
    worker = DecodeWorker(
        camera, "desk", 5.0, True, RuntimeConfig(), 1.0, frames, StageCounters(),
        SourceHealth("desk", camera.url, "file"), stop, tap=Timed(ring, None),
    )  # fmt: skip
    threads = [threading.Thread(target=f, daemon=True) for f in (worker.run, speak)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(8.5)
        saved = save_clip(ring, 6.0, tmp_path / "clips", "desk", microphone.between)
    finally:
        microphone.stop()
        microphone.join(10)
        stop.set()
        for thread in threads:
            thread.join(10)
    assert saved.audio_codec == "aac" and saved.video_codec == "h264"
    assert_in_sync(saved.path, 6.0)
