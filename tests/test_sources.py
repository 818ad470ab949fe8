import itertools
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import shared_file
from vigil.config import RuntimeConfig
from vigil.errors import SourceUnavailable, SourceUnsupported
from vigil.sources import camera_name, open_source, source_kind

FAST = RuntimeConfig(open_timeout_s=3, read_timeout_s=3)


def _read_all(url: str) -> list[float]:
    source = open_source(url, FAST)
    source.open()
    try:
        return [raw.pts for raw in source.frames()]
    finally:
        source.close()


@pytest.mark.parametrize(
    ("relative", "frames"),
    [("media/video/hamilton_640x360.mp4", 275), ("media/video/face_then_noface_hevc.mov", 169)],
)
def test_file_sources_decode_every_frame(relative: str, frames: int) -> None:
    pts = _read_all(str(shared_file(relative)))
    assert len(pts) == frames
    assert all(b > a for a, b in itertools.pairwise(pts)), "timestamps increase"


def test_first_frame_converts_to_bgr(hamilton: Path) -> None:
    source = open_source(str(hamilton), FAST)
    source.open()
    raw = next(iter(source.frames()))
    image = raw.to_bgr()
    duration = source.duration_s
    source.close()
    assert image.shape == (360, 640, 3) and image.dtype == np.uint8 and image.std() > 10
    assert duration is not None and 9 < duration < 11


def test_missing_and_corrupt_files_are_unsupported(tmp_path: Path, hamilton: Path) -> None:
    with pytest.raises(SourceUnsupported, match="no such video file"):
        open_source(str(tmp_path / "nope.mp4"), FAST).open()
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(1).integers(0, 255, 50_000, dtype=np.uint8).tobytes())
    with pytest.raises(SourceUnsupported, match=r"garbage\.mp4"):
        _read_all(str(garbage))


def test_truncated_file_yields_what_it_can(tmp_path: Path, hamilton: Path) -> None:
    truncated = tmp_path / "truncated.mp4"
    data = hamilton.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    try:
        frames = _read_all(str(truncated))
    except SourceUnsupported:
        return  # moov atom at the end: unreadable, reported clearly
    assert 0 < len(frames) < 275


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_rtsp_is_unavailable_quickly() -> None:
    started = time.monotonic()
    with pytest.raises(SourceUnavailable):
        open_source(f"rtsp://127.0.0.1:{_free_port()}/none", FAST).open()
    assert time.monotonic() - started < 5


def _jpegs() -> Iterator[bytes]:
    for i in range(30):
        image = np.full((120, 160, 3), 40, np.uint8)
        cv2.putText(image, str(i), (50, 80), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255, 255, 255), 3)
        yield cv2.imencode(".jpg", image)[1].tobytes()


class _MjpegHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        self.end_headers()
        for jpeg in _jpegs():
            self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\n")
            self.wfile.write(f"Content-Length: {len(jpeg)}\r\n\r\n".encode() + jpeg + b"\r\n")
            time.sleep(0.01)

    def log_message(self, *args: object) -> None:
        pass


def test_http_mjpeg_stream() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _MjpegHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/video"
        assert source_kind(url) == "http"
        source = open_source(url, FAST)
        source.open()
        images = []
        try:
            for raw in source.frames():
                images.append(raw.to_bgr())
        except SourceUnavailable:
            pass  # the server closes the stream after 30 frames
        source.close()
        assert len(images) >= 25
        assert images[0].shape == (120, 160, 3)
    finally:
        server.shutdown()


def test_usb_camera_absent_is_clear_error() -> None:
    with pytest.raises(SourceUnavailable, match="USB camera"):
        open_source("/dev/video63", FAST).open()


def test_kinds_and_names() -> None:
    assert [source_kind(u) for u in ("rtsp://h/s", "https://h/v", "usb:1", "/dev/video0", "3", "a.mp4")] == [
        "rtsp",
        "http",
        "usb",
        "usb",
        "usb",
        "file",
    ]
    assert camera_name("rtsp://admin:secret@10.0.0.5:554/live") == "10.0.0.5_554_live"
    assert "secret" not in camera_name("rtsp://admin:secret@10.0.0.5:554/live")


def test_nonref_frames_skipped_only_when_sampling_allows() -> None:
    from vigil.live.sampling import FrameSampler

    crowd = str(shared_file("media/video/crowd_1080p.mp4"))  # 25 fps with B-frames
    every = _read_all(crowd)
    source = open_source(crowd, FAST, analysis_fps=5.0)
    source.open()
    skipped = [raw.pts for raw in source.frames()]
    source.close()
    assert len(every) == 105 and 40 <= len(skipped) <= 70
    sampler_all, sampler_skipped = FrameSampler(5.0), FrameSampler(5.0)
    taken_all = sum(sampler_all.take(p) for p in every)
    taken_skipped = sum(sampler_skipped.take(p) for p in skipped)
    assert abs(taken_all - taken_skipped) <= 1  # the analysis rate is unchanged
    # An analysis rate above half the stream rate keeps every frame.
    fast = open_source(crowd, FAST, analysis_fps=15.0)
    fast.open()
    assert sum(1 for _ in fast.frames()) == 105
    fast.close()
