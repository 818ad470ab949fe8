"""Serve a video file as an RTSP camera (`vigil simulate-rtsp`, the tests' RTSP server).

The server is GStreamer's gst-rtsp-server (`gst_rtsp_server.py` beside this file), run under the
system Python, which has GStreamer's introspection data; Vigil's environment never imports it.
The Debian packages it needs are installed by `make system-deps` (scripts/install-system-deps.sh)."""

from __future__ import annotations

import selectors
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import av

from vigil.errors import InvalidError, UnavailableError

SYSTEM_PYTHON = "/usr/bin/python3"
SERVER_SCRIPT = Path(__file__).resolve().with_name("gst_rtsp_server.py")
READY_TIMEOUT_S = 15.0
STDERR_LINES = 50  # kept for the error message; the rest is read and forgotten (no full pipe)
# The server repackets without re-encoding: codecs FFmpeg names -> the server's parser/payloader.
CODECS = {"h264": "h264", "hevc": "h265"}
CONTAINERS = ("mov", "mp4")  # what GStreamer's qtdemux reads
_PROBE = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"
_INSTALL_HINT = (
    "install Debian's gir1.2-gst-rtsp-server-1.0, python3-gi and gstreamer1.0-plugins-{base,good,bad} "
    "(`make system-deps`)"
)


class SimulatorUnavailable(UnavailableError):
    """The RTSP server cannot run here (system packages missing) or did not start."""


class UnsupportedClip(InvalidError):
    """The file cannot be served without re-encoding (or is not a video file)."""


def check_server_available() -> None:
    """Raises `SimulatorUnavailable` unless the system Python can run gst-rtsp-server."""
    try:
        result = subprocess.run(
            [SYSTEM_PYTHON, "-c", _PROBE], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SimulatorUnavailable(f"cannot run {SYSTEM_PYTHON} for the RTSP server: {exc}") from exc
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or [f"exit code {result.returncode}"])[-1]
        raise SimulatorUnavailable(f"{SYSTEM_PYTHON} cannot import GstRtspServer ({detail}): {_INSTALL_HINT}")


def server_codec(clip: Path) -> str:
    """The server's name for the clip's video codec; `UnsupportedClip` if it cannot be served as is."""
    if not clip.is_file():
        raise UnsupportedClip(f"no such file: {clip}")
    try:
        with av.open(str(clip)) as container:
            formats = set(container.format.name.split(","))
            streams = container.streams.video
            codec = streams[0].codec_context.name if streams else None
    except av.FFmpegError as exc:
        raise UnsupportedClip(f"{clip} is not a readable video file: {exc}") from exc
    if codec is None:
        raise UnsupportedClip(f"{clip} has no video stream")
    if codec not in CODECS or not formats & set(CONTAINERS):
        raise UnsupportedClip(
            f"{clip} is {codec} in {container.format.name}: only H.264 or H.265 in MP4/MOV is served "
            "(no re-encoding); convert it, e.g. `ffmpeg -i IN -c:v libx264 -an OUT.mp4`"
        )
    return CODECS[codec]


def check_audio(clip: Path, loop: bool) -> None:
    """`UnsupportedClip` unless the clip's audio can be served with it: AAC, not looped."""
    if loop:
        raise UnsupportedClip("the RTSP server loops video only: serve the audio without --loop")
    try:
        with av.open(str(clip)) as container:
            codec = container.streams.audio[0].codec_context.name if container.streams.audio else None
    except av.FFmpegError as exc:
        raise UnsupportedClip(f"{clip} is not a readable video file: {exc}") from exc
    if codec != "aac":
        raise UnsupportedClip(
            f"{clip} has {'no audio track' if codec is None else codec + ' audio'}: only AAC is served "
            "(no re-encoding); convert it, e.g. `ffmpeg -i IN -c:v copy -c:a aac OUT.mp4`"
        )


@dataclass
class RtspSimulator:
    """The server subprocess; `start()` again after `stop()` serves on the same port."""

    clip: Path
    port: int = 8554
    path: str = "stream"
    loop: bool = True
    host: str = "127.0.0.1"
    audio: bool = False  # also serve the clip's AAC track (not with loop)
    process: subprocess.Popen[str] | None = field(default=None, init=False)
    _stderr: deque[str] = field(default_factory=lambda: deque(maxlen=STDERR_LINES), init=False)
    _reader: threading.Thread | None = field(default=None, init=False)

    @property
    def mount(self) -> str:
        return "/" + self.path.strip("/")

    @property
    def url(self) -> str:
        return f"rtsp://{self.host}:{self.port}{self.mount}"

    def start(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Start the server and wait until it listens; `SimulatorUnavailable` if it does not."""
        if self.process is not None:
            raise RuntimeError("the RTSP server is already running")
        if self.audio:
            check_audio(self.clip, self.loop)
        args = [SYSTEM_PYTHON, str(SERVER_SCRIPT), "--port", str(self.port), "--path", self.mount]
        args += ["--host", self.host, "--file", str(self.clip), "--codec", server_codec(self.clip)]
        try:
            self.process = subprocess.Popen(
                [*args, *(["--loop"] if self.loop else []), *(["--audio"] if self.audio else [])],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        except OSError as exc:
            raise SimulatorUnavailable(f"cannot run {SYSTEM_PYTHON} for the RTSP server: {exc}") from exc
        self._stderr.clear()
        self._reader = threading.Thread(target=self._read_stderr, args=(self.process,), daemon=True)
        self._reader.start()
        if not self._ready(time.monotonic() + timeout_s):
            errors = self.stop().strip()
            raise SimulatorUnavailable(
                f"the RTSP server on {self.host}:{self.port} did not start: {errors or 'no answer'}"
            )

    def _ready(self, deadline: float) -> bool:
        """Whether the server printed READY before `deadline` (False when it exited first)."""
        assert self.process is not None and self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            while (remaining := deadline - time.monotonic()) > 0:
                if not selector.select(timeout=remaining):
                    continue
                line = self.process.stdout.readline()
                if line.strip() == "READY":
                    return True
                if line == "":  # exited before READY
                    return False
        return False

    def _read_stderr(self, process: subprocess.Popen[str]) -> None:
        assert process.stderr is not None
        for line in process.stderr:
            self._stderr.append(line)

    def wait(self) -> int:
        """Block until the server exits; its exit code."""
        assert self.process is not None, "the RTSP server is not running"
        return self.process.wait()

    def stop(self) -> str:
        """Terminate (then kill) the server; returns what it wrote on stderr."""
        process, self.process = self.process, None
        if process is None:
            return ""
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if self._reader is not None:
            self._reader.join(timeout=5)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
        return "".join(self._stderr)
