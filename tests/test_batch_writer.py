"""The tracking writer streams frames to a hidden file and publishes the result atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vigil.batch.output import (
    SCHEMA_VERSION,
    DetectionStats,
    FrameEntry,
    PerformanceMetrics,
    TrackingMetadata,
)
from vigil.batch.progress import VideoProgress, overall_fraction, progression_line
from vigil.batch.writer import TrackingWriter


def empty(number: int) -> FrameEntry:
    return FrameEntry(frame=number, tracked_objects=[])


def metadata(total_frames: int, **extra: Any) -> TrackingMetadata:
    return TrackingMetadata(
        video_path="/videos/clip.mp4",
        total_frames=total_frames,
        fps=25.0,
        tracking_engine="yunet",
        processing_time_sec=0.5,
        schema_version=SCHEMA_VERSION,
        detection_stats=DetectionStats(
            face_detection_rate=0.0, avg_faces_per_frame=0.0, object_detection_fallback_used=False
        ),
        performance_metrics=PerformanceMetrics(avg_frame_processing_ms=1.0, max_memory_usage_mb=100.0),
        **extra,
    )


def test_output_appears_only_on_commit(tmp_path: Path) -> None:
    target = tmp_path / "out" / "clip_tracking.json"
    writer = TrackingWriter(target)
    for number in range(1, 4):
        writer.write_frame(empty(number))
    assert not target.exists()
    hidden = list(target.parent.iterdir())
    assert hidden and all(p.name.startswith(".") for p in hidden)
    writer.commit(metadata(3))
    data = json.loads(target.read_text())
    assert list(data) == ["metadata", "frames"]
    assert data["metadata"] == metadata(3).model_dump()
    assert [f["frame"] for f in data["frames"]] == [1, 2, 3]
    assert [p.name for p in target.parent.iterdir()] == ["clip_tracking.json"]


def test_abort_leaves_the_previous_output_untouched(tmp_path: Path) -> None:
    target = tmp_path / "clip_tracking.json"
    target.write_text("previous")
    with TrackingWriter(target) as writer:
        writer.write_frame(empty(1))
    assert target.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["clip_tracking.json"]


def test_layout_compact_frames_indented_metadata_in_field_order_ascii(tmp_path: Path) -> None:
    """The bytes of the format before the models: existing readers and golden files rely on them."""
    writer = TrackingWriter(tmp_path / "clip_tracking.json")
    writer.write_frame(empty(1))
    writer.write_frame(empty(2))
    meta = metadata(2, width=640, audio_source=None, note="café")  # a declared field set to None, an extra
    text = writer.commit(meta).read_text(encoding="utf-8")
    body = json.dumps(meta.model_dump(), indent=2)
    frames = '{"frame":1,"tracked_objects":[]},\n{"frame":2,"tracked_objects":[]}'
    assert text == '{"metadata": ' + body + ',\n"frames": [\n' + frames + "\n]}\n"
    assert '"note": "caf\\u00e9"' in text and '"audio_source": null' in text and '"height"' not in text
    assert list(json.loads(text)["metadata"])[-3:] == ["width", "audio_source", "note"]


def test_nan_metadata_cannot_be_built() -> None:
    # The models refuse NaN and Infinity, which json.dumps would write and JSON readers reject.
    with pytest.raises(ValueError):
        PerformanceMetrics(avg_frame_processing_ms=float("nan"), max_memory_usage_mb=1.0)


def test_empty_video_is_valid_json(tmp_path: Path) -> None:
    writer = TrackingWriter(tmp_path / "x_tracking.json")
    path = writer.commit(metadata(0))
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


KILLED_WRITER = """
import os, signal, sys
from pathlib import Path
from vigil.batch.output import FrameEntry
from vigil.batch.writer import TrackingWriter

writer = TrackingWriter(Path(sys.argv[1]))
writer.write_frame(FrameEntry(frame=1, tracked_objects=[]))
os.kill(os.getpid(), signal.SIGKILL)  # as kill -9 in the middle of a video
"""


def test_a_new_writer_removes_what_a_killed_one_left(tmp_path: Path) -> None:
    import subprocess
    import sys

    target = tmp_path / "clip_tracking.json"
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, str(target)], check=False, capture_output=True, text=True
    )
    assert killed.returncode == -9, killed.stderr
    left = sorted(path.name for path in tmp_path.iterdir())
    assert len(left) == 1 and left[0].startswith(".clip_tracking.json.") and left[0].endswith(".frames")
    (tmp_path / ".clip_tracking.json.abcd_123.tmp").write_text("half a commit")  # killed in commit
    other = tmp_path / ".other_tracking.json.abcd_123.frames"  # another video's: not ours to delete
    other.write_text("")

    live = TrackingWriter(target)  # a writer still running in another process keeps its file
    resumed = TrackingWriter(target)
    resumed.write_frame(empty(1))
    resumed.commit(metadata(1))
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        live._frames_path.name,
        other.name,
        target.name,
    ]
    live.abort()
    assert sorted(path.name for path in tmp_path.iterdir()) == [other.name, target.name]


def test_the_output_has_the_mode_of_any_new_file_of_the_user(tmp_path: Path) -> None:
    """Not the 0600 of its hidden temporary: the owner's other tools, the group, a web server
    serving the folder read it as they read a file the user's editor wrote (umask 027 here)."""
    import os

    previous = os.umask(0o027)
    try:
        plain = tmp_path / "plain.txt"
        plain.write_text("x", encoding="utf-8")
        target = tmp_path / "clip_tracking.json"
        with TrackingWriter(target) as writer:
            writer.write_frame(empty(1))
            writer.commit(metadata(1))
    finally:
        os.umask(previous)
    assert plain.stat().st_mode & 0o777 == 0o640
    assert target.stat().st_mode & 0o777 == 0o640
