"""Shared fixtures. Real media comes from ../shared (VIGIL_SHARED_DIR overrides).
When CI=true a missing file fails the test instead of skipping it."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

SHARED = Path(
    os.environ.get("VIGIL_SHARED_DIR", Path(__file__).resolve().parents[1] / ".." / "shared")
).resolve()


def shared_file(relative: str) -> Path:
    path = SHARED / relative
    if not path.exists():
        message = f"shared test file {path} is missing (set VIGIL_SHARED_DIR)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def shared_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """A `vigil serve` started by the test finds the models in the shared copy (request it before
    the server fixture, which reads the environment)."""
    monkeypatch.setenv("VIGIL_SHARED_DIR", str(SHARED))


@pytest.fixture
def hamilton() -> Path:
    return shared_file("media/video/hamilton_640x360.mp4")


@pytest.fixture
def models_dir() -> Path:
    return shared_file("models/face_detection_yunet_2023mar.onnx").parent


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No user .env, VIGIL_* variables or per-user model files leak into tests."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    for key in list(os.environ):
        if key.startswith("VIGIL_") and key != "VIGIL_SHARED_DIR":
            monkeypatch.delenv(key)
        if key in {"CAMERAS_IPS", "CAMERAS_USB_MAX", "RETRY_BACKOFF", "USE_GPU"}:
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def read_image(relative: str) -> np.ndarray:
    """A BGR image from ../shared (fails clearly when unreadable)."""
    image = cv2.imread(str(shared_file(relative)))
    assert image is not None, f"cannot decode {relative}"
    return np.asarray(image, dtype=np.uint8)


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real PostgreSQL 16 + pgvector server from the `pgserver` wheel, one per test session."""
    import pgserver  # imported lazily: only store tests need it

    server = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop")  # type: ignore[attr-defined]
    yield server
    server.cleanup()


_pg_databases = itertools.count()


@pytest.fixture
def pg_url(pg_server: Any) -> str:
    """A fresh, empty database on the session's PostgreSQL server."""
    name = f"vigil_test_{os.getpid()}_{next(_pg_databases)}"
    pg_server.psql(f"CREATE DATABASE {name};")
    return str(pg_server.get_uri(name))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store test runs against both backends."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'vigil.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def db(db_url: str) -> Iterator[Any]:
    """An opened store database of `db_url` (both backends), disposed after the test."""
    from vigil.store.database import connect  # imported lazily, like pgserver: not every test needs it

    database = connect(db_url)
    yield database
    database.dispose()
