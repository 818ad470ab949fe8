"""One frame of a video file, for the pages that show or analyse it (the anonymisation's
before/after comparison, the activity's single-frame analysis)."""

from __future__ import annotations

from pathlib import Path

import av
import av.error

from vigil.errors import NotFoundError
from vigil.types import Image


class FrameUnavailable(NotFoundError):
    """The file has no frame to show (HTTP 404)."""


def frame_at(path: Path, at: float) -> Image:
    """The first frame at or after fraction `at` (0..1) of the video's duration (BGR)."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            duration = (container.duration or 0) / av.time_base
            target = max(0.0, min(1.0, at)) * duration
            if target > 0 and stream.time_base is not None:
                container.seek(int(target / stream.time_base), stream=stream, backward=True)
            last: Image | None = None
            for frame in container.decode(stream):
                last = frame.to_ndarray(format="bgr24")
                if frame.time is None or frame.time >= target - 1e-3:
                    return last
            if last is not None:
                return last
    except (av.error.FFmpegError, IndexError, OSError) as exc:
        raise FrameUnavailable(f"{path.name}: no frame to show ({type(exc).__name__})") from exc
    raise FrameUnavailable(f"{path.name}: no frame to show")
