"""Stitcher details (ids: test_batch_ids.py): the batch tracker settings are the live ones with
batch defaults, bad blendshape export keys fail before any work, a bad audio JSON fails its video."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.batch_util import batch_settings, clip
from vigil.batch.runner import run_batch
from vigil.batch.settings import load_batch_settings
from vigil.errors import ConfigError
from vigil.live.tracking_config import TrackerConfig


def test_batch_tracker_settings_are_the_live_tracker_settings() -> None:
    config = batch_settings().tracker
    assert isinstance(config, TrackerConfig)
    assert (config.lost_track_buffer, config.min_consecutive) == (15, 1)  # per frame, not per pass
    assert config.min_iou == TrackerConfig().min_iou


def test_unknown_export_keys_fail_at_settings_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEP5_BLENDSHAPES_PROFILE", "custom")
    monkeypatch.setenv("STEP5_BLENDSHAPES_EXPORT_KEYS", "jawOpen,mouthSmil")
    with pytest.raises(ConfigError, match=r"unknown keys \['mouthSmil'\]"):
        load_batch_settings()


def test_unknown_export_keys_fail_the_run_before_any_work(tmp_path: Path) -> None:
    settings = batch_settings(blendshapes_profile="custom", blendshapes_export_keys=["jawOpen"])
    settings.blendshapes_export_keys = ["jawOpen", "bogus"]  # assignment is not validated
    with pytest.raises(ConfigError, match="bogus"):
        run_batch([clip("single_face.mp4")], settings, out_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_malformed_audio_json_is_set_aside_with_a_warning(tmp_path: Path) -> None:
    video = tmp_path / "single_face.mp4"
    shutil.copy(clip("single_face.mp4"), video)
    (tmp_path / "single_face_audio.json").write_text('{"frames_analysis": "nope"}', encoding="utf-8")
    other = tmp_path / "other" / "single_face.mp4"
    other.parent.mkdir()
    shutil.copy(video, other)
    report = run_batch([video, other], batch_settings(chunk_size=23), out_dir=None)
    assert set(report.done) == {video, other} and not report.failed  # the bad STEP4 file used to fail it
    metadata = json.loads((tmp_path / "single_face_tracking.json").read_text())["metadata"]
    (warning,) = metadata["audio_warnings"]
    assert "single_face_audio.json ignored" in warning and "frames_analysis" in warning
    other_output = json.loads((other.parent / "single_face_tracking.json").read_text())
    assert "audio_warnings" not in other_output["metadata"]
