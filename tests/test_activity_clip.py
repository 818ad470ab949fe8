"""`/api/save-clip`: the last N seconds of a camera's H.264 + AAC packets, remuxed to MP4 from the
decode thread's ring buffer, with sound and picture in sync.

The source is made with FFmpeg's lavfi: a white frame and a 1 kHz beep start at the same instant
every 2 s. The saved clip must show each flash within 40 ms of its beep, last the seconds asked
for, and hold both streams; from a file and from a real RTSP server (gst-rtsp-server, AAC as
RTP MPEG-4 generic). The web API: test_activity_clip_api.py."""

from __future__ import annotations

import itertools
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import av
import cv2
import numpy as np
import pytest

from vigil.activity.clip import ClipUnavailable, MicrophoneSound, SavedClip, clip_folder, save_clip
from vigil.activity.media_tap import CameraMedia
from vigil.activity.ring import PacketRing
from vigil.config import CameraConfig, RuntimeConfig
from vigil.live.counters import StageCounters
from vigil.live.decode import DecodeWorker
from vigil.live.health import SourceHealth
from vigil.live.queues import DropOldestQueue
from vigil.sources.av_source import AvSource
from vigil.sources.rtsp_simulator import RtspSimulator, SimulatorUnavailable, check_server_available
from vigil.types import Frame

MARK_EVERY_S = 2.0  # a flash and a beep at 1 s, 3 s, 5 s, ...
SYNC_TOLERANCE_S = 0.040
MARK_EDGE_S = 0.065  # a beep (60 ms) plus margin: how far into a mark a clip's start or end may cut


