"""`anonymize_videos` on real clips (issue 17): what is kept (frames, timing, resolution, rotation,
the audio packets byte for byte), what is removed (metadata, listed in the sidecar), what fails
alone (a truncated input), and what leaks (other detectors on the output: goal 0).

One run, shared by the tests: the first ~3 s of hamilton (cuts, up to 7 faces) with location and
creation-time tags, single_face with a 90° display rotation, and expressions cut after 10% of its
bytes (index at the start of the file, so it is readable up to the cut)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import av
import numpy as np
import pytest

from tests.conftest import shared_file
from vigil.anonymize.faces import TrackBoxes, find_faces, tracking_settings
from vigil.anonymize.fill import FaceSchedule
from vigil.anonymize.render import RenderJob, render
from vigil.anonymize.report import AnonymizedVideo, AnonymizeReport
from vigil.anonymize.run import AnonymizeProgress, anonymize_videos, sidecar_path
from vigil.anonymize.styles import FaceRegion
from vigil.batch.video import probe_video
from vigil.config import VigilSettings
from vigil.detect import create_detector
from vigil.detect.base import DetectorConfigBase
from vigil.detect.blazeface import BlazeFaceConfig
from vigil.detect.dlib_hog import DlibHogConfig

pytestmark = pytest.mark.timeout(600)

TAGS = {"creation_time": "2024-01-02T03:04:05Z", "location": "+48.8584+002.2945/", "artist": "Jane Doe"}
HAMILTON_SECONDS = 4.0  # presentation time; its video starts at 0.85 s: ~95 frames


def remux(
    source: Path,
    target: Path,
    *,
    seconds: float | None = None,
    tags: dict[str, str] | None = None,
    rotation: int = 0,
    audio: bool = True,
) -> Path:
    """A stream copy of `source` (video + first audio), cut at `seconds`, with tags and rotation."""
    with _open(source) as inp, _open(target, "w") as out:
        out.metadata.update(tags or {})
        mapping = {}
        for stream in (inp.streams.video[0], *inp.streams.audio[: 1 if audio else 0]):
            copy = out.add_stream_from_template(stream)
            copy.metadata.update(tags or {})
            if rotation and stream.type == "video":
                copy.set_display_rotation(rotation)
            mapping[stream.index] = copy
        for packet in inp.demux(*[inp.streams[i] for i in mapping]):
            if packet.dts is None:
                continue
            if (
                seconds is not None
                and packet.pts is not None
                and float(packet.pts * packet.time_base) >= seconds
            ):
                continue
            packet.stream = mapping[packet.stream.index]
            out.mux(packet)
    return target


def _open(path: Path, mode: Literal["r", "w"] = "r") -> Any:
    """A PyAV container, untyped (its stubs do not know every stream method used here)."""
    return av.open(str(path), mode)


@dataclass
class Run:
    hamilton: Path
    rotated: Path
    truncated: Path
    out: Path
    report: AnonymizeReport
    progress: list[AnonymizeProgress]
    settings: VigilSettings

    def output(self, video: Path) -> Path:
        return self.report.done[video]

    def sidecar(self, video: Path) -> AnonymizedVideo:
        return AnonymizedVideo.model_validate_json(sidecar_path(video, self.out).read_text(encoding="utf-8"))


def vigil_settings(**anonymize: Any) -> VigilSettings:
    models = shared_file("models/face_detection_yunet_2023mar.onnx").parent
    return VigilSettings(track={"models_dir": models, "cpu_workers": 1}, anonymize=anonymize)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    root = tmp_path_factory.mktemp("anonymize")
    inputs = root / "in"
    inputs.mkdir()
    hamilton = remux(
        shared_file("media/video/hamilton_640x360.mp4"),
        inputs / "hamilton.mp4",
        seconds=HAMILTON_SECONDS,
        tags=TAGS,
    )
    rotated = remux(shared_file("media/video/single_face.mp4"), inputs / "rotated.mp4", rotation=90)
    data = shared_file("media/video/expressions_640x360.mp4").read_bytes()
    truncated = inputs / "expressions_cut.mp4"
    truncated.write_bytes(data[: len(data) // 10])
    settings = vigil_settings()
    progress: list[AnonymizeProgress] = []
    out = root / "out"
    report = anonymize_videos([hamilton, rotated, truncated], out, settings, progress.append, workers=2)
    return Run(hamilton, rotated, truncated, out, report, progress, settings)


def _frames(path: Path) -> Iterator[Any]:
    with _open(path) as container:
        yield from container.decode(video=0)


def _video(path: Path) -> dict[str, Any]:
    with _open(path) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        return {
            "frames": len(frames),
            "pts": [frame.pts * frame.time_base for frame in frames],
            "size": (frames[0].width, frames[0].height),
            "rate": stream.average_rate,
            "rotation": frames[0].rotation,
        }


def _audio_packets(path: Path) -> tuple[str, list[bytes], float]:
    with _open(path) as container:
        stream = container.streams.audio[0]
        packets = [p for p in container.demux(stream) if p.dts is not None]
        duration = float(sum(p.duration for p in packets) * stream.time_base)
        return stream.codec_context.name, [bytes(p) for p in packets], duration


def test_the_truncated_input_fails_alone_with_a_clear_reason(run: Run) -> None:
    assert set(run.report.done) == {run.hamilton, run.rotated}
    assert set(run.report.failed) == {run.truncated}
    reason = run.report.failed[run.truncated]
    assert "truncated" in reason and "frames" in reason, reason
    assert sorted(p.name for p in run.out.iterdir()) == [
        "hamilton_anonymized.json",
        "hamilton_anonymized.mp4",
        "rotated_anonymized.json",
        "rotated_anonymized.mp4",
    ]  # no temporaries left, nothing for the failed input


def test_frames_timing_resolution_and_rotation_are_kept(run: Run) -> None:
    for video in (run.hamilton, run.rotated):
        before, after = _video(video), _video(run.output(video))
        assert after["frames"] == before["frames"] > 60
        assert after["size"] == before["size"] and after["rate"] == before["rate"]
        assert after["pts"] == before["pts"]  # every presentation time, so duration and sync too
        assert after["rotation"] == before["rotation"]
    assert _video(run.output(run.rotated))["rotation"] == 90


def test_colour_description_and_background_are_kept(run: Run) -> None:
    """hamilton is tagged BT.709: the output says so too, and the picture outside the faces keeps
    its levels. Before, every covered frame went through BGR and back with BT.601 in an untagged
    file: the least changed 30-row band of each frame (background, where the faces are not) was
    0.74 grey levels darker (median over the frames) and moved by 1.51 on average (now 0.05, 0.66)."""
    with _open(run.hamilton) as source, _open(run.output(run.hamilton)) as output:
        given, made = source.streams.video[0].codec_context, output.streams.video[0].codec_context
        assert given.colorspace == 1  # BT.709, as the shared clip is
        for field in ("colorspace", "color_primaries", "color_trc", "color_range"):
            assert getattr(made, field) == getattr(given, field), field
    shifts, moves = [], []
    for before, after in zip(_frames(run.hamilton), _frames(run.output(run.hamilton)), strict=True):
        luma = slice(0, before.height)
        difference = after.to_ndarray()[luma].astype(np.int16) - before.to_ndarray()[luma]
        bands = [difference[top : top + 30] for top in range(0, before.height - 29, 30)]
        calmest = min(bands, key=lambda band: float(np.abs(band).mean()))
        shifts.append(float(calmest.mean()))
        moves.append(float(np.abs(calmest).mean()))
    assert abs(float(np.median(shifts))) < 0.3, np.median(shifts)
    assert float(np.median(moves)) < 1.0, np.median(moves)  # the encoder's own loss


def test_audio_is_copied_packet_for_packet(run: Run) -> None:
    for video in (run.hamilton, run.rotated):
        codec, packets, duration = _audio_packets(video)
        codec_out, packets_out, duration_out = _audio_packets(run.output(video))
        assert codec_out == codec and duration_out == pytest.approx(duration, abs=1e-3)
        assert packets_out == packets and len(packets) > 50
        audio = run.sidecar(video).audio
        assert audio is not None and audio.packets == len(packets)
        assert audio.codec == ("aac" if video == run.hamilton else "mp3")  # single_face has MP3 audio


def test_identifying_metadata_is_stripped_and_listed(run: Run) -> None:
    with av.open(str(run.output(run.hamilton))) as container:
        tags = dict(container.metadata) | dict(container.streams.video[0].metadata)
        tags |= dict(container.streams.audio[0].metadata)
    assert not set(TAGS) & set(tags), tags
    removed = {(r.scope, r.stream_type, r.key) for r in run.sidecar(run.hamilton).metadata_removed}
    assert {("container", None, key) for key in TAGS} <= removed  # the MP4 muxer keeps these per file
    assert {("stream", "video", "creation_time"), ("stream", "audio", "creation_time")} <= removed


def test_sidecar_says_what_was_covered(run: Run) -> None:
    sidecar = run.sidecar(run.hamilton)
    assert sidecar.frames == sidecar.input_frames == _video(run.hamilton)["frames"]
    assert sidecar.faces.tracks == len(sidecar.tracks) >= 3
    assert sidecar.faces.frames_with_faces >= sidecar.frames - 2  # every shot of this clip has a face
    assert sidecar.faces.max_faces_per_frame >= 2
    assert sidecar.faces.shot_cuts  # hamilton cuts at frame 21 and 83
    assert sidecar.options.faces.style == "blur" and sidecar.options.strip_metadata
    assert sidecar.timings.render_fps > 0


def test_progress_goes_through_both_passes_to_the_end(run: Run) -> None:
    phases = [p.phase for p in run.progress]
    assert phases[0] == "faces" and phases[-1] == "done" and "render" in phases
    overall = [p.overall for p in run.progress]
    assert overall == sorted(overall) and overall[-1] == 1.0 and max(overall[:-1]) < 1.0


def _overlaps(a: np.ndarray, b: np.ndarray) -> bool:
    left, top = max(a[0], b[0]), max(a[1], b[1])
    right, bottom = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, right - left) * max(0.0, bottom - top)
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return bool(inter > 0.3 * smaller)


# Known miss (the goal is 0): on frame 72 a dark, downcast face in the audience that YuNet does not
# find at any score >= 0.3 on frames ~70-73 is left uncovered; BlazeFace finds it in the input at
# 0.61 and, depending on the encoder's noise, in the output at ~0.6 (its threshold). More fails.
KNOWN_LEAKS = {"blazeface": 1, "dlib_hog": 0}


@pytest.mark.parametrize("config", [BlazeFaceConfig(), DlibHogConfig()], ids=["blazeface", "dlib_hog"])
def test_no_face_leaks_to_other_detectors(run: Run, config: DetectorConfigBase, models_dir: Path) -> None:
    """Frames where a detector that did not find the faces (BlazeFace full range, dlib HOG) sees a
    face in the output that it also sees at the same place in the input: goal 0."""
    detector = create_detector(config, [models_dir])
    leaks, found_in_input = [], 0
    for number, (before, after) in enumerate(
        zip(_frames(run.hamilton), _frames(run.output(run.hamilton)), strict=True), start=1
    ):
        original = detector.detect(before.to_ndarray(format="bgr24")).xyxy
        found_in_input += len(original)
        if not len(original):
            continue
        seen = detector.detect(after.to_ndarray(format="bgr24")).xyxy
        if any(_overlaps(a, b) for a in seen for b in original):
            leaks.append(number)
    assert found_in_input > 5, "the detector must see faces in the input for this test to mean anything"
    assert len(leaks) <= KNOWN_LEAKS[config.type], leaks


def test_the_frame_hook_sees_every_frame_before_the_faces_are_covered(tmp_path: Path) -> None:
    """The persons pass plugs in as a hook: called once per frame with that frame's faces, on the
    picture as decoded (faces not yet covered), and what it draws reaches the output."""
    video = shared_file("media/video/single_face.mp4")
    info = probe_video(video)
    box = (100.0, 100.0, 200.0, 200.0)
    schedule = FaceSchedule([TrackBoxes("obj_1", [1, info.total_frames], [box, box])], 0, info.total_frames)
    calls: list[tuple[int, int, float]] = []

    def hook(image: np.ndarray, faces: Sequence[FaceRegion], tracks: Sequence[int], frame: int) -> np.ndarray:
        assert list(tracks) == [0]
        calls.append((frame, len(faces), float(image[100:200, 100:200].std())))
        image[:20, :20] = (0, 0, 255)  # a red corner
        return image

    settings = vigil_settings()
    options = settings.anonymize
    job = RenderJob(video, tmp_path / "out.mp4", info, schedule, options.faces, options.video, True, hook)
    stats = render(job)
    assert stats.frames == info.total_frames == len(calls)
    assert [c[0] for c in calls] == list(range(1, info.total_frames + 1)) and {c[1] for c in calls} == {1}
    assert min(c[2] for c in calls) > 10  # the face region still had its detail when the hook ran
    first = next(_frames(tmp_path / "out.mp4")).to_ndarray(format="bgr24")
    assert first[5:15, 5:15, 2].mean() > 200 and first[5:15, 5:15, :2].mean() < 60


def test_extra_engines_add_their_tracks(tmp_path: Path) -> None:
    """A second detector's tracks join the first's (ids prefixed with its name); both are covered."""
    video = shared_file("media/video/single_face.mp4")
    settings = vigil_settings(faces={"extra_engines": ["blazeface"]})
    batch = tracking_settings(settings.track, settings.anonymize.faces, workers=1)
    found, report = find_faces([video], batch, tmp_path, extra_engines=settings.anonymize.faces.extra_engines)
    assert report.done == [video] and not report.failed
    faces = found[video]
    ids = {track.track_id for track in faces.tracks}
    assert any(i.startswith("blazeface:obj_") for i in ids) and any(i.startswith("obj_") for i in ids), ids
    assert faces.engine.endswith("+blazeface") and faces.total_frames == 72
    assert not list(tmp_path.iterdir())  # the tracker's outputs are deleted once read


def test_the_persons_pass_runs_as_the_hook(tmp_path: Path) -> None:
    """With anonymize.persons.style set, PersonAnonymizer changes the bodies too: much more of the
    frame differs from the faces-only output than the face boxes' encoding noise."""
    video = shared_file("media/video/single_face.mp4")
    first_frames = {}
    for style in ("none", "silhouette"):
        settings = vigil_settings(persons={"style": style})
        report = anonymize_videos([video], tmp_path / style, settings, workers=1)
        assert report.sidecars[video].options.persons == style
        first_frames[style] = next(_frames(report.done[video])).to_ndarray(format="bgr24").astype(int)
    changed = np.abs(first_frames["silhouette"] - first_frames["none"]).max(axis=2) > 20
    assert changed.mean() > 0.05, changed.mean()


def test_cancel_while_rendering_leaves_nothing_half_written(tmp_path: Path) -> None:
    video = shared_file("media/video/single_face.mp4")
    cancel = threading.Event()
    seen: list[AnonymizeProgress] = []

    def progress(update: AnonymizeProgress) -> None:
        seen.append(update)
        if update.phase == "render" and update.frames_done >= 20:
            cancel.set()

    out = tmp_path / "out"
    report = anonymize_videos([video], out, vigil_settings(), progress, cancel, workers=1)
    assert cancel.is_set() and report.done == {} and report.failed == {}
    assert [p.name for p in out.iterdir()] == []  # no output, no sidecar, no temporary
    assert seen[-1].phase == "render" and seen[-1].overall < 1


def test_a_video_without_sound_gives_one_without_sound(tmp_path: Path) -> None:
    silent = remux(shared_file("media/video/single_face.mp4"), tmp_path / "silent.mp4", audio=False)
    report = anonymize_videos([silent], tmp_path / "out", vigil_settings(), workers=1)
    output = report.done[silent]
    with _open(output) as container:
        assert len(container.streams.video) == 1 and not container.streams.audio
    assert report.sidecars[silent].audio is None and report.sidecars[silent].frames == 72
