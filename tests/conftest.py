"""Shared fixtures. Real media comes from ../shared (VIGIL_SHARED_DIR overrides).
When CI=true a missing file fails the test instead of skipping it."""

from __future__ import annotations

import os
from pathlib import Path

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
def hamilton() -> Path:
    return shared_file("media/video/hamilton_640x360.mp4")


@pytest.fixture
def models_dir() -> Path:
    return shared_file("models/face_detection_yunet_2023mar.onnx").parent


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No user .env or VIGIL_* variables leak into tests."""
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