def make_sync_clip(path: Path, seconds: float = 14.0) -> Path:
    """H.264 (B-frames, a keyframe every 2 s, not on the marks) + stereo AAC 48 kHz."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    flash = "drawbox=c=white:t=fill:enable='between(mod(t+0.001,2),1,1.039)'"  # one frame at 25 fps
    beep = "0.8*sin(2*PI*1000*t)*between(mod(t+0.00001,2),1,1.06)"
    subprocess.run(
        [
            "ffmpeg", "-v", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc2=s=320x240:r=25:d={seconds},{flash}",
            "-f", "lavfi", "-i", f"aevalsrc=exprs='{beep}':s=48000:d={seconds}",
            "-c:v", "libx264", "-preset", "veryfast", "-bf", "2", "-g", "50", "-keyint_min", "50",
            "-force_key_frames", "expr:eq(mod(n,50),12)", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "96k", "-ac", "2", "-shortest", str(path),
        ],
        check=True,
        timeout=120,
    )  # fmt: skip
    return path


@pytest.fixture(scope="module")
def sync_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_sync_clip(tmp_path_factory.mktemp("sync") / "sync.mp4")


def flash_times(path: Path) -> list[float]:
    """Times of the white frames (mean luma far above the test pattern's)."""
    times = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if frame.time is not None and float(np.mean(frame.to_ndarray(format="gray"))) > 200:
                times.append(float(frame.time))
    return times


def beep_times(path: Path) -> list[float]:
    """Onsets of the beeps: the first loud sample after at least 0.5 s of quiet."""
    onsets: list[float] = []
    last_loud = float("-inf")
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            if frame.time is None:
                continue
            mono = frame.to_ndarray().astype(np.float32).reshape(len(frame.layout.channels), -1).mean(axis=0)
            for i in np.flatnonzero(np.abs(mono) > 0.3):
                t = float(frame.time) + i / frame.sample_rate
                if t - last_loud > 0.5:
                    onsets.append(t)
                last_loud = t
    return onsets


def assert_in_sync(path: Path, seconds: float) -> tuple[list[float], list[float]]:
    with av.open(str(path)) as container:
        assert container.streams.video and container.streams.audio, "both streams are in the clip"
        assert container.streams.video[0].codec_context.name == "h264"
        assert container.streams.audio[0].codec_context.name == "aac"
        assert container.duration is not None
        duration = container.duration / av.time_base
    assert abs(duration - seconds) <= 0.1, f"clip lasts {duration:.3f} s, asked {seconds} s"
    flashes, beeps = flash_times(path), beep_times(path)
    assert len(flashes) >= int(seconds / MARK_EVERY_S), (flashes, beeps)
    # A clip may start inside a beep (60 ms) whose flash came just before: its tail is not a mark.
    beeps = [b for b in beeps if b > MARK_EDGE_S or any(f < MARK_EDGE_S for f in flashes)]
    # It may also end inside one (it ends at its newest frame): that flash's beep can be cut off.
    heard = [f for f in flashes if any(abs(f - b) <= SYNC_TOLERANCE_S for b in beeps)]
    flashes = [f for f in flashes if f < duration - MARK_EDGE_S or f in heard]
    assert len(beeps) == len(flashes), (flashes, beeps)
    for flash, beep in zip(flashes, beeps, strict=True):
        assert abs(flash - beep) <= SYNC_TOLERANCE_S, f"flash at {flash:.3f} s, beep at {beep:.3f} s"
    offset = max(abs(f - b) for f, b in zip(flashes, beeps, strict=True))
    print(f"{path.name}: {duration:.3f} s, {len(flashes)} marks, offsets at most {offset * 1000:.2f} ms")
    return flashes, beeps


def test_the_sync_clip_itself_is_in_sync(sync_clip: Path) -> None:
    flashes, beeps = flash_times(sync_clip), beep_times(sync_clip)
    assert len(flashes) == 7 and all(abs(f - b) <= 0.005 for f, b in zip(flashes, beeps, strict=True))


def _fill_from_file(ring: PacketRing, path: Path, wall0: float, until_s: float | None = None) -> None:
    """What the decode thread does: the source's packets go to the tap, each frame's time too."""
    source = AvSource(str(path), "file", tap=CameraMedia(ring, None))
    source.open()
    try:
        for raw in source.frames():
            ring.frame_time(raw.pts, wall0 + raw.pts)
            if until_s is not None and raw.pts >= until_s:
                break
    finally:
        source.close()


def test_a_file_source_saves_its_last_seconds_in_sync(sync_clip: Path, tmp_path: Path) -> None:
    ring = PacketRing(seconds=8.0)
    _fill_from_file(ring, sync_clip, wall0=1_700_000_000.0)
    assert 8.0 <= ring.span_s <= 8.0 + 2.0 + 0.1  # from the keyframe before the horizon
    saved = save_clip(ring, 5.0, clip_folder(tmp_path, 1), "desk/1")
    assert saved.path.parent == tmp_path / "clips" / "id=1" and saved.path.suffix == ".mp4"
    assert saved.path.name.startswith("desk_1_")  # the camera's name, made safe
    assert saved.path.stat().st_mode & 0o777 == 0o600
    again = save_clip(ring, 5.0, clip_folder(tmp_path, 1), "desk/1")  # the same second
    assert again.path.name == saved.path.stem + "-2.mp4" and saved.path.is_file()
    assert not list(saved.path.parent.glob(".*")), "no temporary file left"
    assert (saved.video_codec, saved.audio_codec) == ("h264", "aac") and saved.audio_packets > 200
    assert saved.start is not None and abs(saved.start - (1_700_000_000.0 + 14.0 - 5.0)) < 0.1
    flashes, _ = assert_in_sync(saved.path, 5.0)
    # The clip is the end of the source: its marks are the source's last ones (9, 11, 13 s).
    assert [round(f + 9.0, 1) for f in flashes] == [9.0, 11.0, 13.0]


def test_sound_whose_dts_trails_its_pts_stays_in_place(tmp_path: Path) -> None:
    """The shared asleep clip's AAC has each dts 35098 ticks (0.73 s) behind its pts; MP4 keeps
    no such offset for sound, so the clip places sound by pts: it starts with the picture (within
    a packet), not 0.73 s early."""
    from tests.conftest import shared_file

    ring = PacketRing(seconds=10.0)
    _fill_from_file(ring, shared_file("media/activity/asleep/akshint_test_video_sleep.mp4"), wall0=0.0)
    packets = ring.take()
    assert packets is not None and packets.audio_packets[0].dts == packets.audio_packets[0].pts - 35098
    saved = save_clip(ring, 3.0, tmp_path, "bedroom")
    with av.open(str(saved.path)) as container:
        audio = container.streams.audio[0]
        assert audio.time_base is not None
        times = [float(p.pts * audio.time_base) for p in container.demux(audio) if p.pts is not None]
    assert -0.03 < times[0] <= 0.0 and abs(times[-1] - 2.93) < 0.05, (times[0], times[-1])


def test_a_clip_asks_no_more_than_was_kept(sync_clip: Path, tmp_path: Path) -> None:
    ring = PacketRing(seconds=30.0)
    with pytest.raises(ClipUnavailable):
        save_clip(ring, 5.0, tmp_path, "desk")  # nothing yet
    _fill_from_file(ring, sync_clip, wall0=0.0, until_s=4.0)
    saved: SavedClip = save_clip(ring, 10.0, tmp_path, "desk")
    assert 3.9 <= saved.duration_s <= 4.2  # what there was, from the first keyframe
    with av.open(str(saved.path)) as container:
        assert container.streams.audio and container.duration is not None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def rtsp_with_audio(sync_clip: Path) -> Iterator[RtspSimulator]:
    try:
        check_server_available()
    except SimulatorUnavailable as exc:
        pytest.skip(str(exc))
    server = RtspSimulator(sync_clip, _free_port(), "/cam", loop=False, audio=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.slow
def test_an_rtsp_camera_saves_a_clip_in_sync(rtsp_with_audio: RtspSimulator, tmp_path: Path) -> None:
    """The decode thread of a live camera feeds the ring from a real RTSP connection (H.264 and
    AAC as RTP); the clip is saved while the stream plays."""
    ring = PacketRing(seconds=10.0)
    stop = threading.Event()
    frames: DropOldestQueue[Frame | None] = DropOldestQueue(2)
    camera = CameraConfig(url=rtsp_with_audio.url, name="rtsp")
    worker = DecodeWorker(
        camera, "rtsp", 5.0, True, RuntimeConfig(), 0.5, frames, StageCounters(),
        SourceHealth("rtsp", camera.url, "rtsp"), stop, tap=CameraMedia(ring, None),
    )  # fmt: skip
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while ring.span_s < 8.5 and time.monotonic() < deadline:  # frames: dropped when full
            time.sleep(0.1)
        assert ring.span_s >= 8.5, f"only {ring.span_s:.1f} s buffered"
        packets = ring.take()
        assert packets is not None and packets.audio is not None and packets.wall_offset is not None
        saved = save_clip(ring, 6.0, tmp_path, "rtsp")
    finally:
        stop.set()
        thread.join(10)
    assert abs((saved.start or 0.0) - (time.time() - 6.0)) < 3.0  # wall clock of the clip's start
    assert_in_sync(saved.path, 6.0)


def test_the_rtsp_server_serves_only_aac_audio_without_loop(sync_clip: Path, tmp_path: Path) -> None:
    from vigil.sources.rtsp_simulator import UnsupportedClip, check_audio

    check_audio(sync_clip, loop=False)
    with pytest.raises(UnsupportedClip, match="loops video only"):
        check_audio(sync_clip, loop=True)
    mute = tmp_path / "mute.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=160x120:r=10:d=1", str(mute)],
        check=True,
        timeout=60,
    )
    with pytest.raises(UnsupportedClip, match="no audio track"):
        check_audio(mute, loop=False)


