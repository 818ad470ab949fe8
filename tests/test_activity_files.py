"""File analysis on real labelled clips (../shared/media/activity): the pipeline, the JSON the CLI
writes, the `activity` job with progress, a broken input failing alone, and cancel."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import SHARED
from vigil.activity.analyse import analyse_file
from vigil.activity.job import KIND, ActivityResult, activity_params, run_activity
from vigil.activity.labels import Activity
from vigil.activity.result import ActivityAnalysis
from vigil.cli import app
from vigil.config import VigilSettings, load_settings
from vigil.jobs.kinds import registry
from vigil.jobs.model import ItemState, JobProgress, JobState

ACTIVITY = SHARED / "media" / "activity"
ASLEEP = ACTIVITY / "asleep" / "akshint_test_video_sleep.mp4"
AWAKE = ACTIVITY / "inactive" / "akshint_test_file_awake.mp4"
JUGGLE = ACTIVITY / "busy" / "sam2_default_juggle.mp4"


class _Context:
    def __init__(self) -> None:
        self.cancel = threading.Event()
        self.reports: list[JobProgress] = []

    def report(self, progress: JobProgress) -> None:
        self.reports.append(progress)


def _settings(tmp_path: Path) -> VigilSettings:
    return load_settings(data_dir=tmp_path / "data", shared_dir=SHARED)


@pytest.mark.parametrize(
    ("clip", "expected"), [(ASLEEP, Activity.ASLEEP), (AWAKE, Activity.INACTIVE), (JUGGLE, Activity.BUSY)]
)
def test_dominant_activity_of_labelled_clips(clip: Path, expected: Activity, tmp_path: Path) -> None:
    result = analyse_file(clip, _settings(tmp_path))
    assert result.dominant == expected, result.model_dump_json(indent=1)
    assert result.segments[0].start == 0.0 and result.segments[-1].end == pytest.approx(result.duration_s)
    assert sum(result.distribution.values()) == pytest.approx(1.0, abs=1e-3)
    assert result.samples >= int(result.duration_s / result.sample_interval_s)


def test_the_cli_writes_the_json_of_the_analysis(tmp_path: Path) -> None:
    out = tmp_path / "asleep.json"
    env = {"VIGIL_DATA_DIR": str(tmp_path / "data"), "VIGIL_SHARED_DIR": str(SHARED), "COLUMNS": "200"}
    result = CliRunner().invoke(app, ["activity", "analyse", str(ASLEEP), "--json", str(out)], env=env)
    assert result.exit_code == 0, result.output
    analysis = ActivityAnalysis.model_validate(json.loads(out.read_text()))
    assert analysis.dominant == Activity.ASLEEP
    assert "Asleep" in result.output


def test_the_cli_json_of_several_files_names_the_failed_ones(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_text("not a video\n", encoding="utf-8")
    out = tmp_path / "several.json"
    env = {"VIGIL_DATA_DIR": str(tmp_path / "data"), "VIGIL_SHARED_DIR": str(SHARED), "COLUMNS": "200"}
    args = ["activity", "analyse", str(ASLEEP), str(broken), "--json", str(out)]
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 3, result.output
    written = ActivityResult.model_validate(json.loads(out.read_text()))  # the job's result shape
    assert [a.input for a in written.analyses] == [str(ASLEEP)]
    assert list(written.failed) == [str(broken)] and "Invalid data" in written.failed[str(broken)]


def test_a_broken_file_fails_alone_in_the_job(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(AWAKE.read_bytes()[:2000])
    context = _Context()
    finished = run_activity(activity_params([broken, AWAKE], _settings(tmp_path)), context)
    assert registry()["activity"] is KIND
    assert finished.state == JobState.FAILED and finished.result is not None
    assert str(broken) in finished.result.failed
    assert [a.input for a in finished.result.analyses] == [str(AWAKE)]
    final = context.reports[-1]
    assert final.overall == 1.0
    assert [item.state for item in final.items] == [ItemState.FAILED, ItemState.DONE]
    assert any(0 < (r.items[1].units_done or 0) < (r.items[1].units_total or 0) for r in context.reports)


def test_cancel_stops_the_job(tmp_path: Path) -> None:
    context = _Context()
    original = context.report

    def cancel_after_a_few(progress: JobProgress) -> None:
        original(progress)
        if (progress.items[0].units_done or 0) >= 3:
            context.cancel.set()

    context.report = cancel_after_a_few  # type: ignore[method-assign]
    finished = run_activity(activity_params([JUGGLE, AWAKE], _settings(tmp_path)), context)
    assert finished.state == JobState.CANCELLED
    assert [item.state for item in context.reports[-1].items] == [ItemState.CANCELLED, ItemState.CANCELLED]


def test_single_frame_analysis_reads_one_picture(tmp_path: Path) -> None:
    from vigil.activity.frame import analyse_image
    from vigil.web.video_frames import frame_at

    dirs = _settings(tmp_path).model_search_dirs()
    asleep = analyse_image(frame_at(ASLEEP, 3.0), dirs)
    awake = analyse_image(frame_at(AWAKE, 2.0), dirs)
    assert asleep.activity == Activity.ASLEEP and asleep.cues.eyes_closed == 1.0
    assert awake.activity == Activity.INACTIVE and awake.cues.eyes_closed == 0.0
    assert asleep.people == awake.people == 1
    assert sum(asleep.scores.values()) == pytest.approx(1.0, abs=1e-3)


def test_a_cancelled_files_progress_stays_where_it_stopped() -> None:
    from vigil.activity.job import _Progress

    progress = _Progress(["a.mp4", "b.mp4"])
    progress.set("a.mp4", state=ItemState.DONE, units_done=10, units_total=10)
    progress.set("b.mp4", state=ItemState.RUNNING, units_done=3, units_total=10)
    cancelled = progress.set("b.mp4", state=ItemState.CANCELLED)
    assert cancelled.overall == pytest.approx(0.65)  # not 1.0: the job did not finish
    assert progress.set("b.mp4", state=ItemState.FAILED).overall == 1.0  # a failed file is over
