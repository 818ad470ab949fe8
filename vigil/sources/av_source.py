"""Files, RTSP and HTTP (MJPEG or video) through PyAV/FFmpeg."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

import av
import av.container
import av.error
import av.video
from av.video.reformatter import VideoReformatter

from vigil.errors import SourceUnavailable, SourceUnsupported
from vigil.log_throttle import LogThrottle
from vigil.sources.base import FrameSource, RawFrame, SourceKind
from vigil.types import Image

log = logging.getLogger(__name__)
CORRUPT_PACKET_LOG = LogThrottle(interval_s=60.0)


class PacketTap(Protocol):
    """Sees the source's compressed packets on the decode thread, before any decoding: a clip's
    ring buffer keeps them, the stream's own audio is decoded from them (same connection)."""

    def opened(self, video: av.video.stream.VideoStream, audio: av.audio.stream.AudioStream | None) -> None:
        """A new connection (or a file played again): its streams, valid until the next call."""

    def packet(self, packet: av.Packet[Any], video: bool) -> None:
        """One demuxed packet of the video or of the first audio stream (never a flush packet)."""


class _AvFrame:
    __slots__ = ("_frame", "_scaler", "pts")

    def __init__(self, frame: av.VideoFrame, pts: float, scaler: VideoReformatter) -> None:
        self._frame = frame
        self._scaler = scaler
        self.pts = pts

    def to_bgr(self) -> Image:
        return self._frame.to_ndarray(format="bgr24")

    def thumbnail(self, width: int, height: int) -> Image:
        # Straight from the decoder's YUV planes: no full-size RGB image (0.1 ms at 360p).
        small = self._scaler.reformat(
            self._frame, width=width, height=height, format="rgb24", interpolation="AREA", threads=1
        )
        return small.to_ndarray()


class AvSource(FrameSource):
    """Demux + decode with FFmpeg. Corrupt packets are skipped and counted, not fatal."""

    def __init__(
        self,
        url: str,
        kind: SourceKind,
        open_timeout_s: float = 10.0,
        read_timeout_s: float = 10.0,
        decode_threads: int = 0,
        skip_nonref_below_fps: float | None = None,
        tap: PacketTap | None = None,
    ) -> None:
        self.url = url
        self.tap = tap
        self.kind = kind
        self._timeouts = (open_timeout_s, read_timeout_s)
        self._threads = decode_threads
        self._skip_nonref_below_fps = skip_nonref_below_fps
        self._container: av.container.InputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None
        self._audio: av.audio.stream.AudioStream | None = None  # demuxed only for a tap
        self.corrupt_packets = 0
        self._scaler = VideoReformatter()  # one per stream: keeps its scaling context between frames

    def _options(self) -> dict[str, str]:
        if self.kind == "rtsp":
            # TCP avoids UDP packet loss artefacts; timeouts in microseconds.
            return {"rtsp_transport": "tcp", "timeout": str(int(self._timeouts[1] * 1e6))}
        if self.kind == "http":
            return {"reconnect": "0", "rw_timeout": str(int(self._timeouts[1] * 1e6))}
        if self.kind == "rtmp":
            return {"rw_timeout": str(int(self._timeouts[1] * 1e6))} | (
                {"listen": "1"} if rtmp_listens(self.url) else {}
            )
        return {}

    def open(self) -> None:
        if self.kind == "file" and not Path(self.url).is_file():
            raise SourceUnsupported(f"{self.url}: no such video file")
        try:
            url = rtmp_address(self.url) if self.kind == "rtmp" else self.url
            container = av.open(url, options=self._options(), timeout=self._timeouts)
        except av.error.FFmpegError as exc:
            raise self._error("cannot open", exc) from exc
        if not container.streams.video:
            container.close()
            raise SourceUnsupported(f"{self.url}: no video stream in this input")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.thread_count = self._threads
        self._container, self._stream = container, stream
        if self.tap is not None:
            self._audio = container.streams.audio[0] if container.streams.audio else None
            self.tap.opened(stream, self._audio)
        rate = self.nominal_fps
        if self._skip_nonref_below_fps and rate and rate >= 2 * self._skip_nonref_below_fps:
            # Nothing references these frames: skipping them keeps every other frame intact
            # and still leaves at least twice the frames the sampler takes.
            stream.codec_context.skip_frame = "NONREF"

    def _error(self, what: str, exc: Exception) -> SourceUnavailable | SourceUnsupported:
        if isinstance(exc, av.error.ExitError):  # PyAV's interrupt callback fired: a timeout
            timeout = self._timeouts[0 if what == "cannot open" else 1]
            return SourceUnavailable(f"{self.url}: {what}: no data for {timeout:g} s (timeout)")
        message = f"{self.url}: {what}: {exc}"
        if self.kind == "file":
            return SourceUnsupported(message + " (unsupported or corrupt file?)")
        return SourceUnavailable(message)

    @property
    def nominal_fps(self) -> float | None:
        rate = self._stream.average_rate if self._stream else None
        return float(rate) if rate else None

    @property
    def duration_s(self) -> float | None:
        if self.kind != "file" or self._container is None or not self._container.duration:
            return None
        return self._container.duration / av.time_base

    def frames(self) -> Iterator[RawFrame]:
        if self._container is None or self._stream is None:
            raise RuntimeError("open() the source first")
        stream, fallback_step = self._stream, 1.0 / (self.nominal_fps or 25.0)
        last_pts = -fallback_step
        tap, audio = self.tap, self._audio
        try:
            # demux() ends with an empty packet that flushes the decoder.
            for packet in self._container.demux(stream, *([audio] if audio is not None else [])):
                if tap is not None and packet.size:
                    is_video = packet.stream is stream
                    tap.packet(packet, is_video)
                    if not is_video:
                        continue
                elif audio is not None and packet.stream is audio:
                    continue  # the audio stream's flush packet
                for frame in self._decode(packet):
                    last_pts = self._pts(frame, stream.time_base, last_pts + fallback_step)
                    yield _AvFrame(frame, last_pts, self._scaler)
        except av.error.FFmpegError as exc:
            raise self._error("read failed", exc) from exc

    def _decode(self, packet: av.Packet[Any]) -> list[av.VideoFrame]:
        assert self._stream is not None
        try:
            return list(self._stream.decode(packet))
        except av.error.InvalidDataError as exc:
            self.corrupt_packets += 1
            message = f"{self.url}: skipped a corrupt packet: {exc}"
            allowed, held_back = CORRUPT_PACKET_LOG.allow(message)  # a looping file repeats it
            if allowed:
                more = f" ({held_back} more since the last report)" if held_back else ""
                log.warning("%s%s", message, more)
            return []

    @staticmethod
    def _pts(frame: av.VideoFrame, time_base: Fraction | None, fallback: float) -> float:
        if frame.pts is None or time_base is None:
            return fallback
        return float(frame.pts * time_base)

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
        self._container = self._stream = self._audio = None


_LISTEN = re.compile(r"[?&]listen=1(?=&|$)")


def rtmp_listens(url: str) -> bool:
    """`rtmp://0.0.0.0:1935/live/KEY?listen=1`: Vigil is the RTMP server that OBS (or any
    encoder) publishes to, rather than a client of one."""
    return _LISTEN.search(url) is not None


def rtmp_address(url: str) -> str:
    """The URL FFmpeg is given: without Vigil's `listen=1` (FFmpeg takes it as an option)."""
    return _LISTEN.sub("", url)
