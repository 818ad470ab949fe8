"""Cues of a file saved as JSON, so training and evaluation can rerun without decoding again
(`--cues-cache DIR`). The file name carries the media's size, mtime and the sampling interval."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from vigil.activity.cues import AudioSample, VisualSample
from vigil.private_files import replace_private_file

__all__ = ["CachedCues", "cache_file", "load_cues", "save_cues"]

# 2: cues from the chunk plan of any worker count (parallel.py); 3: no models on a chunk's warm-up frame
VERSION = 3


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
    replace_private_file(path, cues.model_dump_json().encode())  # cues describe a person: 0600
