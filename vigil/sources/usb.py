"""USB / V4L2 cameras through OpenCV's VideoCapture (PyAV's v4l2 input lacks device probing)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import cv2

from vigil.errors import SourceUnavailable
from vigil.sources.base import FrameSource, RawFrame
from vigil.types import Image


class _ArrayFrame:
    __slots__ = ("_image", "pts")

    def __init__(self, image: Image, pts: float) -> None:
        self._image = image
        self.pts = pts

    def to_bgr(self) -> Image:
        return self._image

    def thumbnail(self, width: int, height: int) -> Image:
        small = cv2.resize(self._image, (width, height), interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(small, cv2.COLOR_BGR2RGB)


class UsbSource(FrameSource):
    kind = "usb"

    def __init__(self, device: int | str) -> None:
        self.device = device
        self._capture: cv2.VideoCapture | None = None

    def open(self) -> None:
        capture = cv2.VideoCapture(self.device, cv2.CAP_V4L2)
        if not capture.isOpened():
            capture.release()
            raise SourceUnavailable(
                f"USB camera {self.device!r} not found or busy "
                "(check `v4l2-ctl --list-devices` and that no other program uses it)"
            )
        self._capture = capture

    @property
    def nominal_fps(self) -> float | None:
        fps = self._capture.get(cv2.CAP_PROP_FPS) if self._capture is not None else 0.0
        return float(fps) if fps and fps > 0 else None

    def frames(self) -> Iterator[RawFrame]:
        if self._capture is None:
            raise RuntimeError("open() the source first")
        start = time.monotonic()
        while True:
            ok, image = self._capture.read()
            if not ok or image is None:
                raise SourceUnavailable(f"USB camera {self.device!r} stopped sending frames (unplugged?)")
            yield _ArrayFrame(image, time.monotonic() - start)

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
        self._capture = None
