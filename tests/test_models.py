from pathlib import Path

import pytest
from typer.testing import CliRunner

from vigil.cli import app
from vigil.errors import ModelError
from vigil.models import YUNET, ModelFile, fetch, is_installed


def test_fetch_verifies_checksum_from_a_local_mirror(models_dir: Path, tmp_path: Path) -> None:
    mirror = (models_dir / YUNET.filename).as_uri()  # file:// — tests never touch the network
    target = tmp_path / "models"
    result = CliRunner().invoke(app, ["models", "fetch", "yunet", "--dest", str(target), "--url", mirror])
    assert result.exit_code == 0, result.output
    assert "verified" in result.output
    assert is_installed(YUNET, target)


def test_fetch_rejects_wrong_checksum_and_leaves_nothing(models_dir: Path, tmp_path: Path) -> None:
    wrong = ModelFile(YUNET.filename, YUNET.url, "0" * 64, YUNET.licence)
    with pytest.raises(ModelError, match="does not match"):
        fetch(wrong, tmp_path, url=(models_dir / YUNET.filename).as_uri())
    assert list(tmp_path.iterdir()) == []


def test_fetch_unreachable_mirror_is_clear(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="cannot download"):
        fetch(YUNET, tmp_path / "m", url=(tmp_path / "absent.onnx").as_uri())


def test_status_reports_missing(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["models", "status"], env={"VIGIL_MODELS_DIR": str(tmp_path)})
    assert result.exit_code == 0 and "missing" in result.output


def test_fetched_model_is_found_from_any_directory(
    models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`vigil models fetch` fills the per-user directory, and every command finds YuNet there from
    a directory that is not the checkout (no data/models, no ../shared beside it)."""
    from vigil.batch.engines import check_engine
    from vigil.batch.settings import load_batch_settings
    from vigil.config import load_settings
    from vigil.detect import create_detector
    from vigil.detect.yunet import YuNetDetector

    mirror = (models_dir / YUNET.filename).as_uri()
    result = CliRunner().invoke(app, ["models", "fetch", "yunet", "--url", mirror])
    assert result.exit_code == 0, result.output
    user_dir = tmp_path / "xdg-data" / "vigil" / "models"  # XDG_DATA_HOME set by conftest
    assert is_installed(YUNET, user_dir)
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    settings = load_settings()
    assert isinstance(create_detector(settings.detector, settings.model_search_dirs()), YuNetDetector)
    check_engine(load_batch_settings())  # raised ModelError: YuNet not found
    status = CliRunner().invoke(app, ["models", "status"])
    assert "installed" in status.output and str(user_dir) in status.output.replace("\n", "")
