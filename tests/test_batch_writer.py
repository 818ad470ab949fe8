"""The tracking writer streams frames to a hidden file and publishes the result atomically."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vigil.batch.progress import VideoProgress, overall_fraction, progression_line
from vigil.batch.writer import TrackingWriter


def test_output_appears_only_on_commit(tmp_path: Path) -> None:
    target = tmp_path / "out" / "clip_tracking.json"
    writer = TrackingWriter(target)
    for number in range(1, 4):
        writer.write_frame({"frame": number, "tracked_objects": []})
    assert not target.exists()
    hidden = list(target.parent.iterdir())
    assert hidden and all(p.name.startswith(".") for p in hidden)
    writer.commit({"total_frames": 3})
    data = json.loads(target.read_text())
    assert list(data) == ["metadata", "frames"]
    assert data["metadata"] == {"total_frames": 3}
    assert [f["frame"] for f in data["frames"]] == [1, 2, 3]
    assert [p.name for p in target.parent.iterdir()] == ["clip_tracking.json"]


def test_abort_leaves_the_previous_output_untouched(tmp_path: Path) -> None:
    target = tmp_path / "clip_tracking.json"
    target.write_text("previous")
    with TrackingWriter(target) as writer:
        writer.write_frame({"frame": 1, "tracked_objects": []})
    assert target.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["clip_tracking.json"]


def test_nan_is_refused_rather_than_written(tmp_path: Path) -> None:
    writer = TrackingWriter(tmp_path / "clip_tracking.json")
    with pytest.raises(ValueError):
        writer.write_frame({"frame": 1, "value": float("nan")})
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_empty_video_is_valid_json(tmp_path: Path) -> None:
    writer = TrackingWriter(tmp_path / "x_tracking.json")
    path = writer.commit({"total_frames": 0})
    assert json.loads(path.read_text())["frames"] == []


def test_progress_is_capped_until_done_and_lines_match_the_seed() -> None:
    running = VideoProgress(Path("/v/a.mp4"), 99, 100, 4, 5, "running")
    done = VideoProgress(Path("/v/b.mp4"), 10, 10, 1, 1, "done")
    assert running.fraction == 0.99
    assert overall_fraction([running, done]) == pytest.approx(0.99)
    running.frames_done = 100
    assert overall_fraction([running, done]) <= 0.99
    running.state = "done"
    assert overall_fraction([running, done]) == 1.0
    half = VideoProgress(Path("/v/video.mp4"), 43, 100, 2, 5, "running")
    assert progression_line(half) == "[Progression]|43|video.mp4|chunk=2/5"
    assert progression_line(done) == "[Progression]|100|b.mp4|chunk=1/1"
