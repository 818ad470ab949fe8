from pathlib import Path

import pytest

from vigil.config import BlazeFaceConfig, CameraConfig, load_settings
from vigil.errors import ConfigError


def test_seed_004_aliases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAMERAS_IPS", "rtsp://10.0.0.1/a, http://10.0.0.2:8080/video")
    monkeypatch.setenv("CAMERAS_USB_MAX", "2")
    monkeypatch.setenv("RETRY_BACKOFF", "7")
    monkeypatch.setenv("USE_GPU", "true")
    settings = load_settings()
    assert settings.cameras_ips == ["rtsp://10.0.0.1/a", "http://10.0.0.2:8080/video"]
    assert settings.retry_backoff == 7.0 and settings.use_gpu is True
    assert [c.url for c in settings.all_cameras()] == [*settings.cameras_ips, "usb:0", "usb:1"]


def test_vigil_prefix_and_nested(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_ANALYSIS_FPS", "2.5")
    monkeypatch.setenv("VIGIL_DETECTOR__TYPE", "blazeface")
    monkeypatch.setenv("VIGIL_GATING__MAX_EMBEDDINGS", "5")
    settings = load_settings()
    assert settings.analysis_fps == 2.5
    assert isinstance(settings.detector, BlazeFaceConfig)
    assert settings.gating.max_embeddings == 5


def test_dotenv_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("VIGIL_ANALYSIS_FPS=3\nRETRY_BACKOFF=4\n")
    settings = load_settings()
    assert settings.analysis_fps == 3.0 and settings.retry_backoff == 4.0


def test_yaml_cameras_below_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "vigil.yaml"
    config.write_text(
        "analysis_fps: 3\n"
        "cameras:\n"
        "  - url: rtsp://cam/1\n    name: door\n    dead_zones: [[[0, 0], [100, 0], [100, 50]]]\n"
    )
    monkeypatch.setenv("VIGIL_ANALYSIS_FPS", "4")
    settings = load_settings(config)
    assert settings.analysis_fps == 4.0  # env wins over YAML
    assert settings.cameras == [
        CameraConfig(url="rtsp://cam/1", name="door", dead_zones=[[(0, 0), (100, 0), (100, 50)]])
    ]
    assert load_settings(config, analysis_fps=9).analysis_fps == 9.0  # CLI flags win over env


@pytest.mark.parametrize(
    "overrides",
    [{"analysis_fps": 0}, {"detector": {"type": "nope"}}, {"gating": {"typo": 1}}, {"unknown": 1}],
)
def test_invalid_settings_are_clear_errors(overrides: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="invalid settings"):
        load_settings(**overrides)


def test_bad_yaml_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_settings(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.yaml")
