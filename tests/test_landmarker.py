"""The Face Landmarker engine (seed 000's default): 52 learned ARKit blendshapes on YuNet's tracked
regions, small audience faces included; eyeBlink follows the eyes; `auto` falls back to the
geometric estimates without the model file; `vigil models fetch face_landmarker` verifies it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.batch_util import batch_settings, clip, load_output, write_clip
from vigil.batch.engines import check_engine
from vigil.batch.landmarker import LEARNED_KEYS
from vigil.batch.process import ChunkTask, process_chunk
from vigil.batch.runner import run_batch
from vigil.batch.validate import validate_tracking_file
from vigil.batch.video import probe_video
from vigil.cli import app
from vigil.errors import ModelError
from vigil.models import FACE_LANDMARKER, is_installed


def test_hamilton_faces_small_ones_included_get_the_52_learned_blendshapes(tmp_path: Path) -> None:
    # Frames 221-250: the audience scene (Barack and Michelle Obama among 60-70 px faces).
    video = write_clip(clip("hamilton_640x360.mp4"), tmp_path / "audience.mp4", 220, 30)
    report = run_batch([video], batch_settings(), out_dir=tmp_path / "out")
    assert report.done == [video]
    path = tmp_path / "out" / "audience_tracking.json"
    assert validate_tracking_file(path) == []
    document = load_output(path)
    assert document["metadata"]["tracking_engine"] == "mediapipe_landmarker"
    faces = [o for f in document["frames"] for o in f["tracked_objects"] if o["label"] == "face"]
    measured = [face for face in faces if face["blendshapes"] is not None]
    assert all(set(face["blendshapes"]) == set(LEARNED_KEYS) for face in measured), "52 keys"
    small = {face["id"] for face in measured if face["bbox_width"] < 75}
    assert len(small) >= 3, f"audience faces under 75 px with blendshapes: {sorted(small)}"
    # Keys the geometric estimates never give: squints (laughing eyes), presses, dimples.
    for key in ("eyeSquintLeft", "mouthPressLeft", "mouthDimpleLeft"):
        assert max(face["blendshapes"][key] for face in measured) > 0.2, key
    assert any(face["blendshapes"]["mouthSmileLeft"] > 0.3 for face in measured), "the audience laughs"


def _eye_blinks(first: int, last: int) -> list[float]:
    info = probe_video(clip("expressions_640x360.mp4"))
    settings = batch_settings(engine="mediapipe_landmarker")
    result = process_chunk(ChunkTask(info.path, 0, first, last, settings), info)
    left, right = LEARNED_KEYS.index("eyeBlinkLeft"), LEARNED_KEYS.index("eyeBlinkRight")
    blinks = [
        (float(face.blendshapes[left]) + float(face.blendshapes[right])) / 2
        for frame in result.frames
        for face in frame.faces
        if face.blendshapes is not None
    ]
    assert len(blinks) == last - first + 1, "one measured face per frame"
    return blinks


def test_eye_blink_is_high_with_the_eyes_shut_and_low_with_them_open() -> None:
    """expressions_640x360.mp4, checked by eye: eyes shut on frames 21-41, open on 241-281.
    The geometric estimates read 0.37-0.40 shut against 0.16-0.22 open (issue 16)."""
    shut, open_ = _eye_blinks(21, 41), _eye_blinks(241, 281)
    assert min(shut) >= 0.5 and float(np.mean(shut)) >= 0.65
    assert float(np.median(open_)) <= 0.15


def test_auto_engine_falls_back_to_the_geometric_estimates_without_the_model(tmp_path: Path) -> None:
    absent = tmp_path / "face_landmarker.task"
    assert batch_settings().resolved_engine == "mediapipe_landmarker"  # ../shared/models has it
    fallback = batch_settings(face_landmarker_model_path=absent)
    assert (fallback.engine, fallback.resolved_engine) == ("auto", "yunet")
    with pytest.raises(ModelError, match="vigil models fetch face_landmarker"):
        check_engine(batch_settings(engine="mediapipe_landmarker", face_landmarker_model_path=absent))
    info = probe_video(clip("single_face.mp4"))
    result = process_chunk(ChunkTask(info.path, 0, 1, 3, fallback), info)
    faces: list[Any] = [face for frame in result.frames for face in frame.faces]
    assert faces and all(face.blendshapes is None and face.landmarks is not None for face in faces)


def test_models_fetch_face_landmarker_checks_the_official_file(tmp_path: Path) -> None:
    assert FACE_LANDMARKER.url == (
        "https://storage.googleapis.com/mediapipe-models/face_landmarker/face_landmarker/float16/1/"
        "face_landmarker.task"
    )
    shared = batch_settings().face_landmarker_path()
    assert shared is not None
    target = tmp_path / "models"
    result = CliRunner().invoke(
        app, ["models", "fetch", "face_landmarker", "--dest", str(target), "--url", shared.as_uri()]
    )
    assert result.exit_code == 0, result.output
    assert is_installed(FACE_LANDMARKER, target)