def test_g711_sound_is_encoded_as_aac_in_sync(sync_clip: Path, tmp_path: Path) -> None:
    """IP cameras often send G.711, which MP4 cannot carry: the clip decodes and encodes it."""
    ulaw = tmp_path / "ulaw.mov"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(sync_clip), "-c:v", "copy", "-c:a", "pcm_mulaw", "-ar", "8000",
         "-ac", "1", str(ulaw)],
        check=True,
        timeout=60,
    )  # fmt: skip
    ring = PacketRing(seconds=8.0)
    _fill_from_file(ring, ulaw, wall0=0.0)
    packets = ring.take()
    assert packets is not None and packets.audio is not None and packets.audio.codec == "pcm_mulaw"
    saved = save_clip(ring, 5.0, tmp_path, "door")
    assert (saved.video_codec, saved.audio_codec) == ("h264", "aac")
    assert_in_sync(saved.path, 5.0)


def test_a_failing_ring_turns_clips_off_but_never_stops_the_camera(sync_clip: Path, tmp_path: Path) -> None:
    class Broken(PacketRing):
        def add(self, packet: av.Packet[Any], video: bool) -> None:
            raise OSError("no memory left")

    ring = Broken(seconds=8.0)
    tap = CameraMedia(ring, None, "desk")
    source = AvSource(str(sync_clip), "file", tap=tap)
    source.open()
    try:
        frames = sum(1 for _ in source.frames())
    finally:
        source.close()
    assert frames == 14 * 25  # the picture went on
    assert tap.ring is None and tap.errors == ["clip ring off: no memory left"]
    with pytest.raises(ClipUnavailable, match="clips are off"):
        save_clip(ring, 5.0, tmp_path, "desk")


