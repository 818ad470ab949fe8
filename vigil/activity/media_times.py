"""How long a media file is, read once: the whole media's duration (the longer of its video and
audio streams, the span the analysis covers) and when its last video frame starts (the last time
a frame can be sampled at). The file analysis probes a file once and passes both on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import av.error
from av.container import InputContainer

from vigil.errors import SourceUnsupported, media_reason

__all__ = ["MediaTimes", "media_duration_of", "media_times"]


@dataclass(frozen=True)
class MediaTimes:
    duration: float  # seconds of the media
    last_frame_s: float  # when the last video frame starts (0 when unknown)


def media_times(path: Path) -> MediaTimes:
    """Both from one opening of the file; SourceUnsupported when it cannot be read, says nothing of
    its length, or has no video stream."""
    try:
        with av.open(str(path)) as container:
            return MediaTimes(media_duration_of(container, path), _last_frame(container, path))
    except (av.error.FFmpegError, OSError) as exc:
        raise SourceUnsupported(f"{path}: cannot read the media ({media_reason(exc)})") from exc


def media_duration_of(container: InputContainer, path: Path) -> float:
    """Seconds of the media of an open container (the longer of its video and audio streams), for
    a caller that opens the file for more than this (vigil.web.video_frames)."""
    if container.duration:
        return float(container.duration / av.time_base)
    spans = [float(s.duration * s.time_base) for s in container.streams if s.duration and s.time_base]
    if not spans:
        raise SourceUnsupported(f"{path}: the container does not say how long it is")
    return max(spans)


def _last_frame(container: InputContainer, path: Path) -> float:
    if not container.streams.video:
        raise SourceUnsupported(f"{path}: no video stream in this file")
    stream = container.streams.video[0]
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    else:
        duration = (container.duration or 0) / 1_000_000
    period = 1.0 / float(stream.average_rate) if stream.average_rate else 0.0
    return max(0.0, duration - period)
