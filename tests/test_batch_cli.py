"""`vigil track PATH...` and `vigil track validate PATH...` through the real Typer app."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tests.batch_util import clean_env, clip
from tests.conftest import shared_file
from vigil.cli import app


def _env() -> dict[str, str]:
    env = clean_env()
    env["VIGIL_TRACK_MODELS_DIR"] = str(shared_file("models/face_detection_yunet_2023mar.onnx").parent)
    env["COLUMNS"] = "200"
    return env


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=_env())
    return result.exit_code, result.output


def test_track_then_validate_then_skip_then_force(tmp_path: Path) -> None:
    video = clip("single_face.mp4")
    out = tmp_path / "out"
    code, output = invoke("track", str(video), "--out-dir", str(out), "--workers", "1", "--chunk-size", "30")
    assert code == 0, output
    assert "[Progression]|100|single_face.mp4|chunk=3/3" in output
    result = out / "single_face_tracking.json"
    assert json.loads(result.read_text())["metadata"]["chunks"] == 3

    code, output = invoke("track", "validate", str(out))
    assert code == 0, output
    assert "1 valid, 0 invalid" in output

    code, output = invoke("track", "run", str(video), "--out-dir", str(out), "--workers", "1")
    assert code == 0 and "skipped" in output
    before = result.stat().st_mtime_ns
    code, output = invoke("track", str(video), "--out-dir", str(out), "--workers", "1", "--force")
    assert code == 0 and result.stat().st_mtime_ns != before


def test_videos_json_and_failed_video_exit_code(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mov"
    broken.write_bytes(b"\x00" * 4096)
    listing = tmp_path / "videos.json"
    listing.write_text(json.dumps([str(broken), str(clip("single_face.mp4"))]))
    code, output = invoke("track", "--videos-json", str(listing), "--out-dir", str(tmp_path), "--workers=1")
    assert code == 3, output
    assert "failed" in output and "broken.mov" in output
    assert (tmp_path / "single_face_tracking.json").is_file()


def test_bad_inputs_are_clear_errors_not_tracebacks(tmp_path: Path) -> None:
    code, output = invoke("track")
    assert code == 1 and "give video files or folders" in output
    code, output = invoke("track", str(tmp_path / "missing.mp4"))
    assert code == 1 and "missing.mp4" in output
    video = str(clip("single_face.mp4"))
    code, output = invoke("track", video, "--engine", "openseeface", "--out-dir", str(tmp_path))
    assert code == 1 and "mnv3_detection_opt.onnx" in output and "Traceback" not in output
    code, output = invoke("track", str(clip("single_face.mp4")), "--chunk-min", "50", "--chunk-max", "10")
    assert code == 1 and "chunk_min" in output


def test_validate_reports_problems(tmp_path: Path) -> None:
    bad = tmp_path / "x_tracking.json"
    bad.write_text(json.dumps({"metadata": {}, "frames": []}))
    code, output = invoke("track", "validate", str(bad))
    assert code == 1
    assert "invalid" in output and "0 valid, 1 invalid" in output


def test_help_is_true_to_the_options() -> None:
    code, output = invoke("track", "--help")
    assert code == 0
    for option in (
        "--engine",
        "--workers",
        "--chunk-size",
        "--chunk-min",
        "--chunk-max",
        "--out-dir",
        "--force",
        "--videos-json",
    ):
        assert option in output
    assert "vigil track validate" in output
    code, output = invoke("--help")
    assert code == 0 and "track" in output
