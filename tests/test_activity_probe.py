"""A file analysed for activity is probed once: its duration and last frame time come from one
opening of the file and are passed to the sampling, which no longer opens it again to ask."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from tests.conftest import SHARED
from vigil.activity.analyse import analyse_file
from vigil.activity.media_times import media_times
from vigil.activity.vision import VisualCueExtractor, visual_samples
from vigil.config import load_settings
from vigil.errors import SourceUnsupported
from vigil.web.video_frames import PastTheEnd, frame_at, frame_at_second

ASLEEP = SHARED / "media" / "activity" / "asleep" / "akshint_test_video_sleep.mp4"


def test_one_probe_says_how_long_the_media_is_and_when_its_last_frame_starts() -> None:
    times = media_times(ASLEEP)
    with av.open(str(ASLEEP)) as container:
        video = container.streams.video[0]
        frame_times = [float(frame.time) for frame in container.decode(video) if frame.time is not None]
        assert video.average_rate is not None
        period = 1.0 / float(video.average_rate)
    assert times.duration == pytest.approx(7.777, abs=0.01) and times.duration > frame_times[-1]
    assert abs(times.last_frame_s - frame_times[-1]) < period  # within a frame of the decoded last


def test_the_frame_route_reads_a_frame_in_the_opening_that_checks_its_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    opened = _count_opens(monkeypatch)
    frame = frame_at_second(ASLEEP, 3.0)
    assert opened == [str(ASLEEP)]
    assert np.array_equal(frame, frame_at(ASLEEP, 3.0 / media_times(ASLEEP).duration))
    with pytest.raises(PastTheEnd, match="past the end"):
        frame_at_second(ASLEEP, 7.8)
    with pytest.raises(SourceUnsupported):
        frame_at_second(Path(__file__), 0.0)  # not a media


def _count_opens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths av.open is asked to open from now on (the real av.open opens them)."""
    opened: list[str] = []
    real_open = av.open

    def counting_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(av, "open", counting_open)
    return opened


def test_the_analysis_opens_the_file_once_per_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(
        data_dir=tmp_path / "data", shared_dir=SHARED, activity={"sample_interval_s": 1.0}
    )
    opened = _count_opens(monkeypatch)
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
