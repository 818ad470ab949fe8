"""The anonymiser's malloc settings: set for the worker processes started inside
`worker_environment` only, and applied to this process by `tune_this_process` (glibc)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from vigil.anonymize.memory import MMAP_THRESHOLD, TRIM_THRESHOLD, tune_this_process, worker_environment

_NAMES = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")
_SHOW = "import os; print(os.environ.get('MALLOC_TRIM_THRESHOLD_'), os.environ.get('MALLOC_MMAP_THRESHOLD_'))"


def _child_sees() -> str:
    return subprocess.run(
        [sys.executable, "-c", _SHOW], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_worker_processes_get_the_settings_and_the_environment_is_restored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in _NAMES:
        monkeypatch.delenv(name, raising=False)
    with worker_environment():
        assert _child_sees() == f"{TRIM_THRESHOLD} {MMAP_THRESHOLD}"
    assert not any(name in os.environ for name in _NAMES)
    assert _child_sees() == "None None"


def test_a_value_already_set_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1234")
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    with worker_environment():
        assert _child_sees() == f"1234 {MMAP_THRESHOLD}"
    assert os.environ["MALLOC_TRIM_THRESHOLD_"] == "1234"
    assert "MALLOC_MMAP_THRESHOLD_" not in os.environ


def test_this_process_is_tuned_unless_the_environment_did_it(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _NAMES:
        monkeypatch.delenv(name, raising=False)
    assert tune_this_process()  # glibc's mallopt here
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "1048576")
    assert not tune_this_process()
