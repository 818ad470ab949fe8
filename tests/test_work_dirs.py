"""Temporary folders of runs (vigil/work_dirs.py): removed at the end, and a killed run's folder
removed by the next run of the same kind, never a live run's (a real second process holds one)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from vigil.work_dirs import LOCK_NAME, SETTLED_S, remove_stale_work_dirs, work_dir

PREFIX = "vigil-test-work-"

HOLD = """
import sys, time
from pathlib import Path
from vigil.work_dirs import work_dir
with work_dir(sys.argv[1], Path(sys.argv[2])) as path:
    (path / "segment.mp4").write_bytes(b"x" * 1000)
    print(path, flush=True)
    time.sleep(120)
"""


def start_holder(parent: Path) -> tuple[subprocess.Popen[str], Path]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, PREFIX, str(parent)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    return process, Path(process.stdout.readline().strip())


def test_a_folder_is_private_locked_and_removed_at_the_end(tmp_path: Path) -> None:
    with work_dir(PREFIX, tmp_path) as path:
        assert path.parent == tmp_path and path.name.startswith(PREFIX)
        assert (path.stat().st_mode & 0o777) == 0o700
        assert (path / LOCK_NAME).exists()
        assert remove_stale_work_dirs(PREFIX, tmp_path) == []  # our own, alive
    assert not path.exists()


def test_a_killed_runs_folder_goes_and_a_live_ones_stays(tmp_path: Path) -> None:
    live, live_path = start_holder(tmp_path)
    killed, killed_path = start_holder(tmp_path)
    try:
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait(10)
        assert (killed_path / "segment.mp4").exists()  # SIGKILL: nothing cleaned up
        assert remove_stale_work_dirs(PREFIX, tmp_path) == []  # too fresh to tell from a new one
        settle(killed_path, live_path)
        other = tmp_path / f"{PREFIX}notours"  # not a name mkdtemp makes
        other.mkdir()
        with work_dir(PREFIX, tmp_path) as mine:
            assert not killed_path.exists()
            assert (live_path / "segment.mp4").exists()
            assert other.exists() and mine.exists()
    finally:
        live.kill()
        live.wait(10)
    time.sleep(0.1)
    settle(live_path)
    assert remove_stale_work_dirs(PREFIX, tmp_path) == [live_path]


def settle(*folders: Path) -> None:
    """As if untouched for longer than SETTLED_S."""
    old = time.time() - SETTLED_S - 5
    for folder in folders:
        os.utime(folder, (old, old))
