"""Saved clips as files, in `<data_dir>/clips/id=<camera id>/` (vigil/activity/clip.py writes them):
listing them (size and save time from the file system, duration and codecs probed by PyAV, the
start from the name), deleting one, and pruning after each save (older than
`activity.clips_keep_days`, beyond `activity.clips_max_mb` a camera)."""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import av

from vigil.activity.clip import CLIP_NAME, ClipNotFound, clip_path, clips_root

__all__ = ["ClipFile", "ClipRetention", "delete_clip", "prune_clips", "saved_clips"]

log = logging.getLogger(__name__)

_NAME_STAMP = re.compile(r"_(\d{8}T\d{6})Z_[0-9.e+-]+s(?:-\d+)?\.mp4$")  # publish_clip's names
STALE_PART_S = 3600.0  # a temporary older than this was left by a crash (a save takes milliseconds)


def delete_clip(folder: Path, name: str) -> None:
    """Removes a saved clip of a camera's folder; ClipNotFound when there is none by that name (or
    it just went)."""
    try:
        clip_path(folder, name).unlink()
    except FileNotFoundError as exc:  # deleted between the check and the unlink
        raise ClipNotFound(f"no clip named {name!r} for this camera") from exc


@dataclass(frozen=True)
class ClipFile:
    """A saved clip as its file tells it."""

    path: Path
    size: int  # bytes
    saved: float  # when it was written (the file's mtime, wall clock)
    start: float | None  # wall clock of its first instant, from its name (to the second)
    duration_s: float | None  # None: the file cannot be read as a video
    video_codec: str | None
    audio_codec: str | None  # None: no sound (or unreadable)


def saved_clips(folder: Path) -> list[ClipFile]:
    """The clips in a camera's folder, newest saved first (none when the folder is missing)."""
    out: list[ClipFile] = []
    for path, stat in _clip_files(folder):
        duration, video, audio = _probe(str(path), stat.st_size, stat.st_mtime_ns)
        start = _name_start(path.name)
        out.append(ClipFile(path, stat.st_size, stat.st_mtime, start, duration, video, audio))
    out.sort(key=lambda c: (c.saved, c.path.name), reverse=True)
    return out


def _clip_files(folder: Path) -> list[tuple[Path, os.stat_result]]:
    """The folder's clip files with their stat (a file removed meanwhile is skipped)."""
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return []
    out: list[tuple[Path, os.stat_result]] = []
    for entry in entries:
        if not CLIP_NAME.match(entry.name) or entry.name.startswith("."):
            continue
        try:
            if entry.is_file(follow_symlinks=False):
                out.append((Path(entry.path), entry.stat(follow_symlinks=False)))
        except FileNotFoundError:
            continue
    return out


def _name_start(name: str) -> float | None:
    match = _NAME_STAMP.search(name)
    if match is None:
        return None
    return datetime.strptime(match.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=UTC).timestamp()


@lru_cache(maxsize=4096)
def _probe(path: str, size: int, mtime_ns: int) -> tuple[float | None, str | None, str | None]:
    """Duration and codecs of a saved clip, read once per file version (size and mtime are part
    of the key): opening an MP4 reads its header only, about a millisecond."""
    try:
        with av.open(path) as container:
            video = next(iter(container.streams.video), None)
            audio = next(iter(container.streams.audio), None)
            duration = None if container.duration is None else container.duration / av.time_base
            return (
                None if duration is None else round(duration, 3),
                None if video is None else video.codec_context.name,
                None if audio is None else audio.codec_context.name,
            )
    except (av.error.FFmpegError, OSError):
        return None, None, None


@dataclass(frozen=True)
class ClipRetention:
    """How long clips stay (`activity.clips_keep_days`, `clips_max_mb`; 0: no limit)."""

    keep_days: float
    max_bytes: int  # per camera folder


def prune_clips(data_dir: Path, folder: Path, retention: ClipRetention, keep: Path) -> list[Path]:
    """After a save to `folder`: removes clips saved more than `keep_days` ago (every camera's
    folder: a removed camera's clips expire too), then the oldest of `folder` while its clips
    weigh more than `max_bytes`, and temporaries a crash left behind. Never `keep` (the clip just
    saved, even alone over the limit, nor a clip saved after it: a save running at the same time
    keeps its own). A file or folder that cannot be read or removed is logged and left: the save
    that called this has succeeded whatever happens here. Returns the clips removed."""
    try:
        return _prune(data_dir, folder, retention, keep)
    except OSError as exc:  # an unreadable folder: the clip is saved, pruning waits for the next save
        log.warning("clips could not be pruned: %s", exc)
        return []


def _prune(data_dir: Path, folder: Path, retention: ClipRetention, keep: Path) -> list[Path]:
    removed: list[Path] = []
    now = time.time()
    root = clips_root(data_dir)
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink()) if root.is_dir() else []
    if retention.keep_days > 0:
        oldest = now - retention.keep_days * 86400.0
        for each in folders:
            removed += _remove([p for p, st in _clip_files(each) if st.st_mtime < oldest and p != keep])
    if retention.max_bytes > 0:
        files = sorted(_clip_files(folder), key=lambda f: (f[0] == keep, f[1].st_mtime), reverse=True)
        kept_at = next((stat.st_mtime for path, stat in files if path == keep), now)
        total, over = 0, []
        for path, stat in files:  # `keep` first, then newest first
            total += stat.st_size
            if total > retention.max_bytes and path != keep and stat.st_mtime < kept_at:
                over.append(path)
        removed += _remove(over)
    for each in folders:
        _remove_stale_parts(each, now)
    return removed


def _remove(paths: list[Path]) -> list[Path]:
    removed = []
    for path in paths:
        try:
            path.unlink()
        except FileNotFoundError:
            continue  # removed meanwhile (a delete, another save's pruning)
        except OSError as exc:
            log.warning("clip %s could not be pruned: %s", path, exc)
            continue
        removed.append(path)
    if removed:
        log.info("pruned %d clip(s): %s", len(removed), ", ".join(p.name for p in removed))
    return removed


def _remove_stale_parts(folder: Path, now: float) -> None:
    for part in folder.glob(".*.mp4.part"):
        try:
            if part.stat().st_mtime < now - STALE_PART_S:
                part.unlink()
        except OSError:
            continue
