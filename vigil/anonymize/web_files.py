"""Files behind the anonymisation API: uploads kept under `<data_dir>/anonymize/uploads`, outputs
under `<data_dir>/anonymize/outputs`, and a side-by-side before/after frame for the UI.

Nothing here trusts a name from a request: an upload gets a random folder and a cleaned file name,
and a job's files are found from its stored result, then checked to be under the data dir."""

from __future__ import annotations

import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import av
import av.error
import cv2
import numpy as np

from vigil.batch.video import probe_video
from vigil.errors import InvalidError, NotFoundError, SourceError
from vigil.private_files import make_private_dir
from vigil.types import Image

SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
COMPARE_HEIGHT = 360


class UploadRefused(InvalidError):
    """An uploaded file that is not a readable video (HTTP 422)."""


class UploadNotFound(NotFoundError):
    """No such upload (HTTP 404)."""


class FrameUnavailable(NotFoundError):
    """The file has no frame to show (HTTP 404)."""


@dataclass(frozen=True)
class StoredUpload:
    id: str
    name: str
    path: Path
    frames: int
    width: int
    height: int
    fps: float


def uploads_dir(data_dir: Path) -> Path:
    return data_dir / "anonymize" / "uploads"


def outputs_dir(data_dir: Path) -> Path:
    return data_dir / "anonymize" / "outputs"


def clean_name(filename: str) -> str:
    """A file name safe to create: no folders, no odd characters, a video extension kept."""
    name = SAFE_NAME.sub("_", Path(filename.replace("\\", "/")).name).strip("._") or "video"
    return name[-120:]


def new_upload_path(data_dir: Path, filename: str) -> tuple[str, Path]:
    upload_id = uuid.uuid4().hex
    folder = uploads_dir(data_dir) / upload_id
    make_private_dir(folder)
    return upload_id, folder / clean_name(filename)


def accept_upload(upload_id: str, path: Path) -> StoredUpload:
    """Checks the written file by its content (a video PyAV can read); removes it when it is not."""
    try:
        info = probe_video(path)
    except SourceError as exc:
        shutil.rmtree(path.parent, ignore_errors=True)
        raise UploadRefused(f"{path.name}: not a readable video ({_reason(exc, path)})") from exc
    return StoredUpload(upload_id, path.name, path, info.total_frames, info.width, info.height, info.fps)


def find_upload(data_dir: Path, upload_id: str) -> Path:
    if not re.fullmatch(r"[0-9a-f]{32}", upload_id):
        raise UploadNotFound(f"no upload {upload_id[:40]!r}")
    folder = uploads_dir(data_dir) / upload_id
    files = sorted(folder.iterdir()) if folder.is_dir() else []
    if not files:
        raise UploadNotFound(f"no upload {upload_id}")
    return files[0]


def inside(path: Path, root: Path) -> bool:
    try:
        return path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):
        return False


def compare_jpeg(before: Path, after: Path, at: float, quality: int = 85) -> bytes:
    """The frame at fraction `at` of the input beside the same frame of its anonymised output."""
    left, right = frame_at(before, at), frame_at(after, at)
    pair = np.hstack([_to_height(left), np.full((COMPARE_HEIGHT, 8, 3), 255, np.uint8), _to_height(right)])
    ok, buffer = cv2.imencode(".jpg", pair, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise FrameUnavailable("cannot encode the comparison")
    return bytes(buffer.tobytes())


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


def _to_height(image: Image) -> Image:
    height, width = image.shape[:2]
    size = (max(1, round(width * COMPARE_HEIGHT / height)), COMPARE_HEIGHT)
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _reason(exc: Exception, path: Path) -> str:
    """The decoder's words without the server's paths (its messages name the file, sometimes twice)."""
    text = str(exc).replace(str(path), path.name).replace(str(path.parent), "")
    return text.removeprefix(f"{path.name}: ")
