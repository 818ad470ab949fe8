"""run_batch end to end on every shared clip: dense, schema-valid, chunked = single-worker run;
failures, skipping, cancellation and the person fallback."""

from __future__ import annotations

import dataclasses
import itertools
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.batch_util import (
    SHARED_CLIPS,
    batch_settings,
    clean_env,
    clip,
    load_output,
    object_ids,
    rewritten_through_the_models,
    write_clip,
    write_mjpeg_with_a_broken_frame,
)
from vigil.batch.progress import BatchProgress
from vigil.batch.runner import BatchReport, chunk_size_for, run_batch
from vigil.batch.validate import validate_tracking_file
from vigil.batch.video import probe_video
from vigil.errors import ModelError

Outputs = dict[str, Any]
# The `outputs` fixture runs every shared clip twice with the default engine (the Face Landmarker on
# every face of every frame): minutes on a busy 2-core machine, counted in the first test's time.
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> Outputs:
    """Every shared clip twice: one chunk in this process, and 23-frame chunks over 2 spawned workers."""
    videos = [clip(name) for name in SHARED_CLIPS]
    root = tmp_path_factory.mktemp("batch")
    progress: list[BatchProgress] = []
    with pytest.MonkeyPatch.context() as patch:
        for key in set(__import__("os").environ) - set(clean_env()):
            patch.delenv(key)
        single = run_batch(videos, batch_settings(chunk_size=1_000_000), out_dir=root / "single")
        # 23 frames: not a multiple of detect_every_n (5), so chunks overlap by up to 4 frames.
        chunked_settings = batch_settings(cpu_workers=2, chunk_size=23)
        chunked = run_batch(videos, chunked_settings, out_dir=root / "chunked", on_progress=progress.append)
    return {"videos": videos, "root": root, "single": single, "chunked": chunked, "progress": progress}


def _output(outputs: Outputs, run: str, video: Path) -> Path:
    return Path(outputs["root"]) / run / f"{video.stem}_tracking.json"


@pytest.mark.parametrize("run", ["single", "chunked"])
def test_every_output_round_trips_through_the_models_byte_for_byte(
    outputs: Outputs, run: str, tmp_path: Path
) -> None:
    for video in outputs["videos"]:
        path = _output(outputs, run, video)
        assert rewritten_through_the_models(path, tmp_path / path.name) == path.read_bytes(), video.name


@pytest.mark.parametrize("run", ["single", "chunked"])
def test_every_clip_dense_and_schema_valid(outputs: Outputs, run: str) -> None:
    report: BatchReport = outputs[run]
    assert report.failed == {}
    assert sorted(report.done) == sorted(outputs["videos"])
    for video in outputs["videos"]:
        path = _output(outputs, run, video)
        assert validate_tracking_file(path) == [], video.name
        data = load_output(path)
        total = probe_video(video).total_frames
        assert data["metadata"]["total_frames"] == total
        assert [frame["frame"] for frame in data["frames"]] == list(range(1, total + 1))
        assert not list(path.parent.glob(".*")), "temporary files left behind"


def test_chunked_run_equals_single_worker_run(outputs: Outputs) -> None:
    for video in outputs["videos"]:
        single = load_output(_output(outputs, "single", video))["frames"]
        chunked = load_output(_output(outputs, "chunked", video))["frames"]
        assert load_output(_output(outputs, "chunked", video))["metadata"]["chunks"] > 1
        ids_single, ids_chunked = object_ids(single), object_ids(chunked)
        assert len(ids_single) == len(ids_chunked), video.name
        if ids_single:
            same = sum(a == b for a, b in zip(ids_single, ids_chunked, strict=True))
            assert same / len(ids_single) >= 0.99, video.name
        # Stronger than the goal: every frame (boxes, blendshapes, speaking) is identical.
        assert single == chunked, video.name


