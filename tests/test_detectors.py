import logging
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import read_image
from vigil.detect import create_detector
from vigil.detect.blazeface import BlazeFaceConfig
from vigil.detect.dlib_hog import DlibHogConfig
from vigil.detect.haar import HaarConfig
from vigil.detect.registry import detector_configs
from vigil.detect.yunet import YuNetConfig
from vigil.errors import ModelError


@pytest.fixture(scope="module")
def group() -> np.ndarray:
    return read_image("media/faces/groups/obama_and_biden.jpg")


@pytest.mark.parametrize(
    "config", [YuNetConfig(), BlazeFaceConfig(), HaarConfig(), DlibHogConfig()], ids=lambda c: c.type
)
def test_every_engine_finds_both_faces(config, group: np.ndarray, models_dir: Path) -> None:
    detector = create_detector(config, [models_dir])
    assert detector.name == config.type
    found = detector.detect(group)
    assert len(found) >= 2
    assert np.all(found.score >= config.score_threshold)
    width = found.xyxy[:, 2] - found.xyxy[:, 0]
    assert np.all(width > 60), "faces in this photo are large; coordinates must be in full-frame pixels"
    assert np.all(found.xyxy[:, 2] <= group.shape[1]) and np.all(found.xyxy[:, 3] <= group.shape[0])


def test_registry_is_derived_from_the_detector_modules() -> None:
    configs = detector_configs()
    assert set(configs) == {"yunet", "blazeface", "haar", "dlib_hog", "mediapipe_facemesh"}
    for name, cls in configs.items():
        assert cls.__module__.startswith("vigil.detect."), "each detector module owns its config"
        assert cls.model_validate({}).type == name


def test_settings_build_the_config_of_the_chosen_type() -> None:
    from vigil.config import load_settings

    settings = load_settings(detector={"type": "haar", "min_size": 30})
    assert isinstance(settings.detector, HaarConfig) and settings.detector.min_size == 30
    assert settings.model_dump()["detector"]["min_size"] == 30  # dumped with the subclass's keys
    assert isinstance(load_settings(detector={"max_width": 800}).detector, YuNetConfig)


def test_yunet_landmarks_inside_boxes_and_rescaled(group: np.ndarray, models_dir: Path) -> None:
    small = create_detector(YuNetConfig(max_width=320), [models_dir]).detect(group)
    large = create_detector(YuNetConfig(max_width=2000), [models_dir]).detect(group)
    assert small.landmarks is not None and small.landmarks.shape[1:] == (5, 2)
    for box, points in zip(small.xyxy, small.landmarks, strict=True):
        assert np.all(points[:, 0] >= box[0] - 5) and np.all(points[:, 0] <= box[2] + 5)
        assert points[0, 0] < points[1, 0], "right eye (image left) comes first"
    # The same faces at two processing widths land on the same full-frame coordinates.
    for box in large.xyxy[large.score > 0.8]:
        distance = np.abs(small.xyxy - box).max(axis=1).min()
        assert distance < 0.15 * (box[2] - box[0])  # unscaled boxes would be 6x off


def test_max_faces_keeps_best(group: np.ndarray, models_dir: Path) -> None:
    found = create_detector(YuNetConfig(max_faces=1), [models_dir]).detect(group)
    everything = create_detector(YuNetConfig(), [models_dir]).detect(group)
    assert len(found) == 1 and found.score[0] == everything.score.max()


def test_missing_default_yunet_falls_back_to_blazeface(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        detector = create_detector(YuNetConfig(), [tmp_path])
    assert detector.name == "blazeface"
    assert "vigil models fetch" in caplog.text


def test_explicit_missing_yunet_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="models fetch"):
        create_detector(YuNetConfig(model_path=tmp_path / "nope.onnx"), [tmp_path])


def test_corrupt_yunet_file_is_model_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx file")
    with pytest.raises(ModelError, match="cannot load"):
        create_detector(YuNetConfig(model_path=bad), [tmp_path])


def test_blank_frame_has_no_faces(models_dir: Path) -> None:
    blank = np.zeros((360, 640, 3), np.uint8)
    assert len(create_detector(YuNetConfig(), [models_dir]).detect(blank)) == 0
