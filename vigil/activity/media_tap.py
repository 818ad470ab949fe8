"""What a live camera with activity on takes from its decode thread: the compressed packets for
its clip ring (ring.py) and the stream's audio for its sound cues (live_audio.py); from a camera
without packets (USB), every decoded frame, which its clip encoder (frame_clips.py) puts into the
ring instead. Implements vigil/live/decode.py's `MediaTap`; every method runs on the decode
thread.

A failure here must never stop the camera: the part that failed (clip ring or sound) is turned
off for the rest of the camera's run, logged once, and the picture goes on."""

from __future__ import annotations

import logging
from typing import Any

import av

from vigil.activity.frame_clips import FrameEncoder
from vigil.activity.live_audio import StreamAudio
from vigil.activity.ring import PacketRing
from vigil.sources.base import RawFrame

__all__ = ["CameraMedia"]

log = logging.getLogger(__name__)


class CameraMedia:
    def __init__(
        self,
        ring: PacketRing | None,
        audio: StreamAudio | None,
        camera: str = "",
        encoder: FrameEncoder | None = None,
    ) -> None:
        """`encoder`: a source without packets (USB) fills `ring` from its frames, encoded."""
        self.ring, self.audio, self.camera, self.encoder = ring, audio, camera, encoder
        self.errors: list[str] = []  # what was turned off, and why

    @property
    def wants_frames(self) -> bool:
        """Whether `decoded` wants every decoded frame (a clip encoder is fed)."""
        return self.encoder is not None

    def decoded(self, raw: RawFrame, wall: float) -> None:
        """Every frame the source decodes, at the camera's rate (a USB source's are BGR arrays
        already: no conversion here), to the clip encoder, which never makes the caller wait."""
        if self.encoder is not None:
            self.encoder.offer(raw.to_bgr(), wall)

    def opened(self, video: Any, audio: Any | None) -> None:
        if self.ring is not None:
            try:
                self.ring.opened(video, audio)
            except Exception as exc:
                self._off("clip ring", exc)
        if self.audio is not None:
            try:
                self.audio.opened(audio)
            except Exception as exc:
                self._off("stream sound", exc)

    def packet(self, packet: av.Packet[Any], video: bool) -> None:
        if self.ring is not None:
            try:
                self.ring.add(packet, video)
            except Exception as exc:
                self._off("clip ring", exc)
        if self.audio is not None and not video:
            try:
                self.audio.packet(packet)
            except Exception as exc:
                self._off("stream sound", exc)

    def frame_time(self, source_pts: float, wall: float) -> None:
        if self.ring is not None and self.encoder is None:  # an encoder keeps its own timeline
            self.ring.frame_time(source_pts, wall)
        if self.audio is not None:
            self.audio.frame_time(source_pts, wall)

    def _off(self, part: str, exc: Exception) -> None:
        message = f"{part} off: {exc}"
        self.errors.append(message)
        log.exception("camera %s: %s", self.camera, message)
        if part == "clip ring" and self.ring is not None:
            self.ring.close(error=message)
            self.ring = None
        elif self.audio is not None:
            self.audio.error = message
            self.audio = None
