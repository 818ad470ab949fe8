"""RTMP cameras (OBS's stream output): Vigil as a client of an RTMP server, and as the RTMP server
an encoder publishes to (`?listen=1`); the stream key never shows."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SHARED
from vigil.config import CameraPolicyConfig, RuntimeConfig
from vigil.errors import SourceError
from vigil.redact import redact
from vigil.sources import camera_name, open_source, source_kind
from vigil.sources.av_source import AvSource, rtmp_address, rtmp_listens
from vigil.web.camera_policy import CameraPolicy, CameraUrlRefused

CLIP = SHARED / "media" / "video" / "hamilton_640x360.mp4"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ffmpeg(*args: str) -> subprocess.Popen[bytes]:
    cmd = ["ffmpeg", "-v", "error", "-re", "-i", str(CLIP), "-c", "copy", "-f", "flv", *args]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _first_frames(source: AvSource, count: int) -> list[tuple[float, tuple[int, ...]]]:
    frames = []
    for raw in source.frames():
        frames.append((raw.pts, raw.to_bgr().shape))
        if len(frames) == count:
            break
    return frames


@pytest.fixture
def stopper() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.kill()
        process.wait(timeout=10)


def test_a_camera_reads_an_rtmp_server(stopper: list[subprocess.Popen[bytes]]) -> None:
    url = f"rtmp://127.0.0.1:{_port()}/live/secret-key"
    stopper.append(_ffmpeg("-listen", "1", url))  # ffmpeg is the RTMP server here
    source = open_source(url, RuntimeConfig(open_timeout_s=10, read_timeout_s=10))
    assert isinstance(source, AvSource) and source.kind == "rtmp" and source.is_live
    for _ in range(50):  # the server needs a moment to listen
        try:
            source.open()
            break
        except SourceError:
            time.sleep(0.1)
    try:
        frames = _first_frames(source, 10)
    finally:
        source.close()
    assert [shape for _, shape in frames] == [(360, 640, 3)] * 10
    assert frames[-1][0] > frames[0][0]


def test_an_encoder_publishes_to_a_listening_camera(stopper: list[subprocess.Popen[bytes]]) -> None:
    url = f"rtmp://127.0.0.1:{_port()}/live/obs-key?listen=1"
    source = AvSource(url, "rtmp", open_timeout_s=20, read_timeout_s=10)
    opened: list[BaseException | None] = []
    opener = threading.Thread(target=lambda: opened.append(_open(source)))
    opener.start()
    time.sleep(1.0)  # OBS starts streaming after Vigil listens (it retries otherwise)
    stopper.append(_ffmpeg(rtmp_address(url)))
    opener.join(timeout=30)
    assert opened == [None]
    try:
        frames = _first_frames(source, 10)
    finally:
        source.close()
    assert [shape for _, shape in frames] == [(360, 640, 3)] * 10


def _open(source: AvSource) -> BaseException | None:
    try:
        source.open()
    except BaseException as exc:
        return exc
    return None


def test_the_stream_key_never_shows() -> None:
    url = "rtmp://encoder.example:1935/live/abcd-1234-secret?listen=1"
    assert source_kind(url) == "rtmp" and rtmp_listens(url) and not rtmp_listens("rtmp://h/live/k")
    assert rtmp_address(url) == "rtmp://encoder.example:1935/live/abcd-1234-secret"
    assert "secret" not in redact(f"camera {url} failed") and "secret" not in camera_name(url)
    assert redact("rtmp://u:p@host/app/key") == "rtmp://***@host/app/***"
    assert redact("rtsp://host/live/stream") == "rtsp://host/live/stream"  # only RTMP paths hold a key


def test_an_unreachable_rtmp_server_is_unavailable_without_its_key() -> None:
    source = AvSource(
        f"rtmp://127.0.0.1:{_port()}/live/hidden-key", "rtmp", open_timeout_s=3, read_timeout_s=3
    )
    with pytest.raises(SourceError) as caught:
        source.open()
    assert "hidden-key" not in redact(str(caught.value)) and "127.0.0.1" in str(caught.value)


def test_runtime_cameras_may_pull_rtmp_but_not_listen(tmp_path: Path) -> None:
    policy = CameraPolicy(CameraPolicyConfig(), tmp_path)
    policy.check("rtmp://192.0.2.10/live/key")  # a server elsewhere: allowed like RTSP
    with pytest.raises(CameraUrlRefused, match="configuration file"):
        policy.check("rtmp://192.0.2.10:1935/live/key?listen=1")
    narrow = CameraPolicy(CameraPolicyConfig(allowed_schemes=["rtsp"]), tmp_path)
    with pytest.raises(CameraUrlRefused, match="rtmp"):
        narrow.check("rtmp://192.0.2.10/live/key")
