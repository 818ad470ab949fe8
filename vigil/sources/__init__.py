"""Frame sources: `open_source(url)` picks the implementation from the URL."""

from __future__ import annotations

import re
from pathlib import Path

from vigil.config import RuntimeConfig
from vigil.sources.av_source import AvSource, PacketTap
from vigil.sources.base import FrameSource, RawFrame, SourceKind
from vigil.sources.usb import UsbSource

__all__ = [
    "FrameSource",
    "PacketTap",
    "RawFrame",
    "SourceKind",
    "camera_name",
    "open_source",
    "source_kind",
]

_USB = re.compile(r"^(?:usb:)?(\d+)$|^(/dev/video\d+)$")


def source_kind(url: str) -> SourceKind:
    lower = url.lower()
    if lower.startswith(("rtsp://", "rtsps://")):
        return "rtsp"
    if lower.startswith(("http://", "https://")):
        return "http"
    if lower.startswith(("rtmp://", "rtmps://")):
        return "rtmp"
    if _USB.match(url):
        return "usb"
    return "file"


def open_source(
    url: str, runtime: RuntimeConfig, analysis_fps: float | None = None, tap: PacketTap | None = None
) -> FrameSource:
    """Build (not open) the source for `url`. With `analysis_fps`, decoders may skip frames
    that the sampler cannot need (`runtime.skip_nonref_frames`). `tap` sees the compressed packets
    (video and first audio stream) of PyAV sources; USB cameras have none."""
    kind = source_kind(url)
    if kind == "usb":
        match = _USB.match(url)
        assert match is not None
        return UsbSource(int(match.group(1)) if match.group(1) else match.group(2))
    path = url[len("file://") :] if url.startswith("file://") else url
    return AvSource(
        path,
        kind,
        open_timeout_s=runtime.open_timeout_s,
        read_timeout_s=runtime.read_timeout_s,
        decode_threads=runtime.decode_threads,
        skip_nonref_below_fps=analysis_fps if runtime.skip_nonref_frames else None,
        tap=tap,
    )


def camera_name(url: str) -> str:
    """A short readable id: file stem, host/path for streams, usbN for USB."""
    kind = source_kind(url)
    if kind == "file":
        return Path(url).stem or "file"
    if kind == "usb":
        return "usb" + re.sub(r"\D", "", url)
    # Scheme, credentials and query string dropped: a query may hold credentials (?user=…&pwd=…).
    rest = re.sub(r"^[a-z]+://([^/]*@)?", "", url.split("?", 1)[0].split("#", 1)[0], flags=re.I)
    if kind == "rtmp":
        rest = re.sub(r"^([^/]*/[^/]*)/.*$", r"\1", rest)  # host/app: the rest is the stream key
    return re.sub(r"[^A-Za-z0-9._-]+", "_", rest).strip("_") or kind