def test_faces_found_where_the_clips_have_them(outputs: Outputs) -> None:
    def frames(name: str) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = load_output(_output(outputs, "chunked", clip(name)))["frames"]
        return data

    single = frames("single_face.mp4")
    assert sum(bool(f["tracked_objects"]) for f in single) / len(single) > 0.9
    assert len(set(object_ids(single))) == 1
    assert object_ids(frames("no_face.mp4")) == []
    assert len(set(object_ids(frames("hamilton_640x360.mp4")))) >= 3
    for name, face_first in (("face_then_noface_hevc.mov", True), ("noface_then_face_hevc.mov", False)):
        found = [bool(f["tracked_objects"]) for f in frames(name)]
        head, tail = found[:40], found[-40:]
        assert (sum(head) > sum(tail)) is face_first, name
    face = next(obj for f in single for obj in f["tracked_objects"])
    assert face["label"] == "face" and face["source"] == "face_landmarker"
    assert set(face["head_pose"]) == {"pitch", "yaw", "roll", "translation"}
    assert len(face["head_pose"]["translation"]) == 3
    # The default engine with face_landmarker.task in the models dirs: 52 learned blendshapes.
    assert len(face["blendshapes"]) == 52 and "cheekSquintLeft" in face["blendshapes"]
    assert "landmarks" not in face  # verbose export is off by default
    # The seed's newer fields (STEP5 v4.1): version, engine, CPU use, per-frame time.
    metadata = load_output(_output(outputs, "chunked", clip("single_face.mp4")))["metadata"]
    assert (metadata["version"], metadata["tracking_engine"]) == ("4.1", "mediapipe_landmarker")
    assert metadata["engine"] == metadata["tracking_engine"]
    assert 0 < metadata["performance_metrics"]["cpu_utilization_percent"] <= 100
    times = [f["timestamp_ms"] for f in single]
    assert times[0] == 0.0 and all(b > a for a, b in itertools.pairwise(times))
    assert abs(times[30] - 30 * 1000 / metadata["fps"]) < 1.0


def test_progress_capped_until_every_video_is_done(outputs: Outputs) -> None:
    progress: list[BatchProgress] = outputs["progress"]
    assert progress[-1].overall == 1.0
    assert all(p.overall <= 0.99 for p in progress if any(v.state != "done" for v in p.videos))
    overall = [p.overall for p in progress]
    assert overall == sorted(overall), "overall progress went backwards"
    # Several videos in flight at once (parallel_videos = 2).
    assert any(sum(v.state == "running" for v in p.videos) >= 2 for p in progress)
    last = {v.video: v for v in progress[-1].videos}
    assert all(v.chunks_done == v.chunks_total > 1 for v in last.values())


def test_corrupt_and_truncated_videos_fail_and_others_continue(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 200)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(clip("hamilton_640x360.mp4").read_bytes()[:250_000])
    good = clip("single_face.mp4")
    out = tmp_path / "out"
    report = run_batch([garbage, truncated, good], batch_settings(), out_dir=out)
    assert report.done == [good]
    assert set(report.failed) == {garbage, truncated}
    assert "truncated" in report.failed[truncated] or "corrupt" in report.failed[truncated]
    assert all(report.failed.values())
    assert sorted(p.name for p in out.iterdir()) == ["single_face_tracking.json"]


def test_skip_existing_unless_forced(tmp_path: Path) -> None:
    video = clip("single_face.mp4")
    settings = batch_settings()
    assert run_batch([video], settings, out_dir=tmp_path).done == [video]
    output = tmp_path / "single_face_tracking.json"
    output.write_text('{"marker": true}')  # a rerun must not touch it
    again = run_batch([video], settings, out_dir=tmp_path)
    assert again.skipped == [video] and again.done == []
    assert output.read_text() == '{"marker": true}'
    forced = run_batch([video], settings, out_dir=tmp_path, force=True)
    assert forced.done == [video]
    assert validate_tracking_file(output) == []


def test_cancel_keeps_finished_outputs_and_rerun_does_the_rest(tmp_path: Path) -> None:
    first, second = clip("single_face.mp4"), clip("expressions_640x360.mp4")
    cancel = threading.Event()

    def on_progress(progress: BatchProgress) -> None:
        states = {v.video: v for v in progress.videos}
        if states[second].chunks_done >= 2:
            cancel.set()

    settings = batch_settings(parallel_videos=1)
    report = run_batch([first, second], settings, out_dir=tmp_path, on_progress=on_progress, cancel=cancel)
    assert report.done == [first]
    assert second not in report.failed  # cancelled, not failed: the job is unfinished
    assert sorted(p.name for p in tmp_path.iterdir()) == ["single_face_tracking.json"]
    rerun = run_batch([first, second], settings, out_dir=tmp_path)
    assert rerun.skipped == [first] and rerun.done == [second]


