"""Freed memory kept for the next frame (vigil/malloc_tuning.py): applied by the workers'
initializers (the batch tracker's and the anonymiser's rendering), seen as fewer page faults for
the same frame-sized buffers, each in a new process (glibc)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from vigil.malloc_tuning import keep_freed_memory

_NAMES = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")
# A 720p frame's buffers (BGR, a float copy, a half-size one), made and freed 50 times.
_FRAMES = (
    "import resource, numpy as np\n"
    "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
    "for _ in range(50):\n"
    "    a = np.ones((720, 1280, 3), np.uint8); b = a.astype(np.float32)\n"
    "    c = np.ones((360, 640, 3), np.uint8)\n"
    "    del a, b, c\n"
    "print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)\n"
)


def _faults(setup: str) -> int:
    code = setup + "\n" + _FRAMES
    command = [sys.executable, "-c", code]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=120)
    return int(done.stdout.split()[-1])


@pytest.mark.parametrize(
    "initializer",
    [
        "from vigil.batch.worker import init_worker\ninit_worker()",
        "from vigil.anonymize.chunks import _init_worker\n_init_worker(None, None, None)",
    ],
)
def test_a_workers_initializer_keeps_freed_memory(initializer: str) -> None:
    plain = _faults("import vigil.batch.worker, vigil.anonymize.chunks")  # the same imports
    tuned = _faults(initializer)
    assert tuned < 0.8 * plain, (tuned, plain)


def test_the_users_own_settings_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _NAMES:
        monkeypatch.delenv(name, raising=False)
    assert keep_freed_memory()  # glibc's mallopt here
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "1048576")
    assert not keep_freed_memory()
