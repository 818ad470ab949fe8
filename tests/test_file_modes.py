"""Face data at rest is private to the service's user: 0700 directories, 0600 files (issue 14, defect 6)."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from tests.web_util import make_app
from vigil.config import VigilSettings
from vigil.store.repository import FaceObservation, IdentityStore
from vigil.types import FaceEmbedding


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The common default, which made vigil.db 0644 and faces/ 0755."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_store_and_crops_are_created_private(tmp_path: Path, usual_umask: None) -> None:
    data = tmp_path / "data"
    store = IdentityStore.open(VigilSettings(data_dir=data))
    try:
        image = np.full((120, 100, 3), 128, np.uint8)
        embedding = FaceEmbedding(np.ones(128, np.float32), "m1")
        at = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
        store.observe(FaceObservation("cam-a", 1, at, embedding, 0.5, image))
        crops = [data / "faces" / name for name in store.crops.all_files()]
        # while open: SQLite removes its -wal and -shm files when the last connection closes
        files = [data / "vigil.db", data / "vigil.db-wal", data / "vigil.db-shm", *crops]
        files += [path.with_name(path.stem + "_thumb" + path.suffix) for path in crops]
        file_modes = {str(path): oct(mode(path)) for path in files}
    finally:
        store.close()
    assert crops, "the sighting saved a face crop"
    assert file_modes == {str(path): "0o600" for path in files}
    dirs = [data, *{parent for path in crops for parent in path.parents if data in parent.parents}]
    assert data / "faces" / "2026" / "11" / "20" in dirs
    assert {str(path): oct(mode(path)) for path in dirs} == {str(path): "0o700" for path in dirs}


def test_generated_secrets_sit_in_a_private_data_dir(tmp_path: Path, usual_umask: None) -> None:
    make_app(tmp_path, web={"admin_password": None})
    data = tmp_path / "data"
    assert mode(data) == 0o700
    assert mode(data / "secret_key") == 0o600 and mode(data / "admin_password") == 0o600


def test_serve_warns_about_a_data_dir_others_can_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, usual_umask: None
) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    with caplog.at_level(logging.WARNING, logger="vigil.private_files"):
        make_app(tmp_path)
    warned = [r.getMessage() for r in caplog.records if r.name == "vigil.private_files"]
    assert len(warned) == 1 and str(data) in warned[0] and "755" in warned[0]


def test_serve_is_quiet_when_everything_is_private(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, usual_umask: None
) -> None:
    with caplog.at_level(logging.WARNING, logger="vigil.private_files"):
        make_app(tmp_path)
    assert [r for r in caplog.records if r.name == "vigil.private_files"] == []
