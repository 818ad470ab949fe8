"""One frame of a video file, for the pages that show or analyse it (the anonymisation's
before/after comparison, the activity's single-frame analysis)."""

from __future__ import annotations

from pathlib import Path

import av
import av.error
from av.container import InputContainer

from vigil.activity.media_times import media_duration_of
from vigil.errors import InvalidError, NotFoundError, SourceUnsupported, media_reason
from vigil.types import Image

__all__ = ["FrameUnavailable", "PastTheEnd", "frame_at", "frame_at_second"]


class FrameUnavailable(NotFoundError):
    """The file has no frame to show (HTTP 404)."""


class PastTheEnd(InvalidError):
    """The time asked for is after the end of the video (HTTP 422)."""


def frame_at(path: Path, at: float) -> Image:
    """The first frame at or after fraction `at` (0..1) of the video's duration (BGR)."""
    try:
        with av.open(str(path)) as container:
            duration = (container.duration or 0) / av.time_base
            return _first_frame_from(container, path, max(0.0, min(1.0, at)) * duration)
    except (av.error.FFmpegError, OSError) as exc:
        raise FrameUnavailable(f"{path.name}: no frame to show ({type(exc).__name__})") from exc


def frame_at_second(path: Path, at_s: float) -> Image:
    """The first frame at or after `at_s` seconds (BGR), checked against the media's duration
    (vigil.activity.media_times) in the same opening of the file: SourceUnsupported when it cannot
    be read as a media, PastTheEnd when `at_s` is after its end, FrameUnavailable without a frame."""
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise SourceUnsupported(f"{path}: cannot read the media ({media_reason(exc)})") from exc
    with container:
        duration = media_duration_of(container, path)
        if at_s > duration:
            raise PastTheEnd(f"at ({at_s:g} s) is past the end of the video ({duration:.2f} s)")
        return _first_frame_from(container, path, at_s)


def _first_frame_from(container: InputContainer, path: Path, target_s: float) -> Image:
    """The first frame at or after `target_s`, else the last one (a target in the last frame)."""
    last: Image | None = None
    try:
        stream = container.streams.video[0]
        if target_s > 0 and stream.time_base is not None:
            container.seek(int(target_s / stream.time_base), stream=stream, backward=True)
        for frame in container.decode(stream):
            last = frame.to_ndarray(format="bgr24")
            if frame.time is None or frame.time >= target_s - 1e-3:
                return last
    except (av.error.FFmpegError, IndexError, OSError) as exc:
        raise FrameUnavailable(f"{path.name}: no frame to show ({type(exc).__name__})") from exc
    if last is None:
        raise FrameUnavailable(f"{path.name}: no frame to show")
    return last
