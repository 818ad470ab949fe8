from pathlib import Path

import pytest

from vigil.config import CameraConfig, load_settings
from vigil.detect.blazeface import BlazeFaceConfig
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


# One YAML key and one env key per section: both must survive (sections merge key by key).
SECTION_CASES: dict[str, tuple[str, object, str, str, object]] = {
    "detector": ("score_threshold", 0.7, "MAX_WIDTH", "800", 800),
    "embedder": ("type", "dlib_resnet", "NUM_JITTERS", "2", 2),
    "motion": ("width", 200, "PIXEL_THRESHOLD", "30", 30),
    "tracker": ("min_iou", 0.2, "LOST_TRACK_BUFFER", "20", 20),
    "quality": ("good_face_px", 100.0, "MIN_FACE_PX", "20", 20.0),
    "gating": ("min_quality", 0.5, "MAX_EMBEDDINGS", "5", 5),
    "runtime": ("frame_queue", 4, "EMBED_PROCESSES", "0", 0),
    "store": ("url", "sqlite:///elsewhere.db", "ENABLED", "false", False),
    "web": ("port", 9000, "ADMIN_PASSWORD", "from-the-environment", "from-the-environment"),
    "track": ("chunk_max", 77, "ENGINE", "haar", "haar"),
    "jobs": ("keep_finished", 50, "MAX_ACTIVE", "4", 4),
    "camera_policy": ("allow_loopback", True, "ALLOW_LINK_LOCAL", "true", True),
    "watchlist": ("similarity_threshold", 0.7, "MIN_FACE_PX", "100", 100),
    "anonymize": (
        "strip_metadata",
        False,
        "FACES",
        '{"style": "mask"}',
        {"style": "mask", "pad": 0.4, "hold_frames": 5, "score_threshold": 0.5, "extra_engines": []},
    ),
    "activity": ("window_s", 6.0, "CLASSIFIER", "model", "model"),
    "cluster": ("camera_cpus", 0.5, "CALL_TIMEOUT_S", "7", 7.0),
}


def test_seed_004_threshold_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("WARN_THRESHOLD=0.4\n")
    monkeypatch.setenv("SIMILARITY_THRESHOLD", "0.6")
    watchlist = load_settings(None).watchlist
    assert (watchlist.similarity_threshold, watchlist.warn_threshold) == (0.6, 0.4)
    monkeypatch.setenv("WARN_THRESHOLD", "0.65")
    with pytest.raises(ConfigError, match="a probable match must need less than a match"):
        load_settings(None)


def _section_names() -> set[str]:
    from pydantic import BaseModel

    from vigil.config import VigilSettings

    names = set()
    for name, field in VigilSettings.model_fields.items():
        default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
        if isinstance(default, BaseModel):
            names.add(name)
    return names


def test_every_section_has_a_merge_case() -> None:
    assert _section_names() <= set(SECTION_CASES), "add the new section to SECTION_CASES"


@pytest.mark.parametrize("section", sorted(SECTION_CASES))
def test_env_overrides_one_key_and_keeps_the_sections_yaml_keys(
    section: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml
    from pydantic import SecretStr

    yaml_key, yaml_value, env_key, env_raw, env_expected = SECTION_CASES[section]
    config = tmp_path / "vigil.yaml"
    config.write_text(yaml.safe_dump({section: {yaml_key: yaml_value}}))
    monkeypatch.setenv(f"VIGIL_{section.upper()}__{env_key}", env_raw)
    values = getattr(load_settings(config), section).model_dump()
    assert values[yaml_key] == yaml_value, f"{section}.{yaml_key} from YAML was lost"
    got = values[env_key.lower()]
    assert (got.get_secret_value() if isinstance(got, SecretStr) else got) == env_expected


def test_issue_examples_web_and_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "vigil.yaml"
    config.write_text("web: {host: 0.0.0.0, port: 9000}\nstore: {url: 'postgresql://db/vigil'}\n")
    monkeypatch.setenv("VIGIL_WEB__ADMIN_PASSWORD", "long-enough-secret")
    monkeypatch.setenv("VIGIL_STORE__ENABLED", "false")
    settings = load_settings(config)
    assert (settings.web.host, settings.web.port) == ("0.0.0.0", 9000)
    assert settings.web.admin_password is not None
    assert settings.web.admin_password.get_secret_value() == "long-enough-secret"
    assert (settings.store.url, settings.store.enabled) == ("postgresql://db/vigil", False)


def test_cli_overrides_merge_into_yaml_sections(tmp_path: Path) -> None:
    config = tmp_path / "vigil.yaml"
    config.write_text("web: {host: 0.0.0.0, port: 9000}\n")
    settings = load_settings(config, web={"port": 9100})
    assert (settings.web.host, settings.web.port) == ("0.0.0.0", 9100)


def test_config_file_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "other.yaml"
    config.write_text("track: {engine: blazeface}\ngating: {max_embeddings: 7}\n")
    monkeypatch.setenv("VIGIL_CONFIG_FILE", str(config))
    settings = load_settings()
    assert settings.track.engine == "blazeface" and settings.gating.max_embeddings == 7


def test_unknown_yaml_key_in_a_section_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "vigil.yaml"
    config.write_text("web: {prot: 9000}\n")
    with pytest.raises(ConfigError, match="prot"):
        load_settings(config)
