"""BatchSettings: the seed's STEP5_*/TRACKING_* variables work as aliases and are all documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import AliasChoices

from tests.batch_util import SEED_ENV_PREFIXES
from vigil.batch.settings import BatchSettings, load_batch_settings
from vigil.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _no_seed_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith(SEED_ENV_PREFIXES):
            monkeypatch.delenv(key)


def seed_aliases() -> list[str]:
    names = []
    for field in BatchSettings.model_fields.values():
        if isinstance(field.validation_alias, AliasChoices):
            names += [c for c in field.validation_alias.choices if isinstance(c, str) and c.isupper()]
    return names


def test_issue_aliases_are_all_declared() -> None:
    aliases = set(seed_aliases())
    wanted = {
        "STEP5_TRACKING_ENGINE",
        "STEP5_YUNET_MAX_WIDTH",
        "STEP5_OPENCV_MAX_FACES",
        "STEP5_MEDIAPIPE_MAX_FACES",
        "STEP5_OPENCV_JAWOPEN_SCALE",
        "STEP5_MEDIAPIPE_JAWOPEN_SCALE",
        "STEP5_BLENDSHAPES_PROFILE",
        "STEP5_BLENDSHAPES_EXPORT_KEYS",
        "STEP5_BLENDSHAPES_INCLUDE_TONGUE",
        "STEP5_BLENDSHAPES_THROTTLE_N",
        "STEP5_EXPORT_VERBOSE_FIELDS",
        "STEP5_ENABLE_OBJECT_DETECTION",
        "TRACKING_CPU_WORKERS",
        "TRACKING_CHUNK_MIN",
        "TRACKING_CHUNK_MAX",
    }
    assert wanted <= aliases


def test_every_alias_is_documented() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    for alias in seed_aliases():
        assert f"`{alias}`" in doc, f"{alias} missing from docs/configuration.md (python -m vigil.configdoc)"
    tracking = (ROOT / "docs" / "tracking.md").read_text(encoding="utf-8")
    for alias in seed_aliases():
        if alias.startswith(("STEP5_", "TRACKING_")):
            assert re.search(rf"`{alias}`", tracking), f"{alias} missing from docs/tracking.md"


def test_seed_variables_set_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "STEP5_TRACKING_ENGINE": "opencv_haar",
        "STEP5_YUNET_MAX_WIDTH": "960",
        "STEP5_OPENCV_MAX_FACES": "2",
        "STEP5_MEDIAPIPE_MAX_FACES": "1",
        "STEP5_OPENCV_JAWOPEN_SCALE": "1.5",
        "STEP5_BLENDSHAPES_PROFILE": "custom",
        "STEP5_BLENDSHAPES_EXPORT_KEYS": "jawOpen, mouthSmileLeft",
        "STEP5_BLENDSHAPES_INCLUDE_TONGUE": "1",
        "STEP5_BLENDSHAPES_THROTTLE_N": "20",
        "STEP5_EXPORT_VERBOSE_FIELDS": "true",
        "STEP5_ENABLE_OBJECT_DETECTION": "yes",
        "TRACKING_CPU_WORKERS": "15",
        "TRACKING_CHUNK_MIN": "100",
        "TRACKING_CHUNK_MAX": "500",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    s = load_batch_settings()
    assert (s.engine, s.yunet_max_width, s.opencv_max_faces, s.mediapipe_max_faces) == ("haar", 960, 2, 1)
    assert s.jawopen_scale == 1.5  # haar belongs to the OpenCV family
    assert s.blendshapes_profile == "custom" and s.blendshapes_export_keys == ["jawOpen", "mouthSmileLeft"]
    assert s.blendshapes_include_tongue and s.blendshapes_throttle_n == 20
    assert s.export_verbose_fields and s.enable_object_detection
    assert (s.cpu_workers, s.chunk_min, s.chunk_max) == (15, 100, 500)


def test_cli_overrides_win_and_dotenv_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("STEP5_TRACKING_ENGINE=dlib_hog\nTRACKING_CHUNK_MAX=50\n")
    monkeypatch.chdir(tmp_path)
    s = load_batch_settings(engine=None, chunk_max=None)
    assert (s.engine, s.chunk_max) == ("dlib_hog", 50)
    assert load_batch_settings(engine="blazeface").engine == "blazeface"


@pytest.mark.parametrize(
    "bad",
    [
        {"chunk_min": 500, "chunk_max": 100},
        {"engine": "nonsense"},
        {"blendshapes_profile": "custom"},
        {"cpu_workers": 0},
        {"detect_every_n": 0},
    ],
)
def test_invalid_settings_are_config_errors(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        load_batch_settings(**bad)


def test_chunk_size_zero_means_adaptive() -> None:
    assert load_batch_settings(chunk_size=0).chunk_size is None
    assert load_batch_settings(chunk_size=30).chunk_size == 30


def test_one_dotenv_serves_both_settings_classes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vigil.config import load_settings

    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("VIGIL_WEB__ADMIN_PASSWORD=long-enough\nVIGIL_TRACK_ENGINE=haar\n")
    assert load_batch_settings().engine == "haar"
    web = load_settings().web
    assert web.admin_password is not None and web.admin_password.get_secret_value() == "long-enough"


def test_bare_field_names_are_not_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENGINE", "haar")
    monkeypatch.setenv("CPU_WORKERS", "255")
    settings = load_batch_settings()
    assert settings.engine == "auto" and settings.cpu_workers != 255
    assert load_batch_settings(engine="haar").engine == "haar"  # keyword arguments still work


def test_batch_settings_are_the_track_section_of_the_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vigil.config import load_settings

    config = tmp_path / "vigil.yaml"
    config.write_text("track: {engine: blazeface, chunk_max: 90, tracker: {lost_track_buffer: 40}}\n")
    monkeypatch.setenv("TRACKING_CHUNK_MIN", "30")  # a seed name sets a key of the YAML's section
    monkeypatch.setenv("VIGIL_TRACK__CPU_WORKERS", "3")
    track = load_settings(config).track
    assert (track.engine, track.chunk_max, track.chunk_min, track.cpu_workers) == ("blazeface", 90, 30, 3)
    assert track.tracker.lost_track_buffer == 40
    assert load_batch_settings(config, chunk_max=120).chunk_max == 120  # CLI flags win


def test_vigil_names_win_over_seed_names_which_win_over_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "vigil.yaml"
    config.write_text("track: {engine: dlib_hog}\n")
    monkeypatch.setenv("STEP5_TRACKING_ENGINE", "opencv_haar")
    assert load_batch_settings(config).engine == "haar"
    monkeypatch.setenv("VIGIL_TRACK__ENGINE", "blazeface")
    assert load_batch_settings(config).engine == "blazeface"


def test_former_env_spelling_still_works(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_TRACK_DETECT_EVERY_N", "3")
    assert load_batch_settings().detect_every_n == 3


def test_track_command_reads_the_yaml_track_section(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from vigil.cli import app

    config = tmp_path / "vigil.yaml"
    config.write_text("track: {engine: insightface}\n")  # a seed-only engine fails with its reason
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"not a video")
    result = CliRunner().invoke(app, ["track", str(video), "--config", str(config)], env={"COLUMNS": "200"})
    assert result.exit_code != 0
    assert "insightface" in result.output


def test_engine_traits_come_from_the_detector_config_classes() -> None:
    from vigil.detect.registry import detector_configs

    configs = detector_configs()
    families = {name: cls.jaw_open_family for name, cls in configs.items()}
    assert families == {
        "blazeface": "mediapipe",
        "dlib_hog": "opencv",
        "haar": "opencv",
        "mediapipe_facemesh": "mediapipe",
        "yunet": "opencv",
    }
    scales = load_batch_settings(engine="blazeface", mediapipe_jawopen_scale=2.0, opencv_jawopen_scale=3.0)
    assert scales.jawopen_scale == 2.0
    assert configs["blazeface"].box_to_roi != configs["yunet"].box_to_roi
    assert configs["dlib_hog"].batch_landmarks == "dlib68"
