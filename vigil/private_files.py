"""Files at rest that only the service's user may read: face crops, embeddings and secrets.

Modes are given at creation (umask can only narrow them), so nothing is ever briefly readable
by other local users. Existing paths are never re-moded behind the operator's back: `vigil serve`
warns about them instead (`warn_if_exposed`)."""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def make_private_dir(path: Path) -> None:
    """Create `path` and any missing parent as 0700; existing directories are left as they are."""
    missing: list[Path] = []
    for candidate in (path, *path.parents):
        if candidate.exists():
            break
        missing.append(candidate)
    for directory in reversed(missing):
        # exist_ok: another thread or process may create it first (then it chose the mode)
        directory.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)


def create_private_file(path: Path, exclusive: bool = False) -> int:
    """Open `path` for writing, created 0600 if it does not exist; the caller closes the fd."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else 0)
    return os.open(path, flags, PRIVATE_FILE_MODE)


def write_private_bytes(path: Path, data: bytes) -> None:
    """Write a new file `path` (0600); it must not exist yet."""
    with os.fdopen(create_private_file(path, exclusive=True), "wb") as handle:
        handle.write(data)


def replace_private_file(path: Path, data: bytes) -> None:
    """Write `path` (0600) whole or not at all: a temporary file beside it, renamed over it, so a
    reader or a crash never sees half a file. Its folder is created 0700 when missing."""
    make_private_dir(path.parent)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # created 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(name, path)
    finally:
        Path(name).unlink(missing_ok=True)


def exposed(paths: Iterable[Path]) -> list[tuple[Path, int]]:
    """The existing paths that their group or other users can access, with their modes."""
    found: list[tuple[Path, int]] = []
    for path in paths:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            found.append((path, mode))
    return found


def warn_if_exposed(paths: Iterable[Path]) -> list[Path]:
    """Log a warning for each path other local users can read; returns those paths."""
    found = exposed(paths)
    for path, mode in found:
        wanted = PRIVATE_DIR_MODE if path.is_dir() else PRIVATE_FILE_MODE
        log.warning(
            "%s is mode %o: other local users can reach the face data; run chmod %o %s",
            path,
            mode,
            wanted,
            path,
        )
    return [path for path, _ in found]
