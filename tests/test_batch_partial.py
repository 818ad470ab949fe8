"""A truncated video (a cut or half-copied MP4) is tracked up to its cut and written dense over
every frame its index lists: placeholders for the lost frames, the video marked partial (seed 000)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.batch_util import batch_settings, clip, load_output
from vigil.batch.job import run_track, track_params
from vigil.batch.runner import run_batch
from vigil.batch.validate import validate_tracking_file
from vigil.batch.video import probe_video
from vigil.jobs.model import JobProgress


@pytest.fixture(scope="module")
def truncated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """expressions (472 frames, index at the start of the file) cut after ~19% of its bytes."""
    data = clip("expressions_640x360.mp4").read_bytes()
    path = tmp_path_factory.mktemp("partial") / "expressions_cut.mp4"
    path.write_bytes(data[: len(data) * 19 // 100])
    return path


def test_probe_reads_a_truncated_file_up_to_its_cut(truncated: Path) -> None:
    info = probe_video(truncated)
    assert info.expected_frames == 472
    assert 50 < info.total_frames < 120
    assert info.listed_frames == 472 and info.truncated_frames == 472 - info.packets


@pytest.mark.parametrize("workers", [1, 2])
def test_truncated_video_is_partial_with_placeholders(truncated: Path, tmp_path: Path, workers: int) -> None:
    readable = probe_video(truncated).total_frames
    report = run_batch([truncated], batch_settings(cpu_workers=workers), out_dir=tmp_path)
    assert report.failed == {} and report.done == [truncated]
    assert "truncated" in report.partial[truncated]
    output = tmp_path / "expressions_cut_tracking.json"
    assert validate_tracking_file(output) == []
    data = load_output(output)
    meta, frames = data["metadata"], data["frames"]
    assert meta["total_frames"] == len(frames) == 472
    assert [f["frame"] for f in frames] == list(range(1, 473))
    assert meta["status"] == "partial"
    assert any(f"frames {readable + 1}-472 are placeholders" in r for r in meta["partial_reasons"])
    assert meta["placeholder_frames"] >= 472 - readable
    # The readable part is tracked (one face); the lost frames are empty placeholders.
    assert sum(bool(f["tracked_objects"]) for f in frames[:readable]) > readable * 0.8
    assert all(f["tracked_objects"] == [] and f.get("active_speakers", []) == [] for f in frames[readable:])
    if "timestamp_ms" in frames[0]:  # placeholders continue the readable frames' clock
        stamps = [f["timestamp_ms"] for f in frames]
        assert stamps == sorted(stamps) and stamps[-1] == pytest.approx(471 * 1000 / meta["fps"], rel=0.02)


def test_a_whole_video_is_complete(tmp_path: Path) -> None:
    report = run_batch([clip("single_face.mp4")], batch_settings(), out_dir=tmp_path)
    meta = load_output(tmp_path / "single_face_tracking.json")["metadata"]
    assert report.partial == {} and meta["status"] == "complete" and "partial_reasons" not in meta


class _Context:
    """A job's context as the job system gives it: progress reports and a cancel flag."""

    def __init__(self) -> None:
        self.cancel = threading.Event()
        self.reports: list[JobProgress] = []

    def report(self, progress: JobProgress) -> None:
        self.reports.append(progress)


def test_a_track_job_names_the_partial_video_in_its_result(truncated: Path, tmp_path: Path) -> None:
    params = track_params([truncated], batch_settings(cpu_workers=1), tmp_path, force=False)
    finished = run_track(params, _Context())
    assert finished.result is not None and finished.result.done == [str(truncated)]
    assert "truncated" in finished.result.partial[str(truncated)]
