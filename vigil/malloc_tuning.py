"""Freed memory kept for the next frame in the processes that go through video frames (glibc's
malloc).

Every 720p frame goes through several buffers of a few MB (the BGR copy, the encoder's input,
the persons pass's arrays). With glibc's defaults the memory freed at the top of the heap is
given back to the system as soon as it passes the trim threshold, and taken again for the next
frame, page by page: 1.13 million page faults for 300 frames of hamilton at 720p with clothes
recoloured (~3,800 a frame), ~11% of the run's CPU as system time. Keeping up to
`TRIM_THRESHOLD` freed (and serving blocks under `MMAP_THRESHOLD` from the heap) brought that to
0.12 million. The pixels do not change: only where the buffers live.

`keep_freed_memory` is called where a process starts working on frames: the worker
initializers of the batch tracker (vigil/batch/worker.py) and of the anonymiser's rendering
(vigil/anonymize/chunks.py), locally or in Ray actors, and `vigil anonymize` for its own process."""

from __future__ import annotations

import ctypes
import os

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "keep_freed_memory"]

TRIM_THRESHOLD = 256 << 20  # bytes freed at the heap's top kept before giving them back
MMAP_THRESHOLD = 32 << 20  # blocks from this size get their own mapping (glibc's dynamic maximum)
_VARIABLES = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")
# mallopt's parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def keep_freed_memory() -> bool:
    """Applies the settings to this process's malloc; False where it is not glibc's, or where
    the user's environment set them (glibc read those when the process started)."""
    if any(name in os.environ for name in _VARIABLES):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)) and bool(
        mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    )
