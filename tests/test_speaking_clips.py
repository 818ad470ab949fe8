"""Speaking on real clips through `run_batch`: who speaks, silent clips, the STEP4 fallback and
`active_speakers` (bench/speaking_labels.json has the labels; bench/speaking.py the figures)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SHARED, shared_file
from vigil.batch.runner import run_batch
from vigil.batch.settings import BatchSettings

AUDIENCE = range(212, 276)  # hamilton: the audience listens, the performer is off-screen
PERFORMER = range(83, 212)  # hamilton: the performer raps in a medium shot


def track(video: Path, out_dir: Path) -> dict[str, Any]:
    settings = BatchSettings(models_dir=SHARED / "models", cpu_workers=1)
    report = run_batch([video], settings, out_dir=out_dir, force=True)
    assert report.done == [video], report
    document: dict[str, Any] = json.loads((out_dir / f"{video.stem}_tracking.json").read_text())
    return document


def faces(document: dict[str, Any], frames: range | None = None) -> list[tuple[int, dict[str, Any]]]:
    return [
        (entry["frame"], obj)
        for entry in document["frames"]
        for obj in entry["tracked_objects"]
        if obj["label"] == "face" and (frames is None or entry["frame"] in frames)
    ]


def assert_active_speakers_match(document: dict[str, Any]) -> None:
    for entry in document["frames"]:
        speaking = [obj["id"] for obj in entry["tracked_objects"] if obj.get("is_speaking") is True]
        assert entry["active_speakers"] == speaking, entry["frame"]


@pytest.fixture(scope="module")
def hamilton_doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return track(shared_file("media/video/hamilton_640x360.mp4"), tmp_path_factory.mktemp("ham"))


def test_hamilton_music_and_vocals_do_not_make_every_face_speak(hamilton_doc: dict[str, Any]) -> None:
    every = faces(hamilton_doc)
    assert hamilton_doc["metadata"]["audio_source"] == "silero_vad"
    assert sum(obj["is_speaking"] for _, obj in every) < 0.4 * len(every)  # was 691 of 691
    audience = faces(hamilton_doc, AUDIENCE)
    assert len(audience) > 100
    assert sum(obj["is_speaking"] for _, obj in audience) <= 0.1 * len(audience)
    performer = faces(hamilton_doc, PERFORMER)
    assert sum(obj["is_speaking"] for _, obj in performer) >= 0.6 * len(performer)
    assert_active_speakers_match(hamilton_doc)


def test_faces_without_landmarks_never_speak(hamilton_doc: dict[str, Any]) -> None:
    without = [obj for _, obj in faces(hamilton_doc) if obj["blendshapes"] is None]
    assert all(not obj["is_speaking"] and obj["speaking_confidence"] == 0.0 for obj in without)


def test_silent_clip_has_at_most_two_percent_speaking_frames(tmp_path: Path) -> None:
    document = track(shared_file("media/video/expressions_640x360.mp4"), tmp_path)
    speaking_frames = sum(bool(entry["active_speakers"]) for entry in document["frames"])
    assert speaking_frames <= 0.02 * len(document["frames"])  # was 12-20%
    assert_active_speakers_match(document)


def test_malformed_step4_file_falls_back_with_a_warning(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    video.symlink_to(shared_file("media/video/single_face.mp4"))
    (tmp_path / "clip_audio.json").write_text('{"frames_analysis": [{"frame": "one"}]}')
    document = track(video, tmp_path / "out")  # used to fail the whole video
    metadata = document["metadata"]
    assert metadata["audio_source"] == "silero_vad"
    assert len(metadata["audio_warnings"]) == 1 and "clip_audio.json ignored" in metadata["audio_warnings"][0]
    assert len(document["frames"]) == metadata["total_frames"]
