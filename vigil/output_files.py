"""Outputs written for the user (anonymised videos and their sidecars, tracking JSON) go through
a hidden temporary beside the target, renamed once complete. `tempfile.mkstemp` creates that
temporary 0600 and the rename keeps the mode, so the finished file would be readable by its owner
only, unlike any file the user's tools write: it is given the mode `open()` would have (0666
less the umask). Private data (face crops, secrets) is vigil/private_files.py's, not this."""

from __future__ import annotations

import fcntl
import logging
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

__all__ = ["output_temporary", "remove_stale_temporaries"]

log = logging.getLogger(__name__)

_DEFAULT_UMASK = 0o022


def output_temporary(target: Path, suffix: str = "") -> tuple[int, Path]:
    """A new hidden temporary beside `target` (same filesystem: the final rename is atomic), open
    and locked (`flock`: ours until the caller closes the fd, never taken for a stale one) and
    moded as a new file of the user's."""
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=suffix)
    os.fchmod(fd, 0o666 & ~_umask())
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd, Path(name)


def remove_stale_temporaries(target: Path, suffixes: Sequence[str]) -> list[Path]:
    """Deletes the temporaries of `target` (ending in one of `suffixes`) that a killed writer left
    beside it, not those a live writer holds locked; returns what was deleted."""
    pattern = _temporary_pattern(target, suffixes)
    removed = []
    for candidate in target.parent.glob(f".{target.name}.*"):
        if not pattern.fullmatch(candidate.name):
            continue
        try:
            with candidate.open("rb") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # fails while a writer uses it
                candidate.unlink()
        except OSError:  # in use, or already gone
            continue
        removed.append(candidate)
    if removed:
        log.info("removed %d temporary file(s) a stopped run left for %s", len(removed), target)
    return removed


def _temporary_pattern(target: Path, suffixes: Sequence[str]) -> re.Pattern[str]:
    # What `tempfile.mkstemp(prefix=".<name>.", suffix=...)` makes: 8 random characters between.
    alternatives = "|".join(re.escape(suffix) for suffix in suffixes)
    return re.compile(rf"\.{re.escape(target.name)}\.[a-z0-9_]{{8}}({alternatives})")


def _umask() -> int:
    """The process's umask, read without setting it (`os.umask` sets it for every thread while it
    answers); Linux gives it in /proc since 4.7."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return _DEFAULT_UMASK
