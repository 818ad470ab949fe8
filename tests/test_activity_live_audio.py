"""A live camera's own audio track as the sound of its activity: decoded on the decode thread
from the packets its source demuxes, resampled to 16 kHz mono, timed on the video's wall clock,
analysed (VAD, loudness, YAMNet) on a thread of its own and fed to LiveActivity.

Speech and piano (hamilton) give voice and loud windows; digital silence gives silence; through a
real RTSP server with the whole camera pipeline the windows reach the camera's activity."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.conftest import SHARED
from vigil.activity.audio import SILENCE_DB
from vigil.activity.cues import AudioSample
from vigil.activity.live_audio import StreamAudio
from vigil.activity.media_tap import CameraMedia
from vigil.config import CameraConfig, load_settings
from vigil.live.events import MemorySink
from vigil.live.supervisor import Supervisor
from vigil.sources.av_source import AvSource
from vigil.sources.rtsp_simulator import RtspSimulator, SimulatorUnavailable, check_server_available

HAMILTON = SHARED / "media" / "video" / "hamilton_640x360.mp4"
WALL0 = 1_700_000_000.0


def _models() -> list[Path]:
    dirs = load_settings(shared_dir=SHARED).model_search_dirs()
    if not any((d / "yamnet.tflite").is_file() for d in dirs):
        pytest.skip("yamnet.tflite is not in the models directories")
    return dirs


def _silent_clip(path: Path) -> Path:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    subprocess.run(
        [
            "ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=6",
            "-f", "lavfi", "-i", "anullsrc=r=44100:cl=mono:d=6", "-c:v", "libx264",
            "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path),
        ],
        check=True,
        timeout=60,
    )  # fmt: skip
    return path


def _stream_audio_of(path: Path) -> list[AudioSample]:
    """What a camera's decode thread and audio thread make of a file's sound, `t` in wall time."""
    heard: list[AudioSample] = []

    def feed(samples: Sequence[AudioSample], origin_wall: float) -> None:
        heard.extend(
            AudioSample(s.t + origin_wall, s.duration, s.voice, s.loudness_db, s.events) for s in samples
        )

    audio = StreamAudio("desk", feed, _models())
    audio.start()
    source = AvSource(str(path), "file", tap=CameraMedia(None, audio))
    source.open()
    try:
        for raw in source.frames():
            audio.frame_time(raw.pts, WALL0 + raw.pts)  # the pipeline's wall time of each frame
    finally:
        source.close()
        audio.stop()
        audio.join(60)
    status = audio.status()
    assert status.error is None and status.samples == len(heard) and status.dropped == 0
    return heard


def test_speech_and_music_in_the_stream_are_heard() -> None:
    if not HAMILTON.is_file():
        pytest.skip(f"{HAMILTON} is missing")
    heard = _stream_audio_of(HAMILTON)
    assert len(heard) >= 15  # 9.2 s in windows every 0.49 s
    assert all(WALL0 - 0.1 <= s.t <= WALL0 + 9.3 for s in heard), [s.t - WALL0 for s in heard]
    assert max(s.voice for s in heard) > 0.5
    assert max(s.loudness_db for s in heard) > -35
    assert max(s.events.speech for s in heard) > 0.3 and max(s.events.music for s in heard) > 0.5


def test_a_silent_stream_is_heard_as_silence(tmp_path: Path) -> None:
    heard = _stream_audio_of(_silent_clip(tmp_path / "silent.mp4"))
    assert len(heard) >= 8
    assert all(s.loudness_db <= SILENCE_DB + 1 for s in heard), [s.loudness_db for s in heard]
    assert all(s.voice < 0.1 and s.events.speech < 0.1 for s in heard)


def test_a_stream_without_audio_says_so(tmp_path: Path) -> None:
    clip = tmp_path / "mute.mp4"
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=160x120:r=10:d=1", str(clip)],
        check=True,
        timeout=60,
    )
    heard: list[AudioSample] = []
    audio = StreamAudio("desk", lambda samples, _origin: heard.extend(samples), _models())
    source = AvSource(str(clip), "file", tap=CameraMedia(None, audio))
    source.open()
    try:
        frames = sum(1 for _ in source.frames())
    finally:
        source.close()
    assert frames == 10 and not heard
    assert audio.status().error == "the camera's stream has no audio track"


def test_a_reconnect_without_audio_forgets_the_previous_track(tmp_path: Path) -> None:
    """A camera whose stream comes back without its audio track: the status must not keep the
    codec and rate of the track it had before."""
    if not HAMILTON.is_file():
        pytest.skip(f"{HAMILTON} is missing")
    clip = tmp_path / "mute.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=160x120:r=10:d=1", str(clip)],
        check=True,
        timeout=60,
    )
    audio = StreamAudio("desk", lambda _samples, _origin: None, _models())
    for path in (HAMILTON, clip):  # the same camera's audio, two connections
        source = AvSource(str(path), "file", tap=CameraMedia(None, audio))
        source.open()
        try:
            next(iter(source.frames()))
        finally:
            source.close()
        if path == HAMILTON:
            assert (audio.status().codec, audio.status().sample_rate) == ("aac", 44100)
    status = audio.status()
    assert status.problem == "no_audio_track" and (status.codec, status.sample_rate) == (None, None)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_an_rtsp_camera_hears_its_own_audio_track(tmp_path: Path) -> None:
    """The whole pipeline (`vigil watch`'s Supervisor) on hamilton served over RTSP with its AAC
    track: the camera's activity gets sound windows on its frames' wall clock."""
    if not HAMILTON.is_file():
        pytest.skip(f"{HAMILTON} is missing")
    try:
        check_server_available()
    except SimulatorUnavailable as exc:
        pytest.skip(str(exc))
    _models()
    server = RtspSimulator(HAMILTON, _free_port(), "/cam", loop=False, audio=True)
    server.start()
    settings = load_settings(data_dir=tmp_path, shared_dir=SHARED, retry_backoff=30.0)
    camera = CameraConfig(url=server.url, name="stage", activity=True)
    supervisor = Supervisor(settings, [camera], [MemorySink()])
    pipeline = supervisor.pipelines[0]
    activity = pipeline.activity
    assert activity is not None and activity.tap is not None
    started = time.time()
    supervisor.start()
    try:
        deadline = time.monotonic() + 40
        while activity.audio.samples < 12 and time.monotonic() < deadline:
            time.sleep(0.2)
        heard = activity.audio_samples()
        status = activity.audio
    finally:
        supervisor.wait(duration_s=0)  # stops and joins every thread
        server.stop()
    assert status.source == "stream" and status.error is None, status
    assert status.samples >= 12, status
    assert all(started - 1.0 <= s.t <= time.time() + 1.0 for s in heard)  # the frames' wall clock
    assert max(s.voice for s in heard) > 0.5 and max(s.loudness_db for s in heard) > -35


@pytest.mark.slow
def test_the_streams_sound_is_on_the_frames_wall_clock(tmp_path: Path) -> None:
    """Over a real RTSP connection, a beep's wall-clock time as the sound analysis gets it is its
    flash's `Frame.wall_ts` (the time the analysis sees the picture) within 40 ms."""
    import threading

    import numpy as np

    from tests.test_activity_clip import make_sync_clip
    from vigil.config import RuntimeConfig
    from vigil.live.counters import StageCounters
    from vigil.live.decode import DecodeWorker
    from vigil.live.health import SourceHealth
    from vigil.live.queues import DropOldestQueue
    from vigil.types import Frame

    try:
        check_server_available()
    except SimulatorUnavailable as exc:
        pytest.skip(str(exc))
    server = RtspSimulator(
        make_sync_clip(tmp_path / "sync.mp4", 8.0), _free_port(), "/cam", loop=False, audio=True
    )
    server.start()
    chunks: list[tuple[float, np.ndarray]] = []

    class Recorded(StreamAudio):  # what goes to the analysis thread, with its wall time
        def _send(self, pts: float, pcm: np.ndarray) -> None:
            super()._send(pts, pcm)
            assert self._offset is not None
            chunks.append((pts + self._offset, pcm))

    audio = Recorded("sync", lambda samples, origin: None, [])
    frames: DropOldestQueue[Frame | None] = DropOldestQueue(500)
    stop = threading.Event()
    camera = CameraConfig(url=server.url, name="sync")
    worker = DecodeWorker(
        camera, "sync", 25.0, True, RuntimeConfig(), 30.0, frames, StageCounters(),
        SourceHealth("sync", camera.url, "rtsp"), stop, tap=CameraMedia(None, audio),
    )  # fmt: skip
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    flashes: list[float] = []
    try:
        deadline = time.monotonic() + 30
        while len(flashes) < 3 and time.monotonic() < deadline:
            try:
                frame = frames.get(timeout=0.5)
            except TimeoutError:
                continue
            if frame is None:
                break
            if float(frame.image.mean()) > 200:
                flashes.append(frame.wall_ts)
    finally:
        stop.set()
        thread.join(10)
        server.stop()
    beeps: list[float] = []
    for wall, pcm in chunks:
        for i in np.flatnonzero(np.abs(pcm) > 0.3):
            t = wall + i / 16000
            if not beeps or t - beeps[-1] > 0.5:
                beeps.append(t)
            break  # the chunk's first loud sample is enough
    assert len(flashes) >= 3, flashes
    offsets = [float(min(abs(f - b) for b in beeps)) for f in flashes]
    print(f"flash to beep on the wall clock: {[round(o * 1000, 1) for o in offsets]} ms")
    assert max(offsets) <= 0.040, (flashes, beeps)
