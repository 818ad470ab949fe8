"""Single-frame analysis keeps its vision models between pictures: loaded once, the pose model in
IMAGE mode, nothing of one picture carried into the next (the same answer as a fresh extractor in
any order), and several threads at once get the answers they would get one by one."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.conftest import SHARED
from vigil.activity.features import window_features
from vigil.activity.frame import analyse_image, model_loads
from vigil.activity.labels import Activity
from vigil.activity.result import CueSummary, cue_summary
from vigil.activity.vision import VisualCueExtractor
from vigil.config import load_settings
from vigil.types import Image
from vigil.web.video_frames import frame_at

ACTIVITY = SHARED / "media" / "activity"
ASLEEP = frame_at(ACTIVITY / "asleep" / "akshint_test_video_sleep.mp4", 3.0 / 7.777)
AWAKE = frame_at(ACTIVITY / "inactive" / "akshint_test_file_awake.mp4", 0.3)


def _dirs(tmp_path: Path) -> list[Path]:
    return load_settings(data_dir=tmp_path / "data", shared_dir=SHARED).model_search_dirs()


def _fresh(image: Image, dirs: list[Path]) -> tuple[int, CueSummary]:
    """People and cues as read before the models were kept: a new extractor, pose in VIDEO mode."""
    with VisualCueExtractor(dirs) as extractor:
        sample = extractor.sample(image, 0.0)
    return sample.people, cue_summary([window_features(0.0, 1.0, [sample], [])])


def test_models_load_once_and_pictures_do_not_leak_into_each_other(tmp_path: Path) -> None:
    dirs = _dirs(tmp_path)
    first = analyse_image(ASLEEP, dirs)
    loads = model_loads()
    awake = analyse_image(AWAKE, dirs)
    again = analyse_image(ASLEEP, _dirs(tmp_path / "other"))  # other data dir, same model files
    assert model_loads() == loads, "the models were loaded again"
    assert first.activity == Activity.ASLEEP and awake.activity != Activity.ASLEEP
    assert again == first, "the picture in between changed the answer"
    for image, cached in ((ASLEEP, first), (AWAKE, awake)):
        assert (cached.people, cached.cues) == _fresh(image, dirs), "IMAGE mode reads as before"


def test_threads_at_once_get_their_own_answers(tmp_path: Path) -> None:
    dirs = _dirs(tmp_path)
    alone = {name: analyse_image(image, dirs) for name, image in (("asleep", ASLEEP), ("awake", AWAKE))}
    pictures = [("asleep", ASLEEP), ("awake", AWAKE)] * 4
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda item: (item[0], analyse_image(item[1], dirs)), pictures))
    assert all(answer == alone[name] for name, answer in answers)
