"""Worker planning and warm workers (issue 16, defect 7): short work gets one worker (no spawn),
longer work more; a server's consecutive track jobs reuse the same warm worker processes, which
stop after the idle time."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from tests.batch_util import batch_settings
from tests.conftest import SHARED
from vigil.batch.job import run_track, track_params
from vigil.batch.planning import FRAMES_PER_WORKER, planned_workers, work_estimate
from vigil.batch.pool import WARM_POOL
from vigil.jobs.model import JobProgress, JobState

VIDEO = SHARED / "media" / "video"


def test_work_estimate_reads_headers_and_weighs_pixels() -> None:
    assert work_estimate([VIDEO / "single_face.mp4"]) == 72  # 640x360: one frame, one unit
    crowd = work_estimate([VIDEO / "crowd_1080p.mp4"])
    assert crowd > 2 * 105, "a 1080p frame costs several 360p ones"
    assert work_estimate([Path("/nonexistent.mp4")]) == 0


def test_short_work_gets_one_worker_long_work_more(tmp_path: Path) -> None:
    assert planned_workers(2, [VIDEO / "single_face.mp4"]) == 1
    assert planned_workers(8, [VIDEO / "single_face.mp4"]) == 1
    assert planned_workers(2, [VIDEO / "hamilton_640x360.mp4"]) == 2
    many = [VIDEO / "single_face.mp4"] * 6  # 432 frames: three workers' worth
    assert planned_workers(8, many) == -(-432 // FRAMES_PER_WORKER)
    assert planned_workers(1, many) == 1
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    assert planned_workers(4, [broken]) == 1


class _Context:
    def __init__(self) -> None:
        self.cancel = threading.Event()

    def report(self, progress: JobProgress) -> None:
        pass


@pytest.mark.slow
def test_consecutive_jobs_share_warm_workers_until_idle(tmp_path: Path) -> None:
    settings = batch_settings(cpu_workers=2, engine="yunet", warm_idle_s=2.0)
    video = VIDEO / "single_face.mp4"
    first = run_track(track_params([video], settings, tmp_path / "a", force=False), _Context())
    assert first.state == JobState.DONE
    warm = WARM_POOL.pids
    # Spawned pools start workers on demand: one or two for this short clip.
    assert 1 <= len(warm) <= 2 and os.getpid() not in warm, "the job ran in worker processes"
    started = WARM_POOL.started
    second = run_track(track_params([video], settings, tmp_path / "b", force=False), _Context())
    assert second.state == JobState.DONE
    assert WARM_POOL.started == started and warm <= WARM_POOL.pids, "the second job reused the workers"
    warm = WARM_POOL.pids
    deadline = time.monotonic() + 20
    while WARM_POOL.pids and time.monotonic() < deadline:
        time.sleep(0.2)
    assert WARM_POOL.pids == set(), "the idle pool stopped"
    for pid in warm:
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(pid), f"worker {pid} still running"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def test_run_batch_plans_its_pool_unless_a_count_was_set(tmp_path: Path) -> None:
    import json

    from vigil.batch.runner import run_batch
    from vigil.batch.settings import BatchSettings

    planned = BatchSettings(models_dir=SHARED / "models", engine="yunet")  # cpu_workers not set
    assert "cpu_workers" not in planned.model_fields_set
    report = run_batch([VIDEO / "single_face.mp4"], planned, out_dir=tmp_path / "planned")
    assert report.done == [VIDEO / "single_face.mp4"]
    metadata = json.loads((tmp_path / "planned" / "single_face_tracking.json").read_text())["metadata"]
    assert metadata["workers"] == 1, "72 frames do not repay a second worker's start"
    if (os.cpu_count() or 1) >= 2:  # a count the user set is kept
        run_batch(
            [VIDEO / "single_face.mp4"],
            batch_settings(cpu_workers=2, engine="yunet"),
            out_dir=tmp_path / "set",
        )
        metadata = json.loads((tmp_path / "set" / "single_face_tracking.json").read_text())["metadata"]
        assert metadata["workers"] == 2
