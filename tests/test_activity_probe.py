"""A file analysed for activity is probed once: its duration and last frame time come from one
opening of the file and are passed to the sampling, which no longer opens it again to ask."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import pytest

from tests.conftest import SHARED
from vigil.activity.analyse import analyse_file
from vigil.activity.media_times import last_frame_time, media_duration, media_times
from vigil.activity.vision import VisualCueExtractor, visual_samples
from vigil.config import load_settings

ASLEEP = SHARED / "media" / "activity" / "asleep" / "akshint_test_video_sleep.mp4"


def test_one_probe_says_what_the_two_did() -> None:
    times = media_times(ASLEEP)
    assert times.duration == media_duration(ASLEEP) == pytest.approx(7.777, abs=0.01)
    assert times.last_frame_s == last_frame_time(ASLEEP)
    assert 0 < times.last_frame_s < times.duration


def test_the_analysis_opens_the_file_once_per_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(
        data_dir=tmp_path / "data", shared_dir=SHARED, activity={"sample_interval_s": 1.0}
    )
    opened: list[str] = []
    real_open = av.open

    def counting_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(av, "open", counting_open)
    analysis = analyse_file(ASLEEP, settings)
    # The probe, the video decode, the audio decode; the sampling used to probe a second time.
    assert opened.count(str(ASLEEP)) == 3, opened
    assert analysis.samples == 8 and analysis.duration_s == pytest.approx(7.777, abs=0.01)


def test_a_given_last_frame_time_samples_as_a_probed_one(tmp_path: Path) -> None:
    dirs = load_settings(data_dir=tmp_path / "data", shared_dir=SHARED).model_search_dirs()
    with VisualCueExtractor(dirs) as extractor:
        probed = visual_samples(ASLEEP, 1.0, extractor=extractor)
        given = visual_samples(
            ASLEEP, 1.0, extractor=extractor, last_frame_s=media_times(ASLEEP).last_frame_s
        )
    assert [s.t for s in given] == [s.t for s in probed] and len(given) == 8
    assert given == probed