def _beeps(wall0: float) -> MicrophoneSound:
    """A microphone that heard the sync clip's beeps, its t = 0 at the wall-clock time `wall0`."""

    def between(start: float, end: float) -> np.ndarray:
        t = (start - wall0) + np.arange(round((end - start) * 16000)) / 16000
        phase = np.mod(t + 1e-5, MARK_EVERY_S)
        return (0.8 * np.sin(2 * np.pi * 1000 * t) * ((phase >= 1.0) & (phase < 1.06))).astype(np.float32)

    return between


def _frame_count(path: Path) -> int:
    """The frames a player shows (not those before the clip's start, behind its edit list)."""
    with av.open(str(path)) as container:
        return sum(1 for frame in container.decode(video=0) if (frame.time or 0.0) >= 0.0)


def test_a_camera_without_packets_saves_its_frames_encoded(sync_clip: Path, tmp_path: Path) -> None:
    """A USB camera gives frames, no packets: its frames are encoded (H.264) into the ring, with
    a keyframe every 2 s of their times; with a microphone's sound (here the clip's beeps,
    generated on the same wall clock) the clip is in sync like a stream's."""
    from vigil.activity.frame_clips import FrameEncoder

    wall0 = 1_700_000_000.0
    ring = PacketRing(seconds=8.0)
    encoder = FrameEncoder(ring, "usb0")
    encoder.start()
    try:
        with av.open(str(sync_clip)) as container:
            for index, decoded in enumerate(container.decode(video=0)):
                encoder.offer(decoded.to_ndarray(format="bgr24"), wall0 + float(decoded.time or 0.0))
                deadline = time.monotonic() + 5
                while encoder.encoded <= index and time.monotonic() < deadline:  # every frame here
                    time.sleep(0.002)
    finally:
        encoder.stop()
        encoder.join(10)
    assert encoder.error is None and encoder.encoded == 14 * 25
    packets = ring.take()
    assert packets is not None
    keyframes = [p.time for p in packets.video_packets if p.keyframe]
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(keyframes)]
    assert len(gaps) >= 2 and set(gaps) == {2.0}

    saved = save_clip(ring, 5.0, tmp_path, "usb0", _beeps(wall0))
    assert (saved.video_codec, saved.audio_codec) == ("h264", "aac")
    assert saved.start is not None and abs(saved.start - (wall0 + 14.0 - 5.0)) < 0.1
    assert_in_sync(saved.path, 5.0)
    assert _frame_count(saved.path) == 5 * 25


class _PacedCapture:
    """A file read through OpenCV at its own rate, as a USB camera's `read` blocks until its next
    frame: what `UsbSource` reads here, where no V4L2 device exists. (Not a subclass of
    cv2.VideoCapture: the garbage collector crashed on one, later, in another thread.)"""

    def __init__(self, path: Path, fps: float) -> None:
        self.capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        self.fps, self.read_frames = fps, 0
        self.started: float | None = None  # wall clock of the first frame

    def read(self) -> tuple[bool, Any]:
        if self.started is None:
            self.started = time.time()
        while time.time() < self.started + self.read_frames / self.fps:
            time.sleep(0.001)
        self.read_frames += 1
        return self.capture.read()

    def get(self, prop: int) -> float:
        return float(self.capture.get(prop))

    def release(self) -> None:
        self.capture.release()


