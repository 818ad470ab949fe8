"""Clips of cameras that give no packets (USB, OpenCV): every frame the camera gives, at its own
rate, is encoded as H.264 into the same packet ring as a stream's packets (ring.py), on a thread
of its own, so `/api/save-clip` works the same way. The decode thread offers each frame
(media_tap.py) and never waits: a frame that comes while the encoder is busy replaces the one
waiting, so a machine too slow for the camera's rate gives a clip with fewer frames, never a
late camera.

This is the one case where clips cost something while nobody saves: x264 `ultrafast` at the
camera's rate, at most `activity.clip_max_fps` (15 by default: about half the 16.8% of a core a
720p camera at 30 fps costs uncapped), about 13-28 MB for 30 s of 720p at 30 fps
(docs/activity.md, "Cost"). Its sound
is the microphone's when the camera's activity hears one (a USB camera has no sound track of its
own)."""

from __future__ import annotations

import io
import logging
import threading
from fractions import Fraction
from typing import Any, cast

import av
import cv2
from av.video.frame import PictureType

from vigil.activity.ring import PacketRing
from vigil.live.queues import DropOldestQueue
from vigil.types import Image

__all__ = ["FrameEncoder", "FrameRateCap"]

log = logging.getLogger(__name__)
TIME_BASE = Fraction(1, 1000)  # frame times in ms from the first frame's wall clock
KEYFRAME_EVERY_S = 2.0  # a clip starts on a keyframe: at most this much more is kept
# x264's own limit between keyframes, in frames: above what KEYFRAME_EVERY_S gives at any camera
# rate, so keyframes come by time (forced), whatever the rate.
_MAX_KEYINT = 1000


class FrameRateCap:
    """Which frames to keep so that at most `max_fps` a second are (0: all). Frames are kept on a
    schedule of 1/max_fps steps, so a 25 fps camera capped at 10 gives 10 a second on average
    (every second or third frame), not every other one; after a stall the schedule starts again
    from the next frame rather than keeping a burst."""

    _EARLY_S = 0.002  # a frame this early for its step still counts (the camera's clock jitters)

    def __init__(self, max_fps: float) -> None:
        self._step = 1.0 / max_fps if max_fps > 0 else 0.0
        self._due: float | None = None

    def take(self, wall: float) -> bool:
        if not self._step:
            return True
        if self._due is not None and wall < self._due - self._EARLY_S:
            return False
        # The next step from this one's due time (the average rate holds when frames come late for
        # their step), but at least 3/4 of a step from this frame (no burst after a stall).
        following = self._due + self._step if self._due is not None else wall + self._step
        self._due = max(following, wall + 0.75 * self._step)
        return True


class FrameEncoder:
    """`offer` (the decode thread, never blocks: a frame that arrives while one is encoded
    replaces the one waiting) -> encoded on this object's thread -> `ring`. `max_fps`: at most
    this many frames a second are encoded (0: every frame offered)."""

    def __init__(self, ring: PacketRing, camera: str, max_fps: float = 0.0) -> None:
        self.ring, self.camera = ring, camera
        self._cap = FrameRateCap(max_fps)
        self._frames: DropOldestQueue[tuple[Image, float] | None] = DropOldestQueue(2)
        self._thread = threading.Thread(target=self._run, name=f"{camera}-clip-encoder", daemon=True)
        self._running = False
        self._stream: Any = None
        self._size: tuple[int, int] | None = None
        self._origin = 0.0  # wall clock of the stream's pts 0
        self._last_pts = -1
        self._next_keyframe = 0
        self.encoded = 0
        self.error: str | None = None

    def start(self) -> None:
        self._running = True
        self._thread.start()

    def offer(self, image: Image, wall: float) -> None:
        """A frame (BGR) and the wall-clock time the camera gave it."""
        if self._cap.take(wall):
            self._frames.put((image, wall))

    def stop(self) -> None:
        self._frames.put(None, droppable=False)

    def join(self, timeout: float | None = None) -> None:
        if self._running:
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            self._encode_all()
        except Exception as exc:  # clips stop; the camera and its activity go on
            self.error = f"clip encoding stopped: {exc}"
            log.exception("%s: clip encoding stopped", self.camera)
            self.ring.close(error=self.error)

    def _encode_all(self) -> None:
        while (item := self._frames.get()) is not None:
            self.encode(*item)

    def encode(self, image: Image, wall: float) -> None:
        """Encodes one frame into the ring now, on the caller's thread (this object's, or a
        benchmark's)."""
        height, width = image.shape[0] & ~1, image.shape[1] & ~1  # 4:2:0 wants even sizes
        if (width, height) != self._size:  # first frame, or the camera changed its size
            self._stream, self._size = _new_stream(width, height), (width, height)
            self._origin, self._last_pts, self._next_keyframe = wall, -1, 0
            self.ring.opened(self._stream, None)
        pts = round((wall - self._origin) / TIME_BASE)
        if pts <= self._last_pts:
            return  # times must grow
        # A packet's duration is its frame's interval to the one before (the camera's rate as it
        # comes; the encoder would take its nominal 24 fps): where a clip's last frame ends.
        interval = pts - self._last_pts if self._last_pts >= 0 else None
        self._last_pts = pts
        # OpenCV's BGR -> I420 (BT.601, limited range, as FFmpeg's own conversion) takes a third
        # of the time of PyAV's (1.6 against 7.6 ms a 720p frame).
        yuv = cast(Image, cv2.cvtColor(image[:height, :width], cv2.COLOR_BGR2YUV_I420))
        picture = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        picture.pts, picture.time_base = pts, TIME_BASE
        if pts >= self._next_keyframe:  # keyframes by time: the camera's rate is not known ahead
            picture.pict_type = PictureType.I
            self._next_keyframe = pts + round(KEYFRAME_EVERY_S / TIME_BASE)
        self.ring.frame_time(float(pts * TIME_BASE), wall)
        for packet in self._stream.encode(picture):
            if interval is not None:
                packet.duration = interval
            self.ring.add(packet, True)
        self.encoded += 1


def _new_stream(width: int, height: int) -> Any:
    """An H.264 encoder whose stream is the ring's template. MPEG-TS has no global header: x264
    then repeats its SPS/PPS before every keyframe, so a clip can start on any of them. One thread:
    x264's own would spread a camera's clips over every core."""
    holder = av.open(io.BytesIO(), "w", format="mpegts")
    options = {"preset": "ultrafast", "tune": "zerolatency", "g": str(_MAX_KEYINT), "bf": "0", "threads": "1"}
    return holder.add_stream("libx264", width=width, height=height, time_base=TIME_BASE, options=options)
