"""Video uploads of the web API, shared by every page that analyses a file (anonymisation,
activity): kept under `<data_dir>/anonymize/uploads/<id>/` (the folder keeps its first name so
existing uploads stay found), bounded by `web.max_video_upload_mb` (SecurityMiddleware, 413).

Nothing here trusts a name from a request: an upload gets a random folder and a cleaned file name.
A job names its input files in its parameters (`JobKind.inputs`), so an upload still used by a
queued or running job of any kind is not deleted (409)."""

from __future__ import annotations

import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from vigil.batch.video import probe_video
from vigil.config import VigilSettings
from vigil.errors import ConflictError, InvalidError, NotFoundError, SourceError
from vigil.jobs.manager import JobManager
from vigil.jobs.model import ACTIVE_STATES, JobRecord
from vigil.private_files import make_private_dir
from vigil.web.camera_policy import CameraPolicy

UPLOAD_PATH = "/api/anonymize/uploads"  # its first path, kept for API clients
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
UPLOAD_ID = re.compile(r"[0-9a-f]{32}")


class UploadRefused(InvalidError):
    """An uploaded file that is not a readable video (HTTP 422)."""


class UploadNotFound(NotFoundError):
    """No such upload (HTTP 404)."""


class UploadInUse(ConflictError):
    """A queued or running job still reads the upload (HTTP 409)."""


@dataclass(frozen=True)
class StoredUpload:
    id: str
    name: str
    path: Path
    frames: int
    width: int
    height: int
    fps: float


class VideoSource(BaseModel):
    """One video: an upload id, or a path inside the server's media roots."""

    model_config = ConfigDict(extra="forbid")

    upload: str | None = Field(None, description=f"An id from POST {UPLOAD_PATH}")
    path: str | None = Field(None, max_length=4096, description="A video file inside the media roots")

    @model_validator(mode="after")
    def _one_source(self) -> VideoSource:
        if (self.upload is None) == (self.path is None):
            raise ValueError("give exactly one of upload or path")
        if self.path is not None and "\0" in self.path:
            raise ValueError("path must not contain NUL characters")
        return self

    def video(self, settings: VigilSettings) -> Path:
        """The file: the upload's (404 when unknown), or the path checked against the media roots
        (422, the same words whether the file exists or not)."""
        if self.upload is not None:
            return find_upload(settings.data_dir, self.upload)
        assert self.path is not None
        CameraPolicy.of(settings).check(self.path)
        return Path(self.path).resolve()


def uploads_dir(data_dir: Path) -> Path:
    return data_dir / "anonymize" / "uploads"


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
    if not UPLOAD_ID.fullmatch(upload_id):
        raise UploadNotFound(f"no upload {upload_id[:40]!r}")
    folder = uploads_dir(data_dir) / upload_id
    files = sorted(folder.iterdir()) if folder.is_dir() else []
    if not files:
        raise UploadNotFound(f"no upload {upload_id}")
    return files[0]


def jobs_using(jobs: JobManager, path: Path) -> list[JobRecord]:
    """The queued, running or cancelling jobs, of any kind, that name `path` among their inputs."""
    target = path.resolve()
    users = []
    for record in jobs.list():
        kind = jobs.kinds.get(record.kind)
        if record.state not in ACTIVE_STATES or kind is None:
            continue
        if any(Path(name).resolve() == target for name in kind.inputs_of(record)):
            users.append(record)
    return users


def delete_upload(data_dir: Path, upload_id: str, jobs: JobManager) -> None:
    """Removes an upload's folder unless a job still reads it (a tracking job without an output
    folder writes next to its video, so the folder may hold more than the upload)."""
    path = find_upload(data_dir, upload_id)
    users = jobs_using(jobs, path)
    if users:
        kinds = ", ".join(sorted({record.kind for record in users}))
        raise UploadInUse(f"a job is still using this upload ({kinds}: {', '.join(r.id for r in users)})")
    shutil.rmtree(path.parent)


def _reason(exc: Exception, path: Path) -> str:
    """The decoder's words without the server's paths (its messages name the file, sometimes twice)."""
    text = str(exc).replace(str(path), path.name).replace(str(path.parent), "")
    return text.removeprefix(f"{path.name}: ")
