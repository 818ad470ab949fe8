"""The last seconds of a camera's compressed packets (video and audio), for `/api/save-clip`.

Fed on the decode thread with the packets the source demuxes anyway: keeping them costs a copy
of a few hundred KB per second and no decoding; a clip is remuxed only when someone asks
(clip.py). Video is kept from the last keyframe before the oldest second a clip may ask for, so
every clip can start on a keyframe. A new connection (reconnect, a file played again) starts a
new timeline: the ring is emptied, and a clip never spans two connections."""

from __future__ import annotations

import io
import threading
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
import av.container

__all__ = ["BufferedPacket", "ClipPackets", "PacketRing", "StreamTemplate"]

# Audio packets this much older than the oldest kept keyframe are dropped with the video before it.
_AUDIO_MARGIN_S = 0.5


@dataclass(frozen=True)
class BufferedPacket:
    data: bytes
    pts: int  # in the stream's time base
    dts: int | None
    duration: int
    keyframe: bool
    time: float  # pts in seconds (stream time)


class StreamTemplate:
    """A copy of a stream's codec parameters, valid after its connection is closed: the source's
    streams die with their container, so the parameters are copied (FFmpeg's codecpar) into a
    stream of a small output container that is never written (freed with the last reference:
    a clip being written keeps its templates). `add_to(output)` adds the same stream to a clip's
    MP4 (stream copy: the packets are muxed as they are)."""

    def __init__(self, stream: Any) -> None:
        # NUT takes any codec FFmpeg knows (MP4 and Matroska refuse e.g. the G.711 of many IP
        # cameras, which clip.py then encodes as AAC).
        self._holder = av.open(io.BytesIO(), "w", format="nut")
        # opaque: the source's (decoder) codec is kept; a stream copy opens no codec at all, so
        # no encoder is needed (an FFmpeg build without libx265 still copies H.265).
        self.stream: Any = self._holder.add_stream_from_template(stream, opaque=True)
        self.codec: str = stream.codec_context.codec.canonical_name  # h264 for libx264 too
        self.time_base: Fraction = stream.time_base or Fraction(1, 90000)
        self.kind: str = stream.type

    def add_to(self, output: av.container.OutputContainer) -> Any:
        out = output.add_stream_from_template(self.stream, opaque=True)
        out.time_base = self.time_base
        return out


@dataclass(frozen=True)
class ClipPackets:
    """What a clip is made of: the streams and their packets in decode order, video first
    packet a keyframe, plus the stream time to wall-clock offset when known."""

    video: StreamTemplate
    audio: StreamTemplate | None
    video_packets: tuple[BufferedPacket, ...]
    audio_packets: tuple[BufferedPacket, ...]
    wall_offset: float | None  # wall clock = stream time + this (from the pipeline's frames)

    @property
    def end(self) -> float:
        """Stream time just after the newest video packet."""
        last = max(self.video_packets, key=lambda p: p.time)
        return last.time + float(last.duration * self.video.time_base)


class PacketRing:
    """Thread-safe: the decode thread adds, a web request takes a copy."""

    def __init__(self, seconds: float) -> None:
        if seconds <= 0:
            raise ValueError("seconds must be positive")
        self.seconds = seconds
        self._lock = threading.Lock()
        self._video: deque[BufferedPacket] = deque()
        self._audio: deque[BufferedPacket] = deque()
        self._keyframes: deque[float] = deque()  # times of the kept video keyframes
        self._templates: tuple[StreamTemplate, StreamTemplate | None] | None = None
        self._newest = float("-inf")
        self.wall_offset: float | None = None
        self.bytes = 0  # kept now
        self.dropped_before_keyframe = 0  # video packets seen before the first keyframe
        self.error: str | None = None  # why the ring was turned off for good

    def opened(self, video: Any, audio: Any | None) -> None:
        """A new connection: its streams' parameters; what was kept is forgotten."""
        templates = (StreamTemplate(video), StreamTemplate(audio) if audio is not None else None)
        with self._lock:
            self._templates = templates
            self._video.clear()
            self._audio.clear()
            self._keyframes.clear()
            self._newest = float("-inf")
            self.wall_offset = None
            self.bytes = 0

    def add(self, packet: av.Packet[Any], video: bool) -> None:
        """Keeps a copy of `packet` (its bytes: the demuxer reuses its buffers)."""
        stamp = packet.pts if packet.pts is not None else packet.dts
        if stamp is None or packet.time_base is None:
            return  # cannot be placed in time
        kept = BufferedPacket(
            bytes(packet),
            stamp,
            packet.dts,
            packet.duration or 0,
            bool(packet.is_keyframe),
            float(stamp * packet.time_base),
        )
        with self._lock:
            if self._templates is None:
                return
            if video:
                if not self._video and not kept.keyframe:
                    self.dropped_before_keyframe += 1
                    return  # a clip must start on a keyframe
                self._video.append(kept)
                if kept.keyframe:
                    self._keyframes.append(kept.time)
                self._newest = max(self._newest, kept.time)
                self._trim()
            elif self._video:  # audio before the first keyframe could never be in a clip
                self._audio.append(kept)
            else:
                return
            self.bytes += len(kept.data)

    def _trim(self) -> None:
        """Drops what no clip can need: video before the newest keyframe that is still at least
        `seconds` old, and audio from before it."""
        horizon = self._newest - self.seconds
        while len(self._keyframes) >= 2 and self._keyframes[1] <= horizon:
            self._keyframes.popleft()
            first = self._keyframes[0]
            while self._video and not (self._video[0].keyframe and self._video[0].time == first):
                self.bytes -= len(self._video.popleft().data)
        oldest = self._keyframes[0] - _AUDIO_MARGIN_S if self._keyframes else self._newest
        while self._audio and self._audio[0].time < oldest:
            self.bytes -= len(self._audio.popleft().data)

    def frame_time(self, source_pts: float, wall: float) -> None:
        self.wall_offset = wall - source_pts

    def take(self) -> ClipPackets | None:
        """A copy of what is kept; None before the first keyframe of a connection."""
        with self._lock:
            if self._templates is None or not self._video:
                return None
            video, audio = self._templates
            return ClipPackets(
                video,
                audio,
                tuple(self._video),
                tuple(self._audio) if audio is not None else (),
                self.wall_offset,
            )

    @property
    def span_s(self) -> float:
        """Seconds of video kept (from the oldest keyframe)."""
        with self._lock:
            return self._newest - self._keyframes[0] if self._keyframes else 0.0

    def close(self, error: str | None = None) -> None:
        """Forgets everything (the camera stopped, or `error` turned the ring off)."""
        with self._lock:
            self.error = error or self.error
            self._templates = None
            self._video.clear()
            self._audio.clear()
            self._keyframes.clear()
            self.bytes = 0
