"""The `anonymize` job kind (issue 17): runs `anonymize_videos` with the settings it was submitted
with, reports per-video progress, and ends done, failed (a broken input, the other still written)
or cancelled."""

from __future__ import annotations

import threading
from pathlib import Path

from tests.conftest import SHARED
from vigil.anonymize.job import KIND, anonymize_params, job_settings, run_anonymize
from vigil.config import VigilSettings, load_settings
from vigil.jobs.kinds import registry
from vigil.jobs.model import ItemState, JobProgress, JobState

CLIP = SHARED / "media" / "video" / "single_face.mp4"


class _Context:
    def __init__(self) -> None:
        self.cancel = threading.Event()
        self.reports: list[JobProgress] = []

    def report(self, progress: JobProgress) -> None:
        self.reports.append(progress)


def _settings(tmp_path: Path, style: str = "pixelate") -> VigilSettings:
    return load_settings(
        data_dir=tmp_path / "data",
        shared_dir=SHARED,
        anonymize={"faces": {"style": style}},
        track={"cpu_workers": 1},
    )


def test_the_kind_is_registered() -> None:
    assert registry()["anonymize"] is KIND


def test_params_keep_the_submitted_settings(tmp_path: Path) -> None:
    params = anonymize_params([CLIP], tmp_path / "out", _settings(tmp_path, "solid"))
    again = KIND.params_model.model_validate_json(params.model_dump_json())
    settings = job_settings(again)
    assert settings.anonymize.faces.style == "solid"
    assert settings.data_dir == (tmp_path / "data").absolute()


def test_a_job_anonymises_and_a_broken_input_fails_alone(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(CLIP.read_bytes()[:3000])
    params = anonymize_params([CLIP, broken], tmp_path / "out", _settings(tmp_path))
    context = _Context()
    finished = run_anonymize(params, context)
    assert finished.state == JobState.FAILED and finished.result is not None
    output = Path(finished.result.done[str(CLIP)])
    assert output.is_file() and output.parent == (tmp_path / "out").absolute()
    assert str(broken) in finished.result.failed and finished.result.failed[str(broken)]
    final = context.reports[-1]
    assert final.overall == 1.0
    states = {item.name: item.state for item in final.items}
    assert states == {str(CLIP): ItemState.DONE, str(broken): ItemState.FAILED}
    overall = [report.overall for report in context.reports]
    assert overall == sorted(overall) and len(overall) > 3, "progress moves forward in steps"
    again = run_anonymize(params, _Context())  # resumable: the output is there, skipped
    assert again.result is not None and str(CLIP) in again.result.skipped


def test_a_cancelled_job_ends_cancelled_and_writes_nothing(tmp_path: Path) -> None:
    context = _Context()
    context.cancel.set()
    finished = run_anonymize(anonymize_params([CLIP], tmp_path / "out", _settings(tmp_path)), context)
    assert finished.state == JobState.CANCELLED
    out = tmp_path / "out"
    assert not out.exists() or not list(out.iterdir()), "nothing written, not even a temporary"
