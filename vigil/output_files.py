"""Outputs written for the user (anonymised videos and their sidecars, tracking JSON) go through
a hidden temporary beside the target, renamed once complete. `tempfile.mkstemp` creates that
temporary 0600 and the rename keeps the mode, so the finished file would be readable by its owner
only, unlike any file the user's tools write: it is given the mode `open()` would have (0666
less the umask). Private data (face crops, secrets) is vigil/private_files.py's, not this."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["output_temporary"]

_DEFAULT_UMASK = 0o022


def output_temporary(target: Path, suffix: str = "") -> tuple[int, Path]:
    """A new hidden temporary beside `target` (same filesystem: the final rename is atomic), open
    (the caller closes the fd) and moded as a new file of the user's."""
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=suffix)
    os.fchmod(fd, 0o666 & ~_umask())
    return fd, Path(name)


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
