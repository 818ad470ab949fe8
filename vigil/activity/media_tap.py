"""What a live camera with activity on takes from its decode thread: the compressed packets for
its clip ring (ring.py) and the stream's audio for its sound cues (live_audio.py). Implements
vigil/live/decode.py's `MediaTap`; every method runs on the decode thread."""

from __future__ import annotations

from typing import Any

import av

from vigil.activity.live_audio import StreamAudio
from vigil.activity.ring import PacketRing

__all__ = ["CameraMedia"]


class CameraMedia:
    def __init__(self, ring: PacketRing | None, audio: StreamAudio | None) -> None:
        self.ring, self.audio = ring, audio

    def opened(self, video: Any, audio: Any | None) -> None:
        if self.ring is not None:
            self.ring.opened(video, audio)
        if self.audio is not None:
            self.audio.opened(audio)

    def packet(self, packet: av.Packet[Any], video: bool) -> None:
        if self.ring is not None:
            self.ring.add(packet, video)
        if self.audio is not None and not video:
            self.audio.packet(packet)

    def frame_time(self, source_pts: float, wall: float) -> None:
        if self.ring is not None:
            self.ring.frame_time(source_pts, wall)
        if self.audio is not None:
            self.audio.frame_time(source_pts, wall)
