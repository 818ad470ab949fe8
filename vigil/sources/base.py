"""The frame-source interface: open a stream, yield raw frames, close."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Literal, Protocol

from vigil.types import Image

SourceKind = Literal["file", "rtsp", "http", "rtmp", "usb"]


class RawFrame(Protocol):
    """A decoded frame not yet converted to BGR: conversion is paid only for sampled frames."""

    pts: float

    def to_bgr(self) -> Image: ...

    def thumbnail(self, width: int, height: int) -> Image:
        """An RGB thumbnail, area-averaged; cheap enough for every decoded frame (cut detection)."""
        ...


class FrameSource(ABC):
    """One camera or file. `frames()` raises `SourceError` subclasses on failure."""

    kind: SourceKind

    @property
    def is_live(self) -> bool:
        """Live sources reconnect on failure; files end."""
        return self.kind != "file"

    @abstractmethod
    def open(self) -> None:
        """Connect / open; raises SourceUnavailable (retry may help) or SourceUnsupported."""

    @abstractmethod
    def frames(self) -> Iterator[RawFrame]:
        """Frames in decode order with pts in seconds; ends at end of stream."""

    @abstractmethod
    def close(self) -> None:
        """Release the device or connection; safe to call twice."""

    @property
    def nominal_fps(self) -> float | None:
        """Frame rate the container declares, when known."""
        return None

    @property
    def duration_s(self) -> float | None:
        """Length of a file source in seconds, when known."""
        return None
