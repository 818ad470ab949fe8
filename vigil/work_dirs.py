"""Temporary folders for a run's intermediate files (rendered segments, the face pass's tracking
JSON): removed when the run ends, and, when a run was killed (SIGKILL, OOM, a power cut) and could
not remove its own, by the next run that makes one of the same kind. Each folder holds a lock file
its run keeps `flock`ed, so a folder still in use by a live run (another process, another job) is
never taken for a stale one."""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["remove_stale_work_dirs", "work_dir"]

log = logging.getLogger(__name__)
LOCK_NAME = ".vigil-lock"
SETTLED_S = 60.0  # a killed run's folder no longer changes; a new one is minutes from stale


@contextmanager
def work_dir(prefix: str, parent: Path | None = None) -> Iterator[Path]:
    """A new private folder (0700) under `parent` (default: the system's temporary folder), locked
    for this run and removed with its content at the end; stale folders of `prefix` go first."""
    remove_stale_work_dirs(prefix, parent)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    lock = os.open(path / LOCK_NAME, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        os.close(lock)


def remove_stale_work_dirs(prefix: str, parent: Path | None = None) -> list[Path]:
    """Removes this user's folders of `prefix` whose run is gone (their lock is free); returns them."""
    root = Path(parent or tempfile.gettempdir())
    pattern = re.compile(rf"{re.escape(prefix)}[a-z0-9_]{{8}}")  # what mkdtemp makes of the prefix
    removed = []
    for candidate in root.glob(f"{prefix}*"):
        if pattern.fullmatch(candidate.name) and _stale(candidate):
            shutil.rmtree(candidate, ignore_errors=True)
            removed.append(candidate)
    if removed:
        log.info("removed %d temporary folder(s) a stopped run left: %s", len(removed), removed[0].name)
    return removed


def _stale(folder: Path) -> bool:
    """A folder of ours whose lock no process holds, untouched for `SETTLED_S`. One without a lock
    file is not ours; a fresh one may be between its lock file's creation and its lock: both are
    left alone."""
    try:
        info = folder.lstat()
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            return False
        if time.time() - info.st_mtime < SETTLED_S:
            return False
        fd = os.open(folder / LOCK_NAME, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # fails while its run is alive
    except OSError:
        return False
    finally:
        os.close(fd)  # releases the lock taken, if any
    return True
