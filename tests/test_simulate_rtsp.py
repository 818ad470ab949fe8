"""`vigil simulate-rtsp`: a file served as an RTSP camera by the real server the RTSP tests use,
read back with Vigil's own source reader."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import shared_file
from vigil.config import RuntimeConfig
from vigil.sources import open_source
from vigil.sources.rtsp_simulator import (
    RtspSimulator,
    SimulatorUnavailable,
    UnsupportedClip,
    check_server_available,
    server_codec,
)

pytestmark = pytest.mark.slow
VIGIL = Path(sys.executable).with_name("vigil")


@pytest.fixture
def gst_server() -> None:
    try:
        check_server_available()
    except SimulatorUnavailable as exc:
        if os.environ.get("CI", "").lower() == "true":  # CI installs it: missing there is an error
            pytest.fail(str(exc), pytrace=False)
        pytest.skip(str(exc))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _frames(url: str, wanted: int) -> list[tuple[int, int]]:
    """Shapes of the first `wanted` frames read with the project's source reader."""
    source = open_source(url, RuntimeConfig(open_timeout_s=10, read_timeout_s=5))
    source.open()
    shapes: list[tuple[int, int]] = []
    try:
        for frame in source.frames():
            image = frame.to_bgr()
            shapes.append((image.shape[1], image.shape[0]))
            if len(shapes) >= wanted:
                break
    finally:
        source.close()
    return shapes


def test_a_served_clip_reads_like_a_camera(gst_server: None) -> None:
    clip = shared_file("media/video/single_face.mp4")
    simulator = RtspSimulator(clip, _free_port(), "stream", loop=False)
    simulator.start()
    try:
        assert simulator.url == f"rtsp://127.0.0.1:{simulator.port}/stream"
        assert _frames(simulator.url, 20) == [(640, 360)] * 20
    finally:
        simulator.stop()
    assert simulator.process is None


def test_the_command_prints_the_url_serves_and_stops_on_ctrl_c(gst_server: None) -> None:
    clip = shared_file("media/video/single_face.mp4")
    port = _free_port()
    command = [str(VIGIL), "simulate-rtsp", str(clip), "--port", str(port), "--path", "door", "--loop"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stderr is not None
        line = process.stdout.readline()
        url = f"rtsp://127.0.0.1:{port}/door"
        assert url in line, line + (process.stderr.read() if process.poll() is not None else "")
        assert _frames(url, 30) == [(640, 360)] * 30
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, errors
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # the server is gone too
        assert sock.connect_ex(("127.0.0.1", port)) != 0


def test_a_file_that_cannot_be_served_is_refused_clearly(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    with pytest.raises(UnsupportedClip, match="not a readable video file"):
        server_codec(text)
    with pytest.raises(UnsupportedClip, match="no such file"):
        server_codec(tmp_path / "missing.mp4")
    photo = shared_file("media/faces/people/lin_manuel_miranda")
    image = next(p for p in sorted(photo.iterdir()) if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    with pytest.raises(UnsupportedClip, match=re.escape("only H.264 or H.265 in MP4/MOV")):
        server_codec(image)
    assert server_codec(shared_file("media/video/face_then_noface_hevc.mov")) == "h265"
    # A long path: the error must stay one line in a pipe or a log (rich cut it at 80 columns).
    long_named = tmp_path / f"notes_{'x' * 90}.mp4"
    long_named.write_text("not a video")
    command = [str(VIGIL), "simulate-rtsp", str(long_named)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1 and "not a readable video file" in result.stderr
    assert result.stderr.startswith(f"error: {long_named} is not a readable video file")
    assert result.stderr.count("\n") == 1
