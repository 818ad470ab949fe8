"""Cues of a file saved as JSON, so training and evaluation can rerun without decoding again
(`--cues-cache DIR`). The file name carries the media's size, mtime and the sampling interval."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from vigil.activity.cues import AudioSample, VisualSample

__all__ = ["CachedCues", "cache_file", "load_cues", "save_cues"]

VERSION = 1


class CachedCues(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = VERSION
    duration: float
    visual: list[VisualSample]
    audio: list[AudioSample]


def cache_file(directory: Path, media: Path, interval_s: float) -> Path:
    stat = media.stat()
    key = f"{media.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{interval_s}|{VERSION}"
    return directory / f"{media.stem}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"


def load_cues(path: Path) -> CachedCues | None:
    """None when there is no usable cache (missing, older format, damaged)."""
    try:
        cues = CachedCues.model_validate_json(path.read_bytes())
    except (OSError, ValidationError):
        return None
    return cues if cues.version == VERSION else None


def save_cues(path: Path, cues: CachedCues) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(cues.model_dump_json())
    os.replace(name, path)
