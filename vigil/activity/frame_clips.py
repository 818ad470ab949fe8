"""Clips of cameras that give no packets (USB, OpenCV): the frames the camera's analysis already
sees (the analysis rate, 5 fps by default) are encoded as H.264 into the same packet ring as a
stream's packets (ring.py), on a thread of their own, so `/api/save-clip` works the same way.

This is the one case where clips cost something while nobody saves: x264 `ultrafast` at the
analysis rate (docs/activity.md, "Cost"). The picture of such a clip has the analysis rate, not
the camera's; its sound is the microphone's when the camera's activity hears one (a USB camera
has no sound track of its own)."""

from __future__ import annotations

import io
import logging
import threading
from fractions import Fraction
from typing import Any

import av

from vigil.activity.ring import PacketRing
from vigil.live.queues import DropOldestQueue
from vigil.types import Frame

__all__ = ["FrameEncoder"]

log = logging.getLogger(__name__)
TIME_BASE = Fraction(1, 1000)  # frame times in ms from the first frame's wall clock
KEYFRAME_EVERY_S = 2.0  # a clip starts on a keyframe: at most this much more is kept


class FrameEncoder:
    """`offer` (the analysis thread, never blocks: a frame that arrives while one is encoded
    replaces it) -> encoded on this object's thread -> `ring`."""

    def __init__(self, ring: PacketRing, camera: str, fps: float) -> None:
        self.ring, self.camera, self.fps = ring, camera, fps
        self._frames: DropOldestQueue[Frame | None] = DropOldestQueue(2)
        self._thread = threading.Thread(target=self._run, name=f"{camera}-clip-encoder", daemon=True)
        self._running = False
        self.encoded = 0
        self.error: str | None = None

    def start(self) -> None:
        self._running = True
        self._thread.start()

    def offer(self, frame: Frame) -> None:
        self._frames.put(frame)

    def stop(self) -> None:
        self._frames.put(None, droppable=False)

    def join(self, timeout: float | None = None) -> None:
        if self._running:
            self._thread.join(timeout)

    def _run(self) -> None:
        stream: Any = None
        size: tuple[int, int] | None = None
        origin = 0.0
        last_pts = -1
        try:
            while (frame := self._frames.get()) is not None:
                height, width = frame.image.shape[:2]
                if (width, height) != size:  # first frame, or the camera changed its size
                    stream, size, origin, last_pts = (
                        self._new_stream(width, height),
                        (width, height),
                        frame.wall_ts,
                        -1,
                    )
                    self.ring.opened(stream, None)
                pts = round((frame.wall_ts - origin) / TIME_BASE)
                if pts <= last_pts:
                    continue  # times must grow
                last_pts = pts
                picture = av.VideoFrame.from_ndarray(frame.image, format="bgr24")
                picture.pts, picture.time_base = pts, TIME_BASE
                self.ring.frame_time(float(pts * TIME_BASE), frame.wall_ts)
                for packet in stream.encode(picture):
                    self.ring.add(packet, True)
                self.encoded += 1
        except Exception as exc:  # clips stop; the camera and its activity go on
            self.error = f"clip encoding stopped: {exc}"
            log.exception("%s: clip encoding stopped", self.camera)
            self.ring.close(error=self.error)

    def _new_stream(self, width: int, height: int) -> Any:
        """An H.264 encoder whose stream is the ring's template. MPEG-TS has no global header:
        x264 then repeats its SPS/PPS before every keyframe, so a clip can start on any of them."""
        holder = av.open(io.BytesIO(), "w", format="mpegts")
        keyint = max(1, round(self.fps * KEYFRAME_EVERY_S))
        options = {"preset": "ultrafast", "tune": "zerolatency", "g": str(keyint), "bf": "0"}
        rate = Fraction(self.fps).limit_denominator(1000)
        return holder.add_stream(
            "libx264", rate=rate, width=width - width % 2, height=height - height % 2, time_base=TIME_BASE,
            options=options,
        )  # fmt: skip