def test_person_fallback_objects_carry_no_face_fields(tmp_path: Path) -> None:
    # dlib's HOG finds no face in hamilton's first second (a profile); MediaPipe Pose finds the man.
    excerpt = write_clip(clip("hamilton_640x360.mp4"), tmp_path / "audience.mp4", 0, 30)
    settings = batch_settings(engine="dlib_hog", enable_object_detection=True, detect_every_n=5)
    report = run_batch([excerpt], settings, out_dir=tmp_path / "out")
    assert report.done == [excerpt]
    path = tmp_path / "out" / "audience_tracking.json"
    assert validate_tracking_file(path) == []
    data = load_output(path)
    persons = [o for f in data["frames"] for o in f["tracked_objects"] if o["label"] == "person"]
    assert persons, "no person found"
    assert data["metadata"]["detection_stats"]["object_detection_fallback_used"] is True
    face_fields = {"is_speaking", "speaking_confidence", "speaking_method", "speaking_sources"}
    face_fields |= {"blendshapes", "head_pose", "landmarks"}
    for person in persons:
        assert person["source"] == "object_detector"
        assert not face_fields & set(person)
    assert rewritten_through_the_models(path, tmp_path / "again_tracking.json") == path.read_bytes()


def test_unavailable_engines_fail_fast_with_the_files_to_provide(tmp_path: Path) -> None:
    video = clip("single_face.mp4")
    with pytest.raises(ModelError, match=r"sfm_model\.bin"):
        run_batch([video], batch_settings(engine="eos"), out_dir=tmp_path)
    with pytest.raises(ModelError, match="vigil models fetch"):
        run_batch([video], batch_settings(models_dir=tmp_path / "none", yunet_model_path=tmp_path / "x.onnx"))
    assert list(tmp_path.iterdir()) == []


def test_chunks_are_at_least_a_gop_long_unless_fixed() -> None:
    crowd = probe_video(clip("crowd_1080p.mp4"))  # one keyframe in 105 frames
    assert len(crowd.keyframes) == 1
    assert chunk_size_for(crowd, batch_settings(cpu_workers=2)) == 53  # total / workers
    assert chunk_size_for(crowd, batch_settings(cpu_workers=2, chunk_size=20)) == 20
    many = dataclasses.replace(crowd, keyframes=crowd.pts[::5])  # a keyframe every 5 frames
    assert chunk_size_for(many, batch_settings(cpu_workers=2)) is None  # the seed's adaptive size
    small = dataclasses.replace(crowd, width=640, height=360)  # cheap to decode: seed's chunks
    assert chunk_size_for(small, batch_settings(cpu_workers=2)) is None


def test_undecodable_frame_keeps_its_empty_entry(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    video = write_mjpeg_with_a_broken_frame(clip("single_face.mp4"), tmp_path / "broken.avi", 30, 10)
    report = run_batch([video], batch_settings(chunk_size=8), out_dir=tmp_path / "out")
    assert report.done == [video]
    path = tmp_path / "out" / "broken_tracking.json"
    assert validate_tracking_file(path) == []
    data = load_output(path)
    assert len(data["frames"]) == 30 and data["metadata"]["undecodable_frames"] == 1
    assert data["frames"][9]["tracked_objects"] == []
    assert data["frames"][8]["tracked_objects"] and data["frames"][11]["tracked_objects"]
    assert "frame 10 could not be decoded" in caplog.text


def test_unwritable_output_fails_the_video_not_the_run(tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file where a folder should be")
    video = clip("single_face.mp4")
    report = run_batch([video], batch_settings(), out_dir=blocker / "out")
    assert report.done == [] and "cannot write the output" in report.failed[video]


def test_verbose_landmarks_and_blendshape_profiles(tmp_path: Path) -> None:
    video = clip("single_face.mp4")
    settings = batch_settings(export_verbose_fields=True, blendshapes_profile="mouth", chunk_size=30)
    assert run_batch([video], settings, out_dir=tmp_path / "mouth").done == [video]
    path = tmp_path / "mouth" / "single_face_tracking.json"
    assert validate_tracking_file(path) == []
    faces = [o for f in load_output(path)["frames"] for o in f["tracked_objects"]]
    with_landmarks = [face for face in faces if face["blendshapes"] is not None]
    assert with_landmarks and all(len(face["landmarks"]) == 478 for face in with_landmarks)
    assert rewritten_through_the_models(path, tmp_path / "again_tracking.json") == path.read_bytes()
    assert all(key.startswith(("mouth", "jaw")) for face in with_landmarks for key in face["blendshapes"])
    none = batch_settings(blendshapes_profile="none", chunk_size=30)
    assert run_batch([video], none, out_dir=tmp_path / "none").done == [video]
    faces = [
        o
        for f in load_output(tmp_path / "none" / "single_face_tracking.json")["frames"]
        for o in f["tracked_objects"]
    ]
    assert faces and all(face["blendshapes"] is None and "landmarks" not in face for face in faces)
    assert any(face["head_pose"] is not None for face in faces)
