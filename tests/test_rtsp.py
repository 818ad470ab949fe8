"""Automatic reconnection against a real RTSP server (GStreamer's gst-rtsp-server).

The server (vigil.sources.rtsp_simulator, the one `vigil simulate-rtsp` runs) is a subprocess
of the system Python, which has the GStreamer introspection data; Vigil runs in this process and
reads the stream through PyAV/FFmpeg.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from vigil.config import CameraConfig, load_settings
from vigil.live.camera import CameraPipeline
from vigil.live.events import MemorySink
from vigil.live.supervisor import Supervisor
from vigil.sources.rtsp_simulator import RtspSimulator, SimulatorUnavailable, check_server_available

SHARED = Path(os.environ.get("VIGIL_SHARED_DIR", Path(__file__).resolve().parents[1] / ".." / "shared"))
CLIP = SHARED / "media" / "video" / "hamilton_640x360.mp4"
MOUNT = "/cam"
POLL_S = 0.05

pytestmark = pytest.mark.slow


def _unavailable(reason: str) -> None:
    """CI must not silently skip the test: a missing dependency there is a failure."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: this is an error, not a skip)", pytrace=False)
    pytest.skip(reason)


def _check_gst_rtsp_server() -> None:
    try:
        check_server_available()
    except SimulatorUnavailable as exc:
        _unavailable(str(exc))


def _check_clip() -> None:
    if not CLIP.is_file():
        _unavailable(f"test clip {CLIP} is missing (set VIGIL_SHARED_DIR to the shared directory)")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def rtsp_server() -> Iterator[RtspSimulator]:
    _check_gst_rtsp_server()
    _check_clip()
    server = RtspSimulator(CLIP, _free_port(), MOUNT, loop=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _describe(pipeline: CameraPipeline) -> str:
    health = pipeline.status().health
    counters = pipeline.counters
    return (
        f"state={health.state} reconnects={health.reconnects} last_error={health.last_error!r} "
        f"frames_decoded={counters.frames_decoded} frames_sampled={counters.frames_sampled}"
    )


def _wait_for(pipeline: CameraPipeline, condition: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Poll until `condition()` holds; fail with the pipeline's state otherwise. Returns seconds waited."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout_s:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}: {_describe(pipeline)}")
        time.sleep(POLL_S)
    return time.monotonic() - start


def _state(pipeline: CameraPipeline) -> str:
    return str(pipeline.status().health.state)


def test_rtsp_reconnects_after_server_restart(rtsp_server: RtspSimulator) -> None:
    settings = load_settings(
        shared_dir=SHARED,
        retry_backoff=0.5,
        realtime=True,
        runtime={"open_timeout_s": 5, "read_timeout_s": 3, "max_backoff_s": 2},
    )
    sup = Supervisor(settings, [CameraConfig(url=rtsp_server.url, name="rtsp")], [MemorySink()])
    pipeline = sup.pipelines[0]
    counters = pipeline.counters
    sup.start()
    try:
        # 1. Streaming: frames flow and the source reports running.
        _wait_for(
            pipeline,
            lambda: counters.frames_decoded > 30 and _state(pipeline) == "running",
            timeout_s=15,
            what="the first 30 frames from the RTSP server",
        )
        assert pipeline.status().health.reconnects == 0, _describe(pipeline)

        # 2. Server goes away: the camera notices and retries instead of failing or finishing.
        rtsp_server.stop()
        seen_states: set[str] = set()

        def reconnecting() -> bool:
            health = pipeline.status().health
            seen_states.add(str(health.state))
            return health.state == "reconnecting" and int(health.reconnects) >= 1

        _wait_for(pipeline, reconnecting, timeout_s=10, what="state 'reconnecting' after the server stopped")
        assert not seen_states & {"failed", "finished", "stopped"}, (
            f"a live source must keep retrying, saw states {sorted(seen_states)}: {_describe(pipeline)}"
        )
        assert pipeline.status().health.last_error, f"no last_error recorded: {_describe(pipeline)}"
        assert sup.running, "camera threads ended while the server was down"
        time.sleep(1.0)  # let a few retries against the closed port happen
        assert _state(pipeline) in ("reconnecting", "connecting"), _describe(pipeline)
        frames_while_down = counters.frames_decoded
        reconnects_while_down = int(pipeline.status().health.reconnects)

        # 3. Server comes back on the same port: frames flow again without any intervention.
        rtsp_server.start()
        _wait_for(
            pipeline,
            lambda: counters.frames_decoded > frames_while_down + 60 and _state(pipeline) == "running",
            timeout_s=15,
            what=f"60 more frames after the server restarted (had {frames_while_down})",
        )
        health = pipeline.status().health
        assert health.reconnects >= reconnects_while_down >= 1, _describe(pipeline)
        assert counters.frames_sampled > 0, _describe(pipeline)
    finally:
        sup.stop()
        sup.wait(duration_s=0)
    assert not sup.running, "camera threads still running after stop()"


def test_unreachable_rtsp_does_not_stop_other_cameras() -> None:
    _check_clip()
    dead_url = f"rtsp://127.0.0.1:{_free_port()}{MOUNT}"  # nothing listens there
    settings = load_settings(
        shared_dir=SHARED,
        retry_backoff=0.5,
        realtime=False,
        runtime={"open_timeout_s": 5, "read_timeout_s": 3, "max_backoff_s": 2},
    )
    cameras = [CameraConfig(url=dead_url, name="dead"), CameraConfig(url=str(CLIP), name="file")]
    sup = Supervisor(settings, cameras, [MemorySink()])
    dead, file = sup.pipelines
    sup.start()
    try:
        _wait_for(
            dead,
            lambda: dead.status().health.reconnects >= 1 and _state(dead) == "reconnecting",
            timeout_s=5,
            what="the unreachable RTSP camera to report 'reconnecting'",
        )
        assert dead.status().health.last_error, f"no last_error recorded: {_describe(dead)}"

        _wait_for(file, lambda: _state(file) == "finished", timeout_s=40, what="the file camera to finish")
        assert file.counters.frames_decoded > 200, _describe(file)

        # The RTSP camera keeps retrying while (and after) the file camera ends.
        assert dead.counters.frames_decoded == 0, _describe(dead)
        assert _state(dead) in ("reconnecting", "connecting"), _describe(dead)
        assert dead.running, "the unreachable camera stopped retrying"
        _wait_for(
            dead,
            lambda: dead.status().health.reconnects >= 2,
            timeout_s=5,
            what="a second retry of the unreachable RTSP camera",
        )
    finally:
        sup.stop()
        sup.wait(duration_s=0)
    assert not sup.running, "camera threads still running after stop()"