def test_a_usb_camera_s_clip_has_the_camera_s_frame_rate(
    sync_clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the decode thread of a live camera with activity on (`LiveActivity(encode_frames=
    True)`'s tap, as vigil/live/factory.py builds it for a USB URL): the real `UsbSource` reads
    a 25 fps camera (the flash-and-beep clip through OpenCV, in real time), the analysis samples
    it at 5 fps, and the clip has all 25 frames a second with `clip_max_fps: 0` (it had the 5
    analysed ones, so a flash, one frame long, was mostly missing), in sync with the
    microphone's beeps."""
    from vigil.activity.classify import RulesClassifier
    from vigil.activity.clip import render_live_clip
    from vigil.activity.live import LiveActivity
    from vigil.activity.settings import ActivitySettings
    from vigil.sources.usb import UsbSource

    capture = _PacedCapture(sync_clip, 25.0)
    assert capture.capture.isOpened()

    class FileCamera(UsbSource):
        def open(self) -> None:
            self._capture = cast(cv2.VideoCapture, capture)

    monkeypatch.setattr("vigil.live.decode.open_source", lambda url, *args, **kwargs: FileCamera(url))
    uncapped = ActivitySettings(clip_buffer_s=8.0, clip_max_fps=0)
    live = LiveActivity("usb0", uncapped, [], RulesClassifier(), encode_frames=True)
    assert live.tap is not None and live.tap.wants_frames
    camera = CameraConfig(url="usb:0", name="usb0")
    frames: DropOldestQueue[Frame | None] = DropOldestQueue(200)
    counters, stop = StageCounters(), threading.Event()
    worker = DecodeWorker(
        camera, "usb0", 5.0, True, RuntimeConfig(), 0.5, frames, counters,
        SourceHealth("usb0", camera.url, "usb"), stop, tap=live.tap,
    )  # fmt: skip
    thread = threading.Thread(target=worker.run, daemon=True)
    live.start()
    thread.start()
    try:
        time.sleep(8.0)
        assert capture.started is not None and live.clips is not None
        clip = render_live_clip(live, "usb0", 5.0)
        # The same frames with a microphone's sound (the beeps, on the camera's wall clock).
        with_sound = save_clip(live.clips, 5.0, tmp_path, "usb0", _beeps(capture.started))
    finally:
        stop.set()
        thread.join(10)
        live.stop()
        live.join(10)
    assert counters.frames_decoded >= 7 * 25 and counters.frames_sampled <= counters.frames_decoded / 4
    path = tmp_path / "usb0.mp4"
    path.write_bytes(clip.data)
    assert clip.video_codec == "h264" and clip.audio_codec is None  # no microphone here
    assert _frame_count(path) >= 0.95 * 5 * 25  # the camera's rate (a frame may be dropped under load)
    assert with_sound.audio_codec == "aac"
    assert_in_sync(with_sound.path, 5.0)


def test_the_clip_frame_rate_cap_keeps_the_average_rate_asked() -> None:
    """25 fps offered, capped at 10: 10 a second (every 2nd or 3rd frame), not every other one;
    at 15 from 30 fps every other frame; no cap keeps all; a stall restarts the schedule."""
    from vigil.activity.frame_clips import FrameRateCap

    def kept(max_fps: float, fps: float, seconds: float, start: float = 1000.0) -> list[float]:
        cap = FrameRateCap(max_fps)
        times = [start + i / fps for i in range(round(seconds * fps))]
        return [t for t in times if cap.take(t)]

    assert len(kept(10, 25, 4)) == 40
    assert len(kept(15, 30, 4)) == 60 and len(kept(0, 30, 4)) == 120
    assert len(kept(30, 25, 4)) == 100  # a cap above the camera's rate keeps every frame
    cap = FrameRateCap(10)
    assert cap.take(0.0) and not cap.take(0.05) and cap.take(5.0)  # after a 5 s gap
    assert not cap.take(5.05) and cap.take(5.1)  # no burst to catch up


def test_a_capped_encoder_encodes_only_the_frames_it_keeps(tmp_path: Path) -> None:
    from vigil.activity.frame_clips import FrameEncoder

    ring = PacketRing(seconds=8.0)
    encoder = FrameEncoder(ring, "usb0", max_fps=5)
    encoder.start()
    picture = np.zeros((48, 64, 3), np.uint8)
    try:
        for index in range(50):  # 2 s at 25 fps, offered slowly enough that none is replaced
            picture[:] = index
            encoder.offer(picture.copy(), 1000.0 + index / 25)
            time.sleep(0.01)
    finally:
        encoder.stop()
        encoder.join(10)
    assert encoder.error is None and encoder.encoded == 10
