"""Which videos a batch run processes, and where each one's `<stem>_tracking.json` goes.

Inputs (seed 000 STEP5): video files, folders searched recursively (this covers the seed's
project layout `<base>/<project>/docs/*.mp4`), and the seed's `--videos_json_path` file, a JSON
list of path strings. Relative entries in that file are resolved against the current directory,
as the seed's manager did (its generator wrote cwd-relative paths).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from vigil.errors import InputError

VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm"})
TRACKING_SUFFIX = "_tracking.json"


def is_video_name(path: Path) -> bool:
    """A video by extension (any case). Hidden files such as macOS `._clip.mp4` resource forks
    are not videos even though their extension says so."""
    return path.suffix.lower() in VIDEO_EXTENSIONS and not path.name.startswith(".")


def discover_videos(paths: Sequence[Path], videos_json: Path | None = None) -> list[Path]:
    """Absolute video paths from files, folders and an optional JSON list; deduplicated by
    resolved path (symlinks, `a/../a`), sorted. Raises InputError on a missing path, an
    explicit non-video file, or a malformed JSON list."""
    inputs = list(paths)
    if videos_json is not None:
        inputs.extend(read_videos_json(videos_json))
    return _dedup_sorted(video for path in inputs for video in _expand(path))


def read_videos_json(path: Path) -> list[Path]:
    """The seed's `--videos_json_path` file: a JSON list of path strings."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"videos JSON file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read videos JSON file {path}: {exc}") from None
    try:
        entries = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"videos JSON file {path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    if not isinstance(entries, list):
        raise InputError(
            f"videos JSON file {path} must contain a list of path strings, "
            f"found a JSON {type(entries).__name__}"
        )
    for index, entry in enumerate(entries):
        if not isinstance(entry, str) or not entry.strip():
            raise InputError(
                f"videos JSON file {path}: entry {index} must be a non-empty path string, got {entry!r}"
            )
    return [Path(entry) for entry in entries]


def tracking_output_path(video: Path, out_dir: Path | None) -> Path:
    """`<stem>_tracking.json` next to the video, or in `out_dir` when given."""
    return (out_dir if out_dir is not None else video.parent) / f"{video.stem}{TRACKING_SUFFIX}"


def split_pending(videos: Sequence[Path], out_dir: Path | None, force: bool) -> tuple[list[Path], list[Path]]:
    """(todo, skipped): a video whose output file exists is skipped unless `force`. Raises
    InputError when two videos would write the same output (same stem in one folder, or in
    `out_dir`), since one result would silently overwrite the other."""
    _check_output_collisions(videos, out_dir)
    todo: list[Path] = []
    skipped: list[Path] = []
    for video in videos:
        done = tracking_output_path(video, out_dir).is_file()
        (skipped if done and not force else todo).append(video)
    return todo, skipped


def _expand(path: Path) -> Iterator[Path]:
    absolute = Path(os.path.abspath(path))
    if absolute.is_dir():
        yield from _walk_videos(absolute)
    elif absolute.is_file():
        if not is_video_name(absolute):
            raise InputError(
                f"{path} is not a video file (expected one of {', '.join(sorted(VIDEO_EXTENSIONS))})"
            )
        yield absolute
    else:
        raise InputError(f"input path {path} does not exist")


def _walk_videos(folder: Path) -> Iterator[Path]:
    # os.walk does not follow directory symlinks, so a link loop cannot hang the scan.
    for root, dirs, files in os.walk(folder):
        dirs[:] = [name for name in dirs if not name.startswith(".")]  # .git, .cache, ...
        for name in files:
            candidate = Path(root, name)
            if is_video_name(candidate) and candidate.is_file():
                yield candidate


def _dedup_sorted(videos: Iterable[Path]) -> list[Path]:
    """One path per real file: the real path itself when it was given, else the first link name."""
    by_target: dict[Path, list[Path]] = {}
    for video in set(videos):
        by_target.setdefault(video.resolve(), []).append(video)
    return sorted(min(names, key=lambda name: (name != target, name)) for target, names in by_target.items())


def _check_output_collisions(videos: Sequence[Path], out_dir: Path | None) -> None:
    owners: dict[Path, Path] = {}
    for video in videos:
        output = Path(os.path.abspath(tracking_output_path(video, out_dir)))
        other = owners.setdefault(output, video)
        if other != video:
            raise InputError(
                f"{other} and {video} would both write {output}; "
                "rename one of them or process them with different --out-dir values"
            )
