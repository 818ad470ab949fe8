"""Stable batch ids: shot cuts end tracks (detected, or from the seed's STEP3 CSV), fragments of a
person are re-linked within a shot, ids start on the frame a face is detected.

Unit tests on synthetic frames and boxes; slow ones on the shared clips, scored against the
hand-checked labels of bench/ids_labels.json (bench/ids.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import av
import numpy as np
import pytest
from av.video.reformatter import VideoReformatter

from bench.ids import labels, score
from tests.batch_util import batch_settings, clip, load_output
from vigil.batch.appearance import describe, similarity
from vigil.batch.relink import BatchTracker, Observation
from vigil.batch.runner import run_batch
from vigil.batch.settings import BatchTrackerConfig
from vigil.batch.shots import (
    THUMB_SIZE,
    SceneCsvError,
    ShotDetector,
    content_score,
    read_scene_csv,
    scene_cuts,
    signature,
)
from vigil.types import FloatArray

RNG = np.random.default_rng(7)


def _scene(colour: tuple[int, int, int]) -> np.ndarray:
    """An RGB thumbnail: a flat colour with a gradient, so a camera move changes it a little."""
    w, h = THUMB_SIZE
    base = np.zeros((h, w, 3), np.float32) + np.asarray(colour, np.float32)
    base[..., 1] += np.linspace(0, 60, w, dtype=np.float32)[None, :]
    return np.clip(base, 0, 255).astype(np.uint8)


def _noisy(image: np.ndarray, shift: int = 0) -> np.ndarray:
    moved = np.roll(image, shift, axis=1).astype(np.int16) + RNG.integers(-4, 5, image.shape)
    noisy: np.ndarray = np.clip(moved, 0, 255).astype(np.uint8)
    return noisy


def test_a_hard_cut_is_found_on_its_first_frame_and_motion_is_not_a_cut() -> None:
    shot_a, shot_b = _scene((40, 60, 200)), _scene((200, 120, 30))
    frames = [_noisy(shot_a, shift=i) for i in range(30)] + [_noisy(shot_b, shift=i) for i in range(30)]
    detector = ShotDetector()
    cuts = [n for n, rgb in enumerate(frames, start=1) if detector.update(n, signature(rgb))]
    assert cuts == [31]
    assert detector.cuts == [31]
    assert content_score(signature(shot_a), signature(shot_a)) == 0.0


def test_an_undecodable_frame_is_compared_with_the_last_decoded_one() -> None:
    a, b = signature(_scene((40, 60, 200))), signature(_scene((200, 120, 30)))
    detector = ShotDetector()
    assert [detector.update(1, a), detector.update(2, None), detector.update(3, a)] == [False, False, False]
    assert detector.update(4, b)


def test_scene_csv_cuts_are_honoured_with_either_numbering(tmp_path: Path) -> None:
    header = "No,Timecode In,Timecode Out,Frame In,Frame Out\n"
    one_based = tmp_path / "one.csv"
    one_based.write_text(header + "1,00:00:00.000,00:00:01.000,1,30\n2,00:00:01.033,00:00:02.000,31,60\n")
    zero_based = tmp_path / "zero.csv"
    zero_based.write_text(header + "1,00:00:00.000,00:00:01.000,0,29\n2,00:00:01.000,00:00:02.000,30,59\n")
    assert read_scene_csv(one_based) == [31]
    assert read_scene_csv(zero_based) == [31]
    detector = ShotDetector(read_scene_csv(one_based))
    same = signature(_scene((40, 60, 200)))
    assert [n for n in range(1, 61) if detector.update(n, same)] == [31]


def test_a_malformed_scene_csv_gives_a_warning_not_a_failure(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"")
    (tmp_path / "clip.csv").write_text("No,Timecode In,Timecode Out,Frame In,Frame Out\n1,a,b,x,y\n")
    with pytest.raises(SceneCsvError, match="Frame In"):
        read_scene_csv(tmp_path / "clip.csv")
    cuts, warning = scene_cuts(video)
    assert cuts == [] and warning is not None and "clip.csv" in warning


def _box(x: float, y: float, size: float) -> FloatArray:
    return np.asarray([x, y, x + size, y + size], np.float32)


def _look(colour: tuple[int, int, int]) -> FloatArray:
    image = np.zeros((200, 200, 3), np.uint8)
    image[:] = colour
    return describe(image, _box(50, 20, 60))


def test_a_new_face_has_its_id_on_the_frame_it_is_detected() -> None:
    tracker = BatchTracker(BatchTrackerConfig())
    step = tracker.update(1, [Observation(_box(10, 10, 50), 0.9), Observation(_box(200, 10, 50), 0.3)])
    assert [row for row, _ in step.pairs] == [0], "below the activation threshold: never tracked"
    first = step.pairs[0][1]
    step = tracker.update(2, [Observation(_box(200, 10, 50), 0.3), Observation(_box(12, 10, 50), 0.9)])
    assert step.pairs == [(1, first)], "each row keeps its own track, whatever the order"


def test_a_cut_ends_every_track() -> None:
    tracker = BatchTracker(BatchTrackerConfig())
    first = tracker.update(1, [Observation(_box(10, 10, 50), 0.9)]).pairs[0][1]
    step = tracker.update(2, [Observation(_box(10, 10, 50), 0.9)], cut=True)
    assert step.ended == [first]
    assert step.pairs[0][1] != first


def test_a_fast_face_whose_box_was_held_is_relinked_by_colour_and_motion() -> None:
    tracker = BatchTracker(BatchTrackerConfig())
    red, blue = _look((200, 30, 30)), _look((30, 30, 200))
    first = tracker.update(1, [Observation(_box(100, 100, 100), 0.9, red)]).pairs[0][1]
    for frame in range(2, 6):  # landmarks lost: the worker holds the box where it was detected
        assert (
            tracker.update(frame, [Observation(_box(100, 100, 100), 0.9, None, held=True)]).pairs[0][1]
            == first
        )
    # Frame 6: detected again 175 px further (35 px/frame): no overlap with the held box.
    step = tracker.update(6, [Observation(_box(275, 100, 100), 0.9, red)])
    assert step.pairs == [(0, first)] and step.relinked == [first]
    # Someone else, as far, with other colours, is not that person.
    other = BatchTracker(BatchTrackerConfig())
    other.update(1, [Observation(_box(100, 100, 100), 0.9, red)])
    for frame in range(2, 6):
        other.update(frame, [Observation(_box(100, 100, 100), 0.9, None, held=True)])
    assert other.update(6, [Observation(_box(275, 100, 100), 0.9, blue)]).pairs[0][1] != first


def test_a_small_face_is_not_taken_over_by_a_large_one_overlapping_it() -> None:
    tracker = BatchTracker(BatchTrackerConfig())
    small = tracker.update(1, [Observation(_box(100, 100, 50), 0.9)]).pairs[0][1]
    step = tracker.update(2, [Observation(_box(60, 60, 140), 0.9)])  # contains the small box
    assert step.pairs[0][1] != small


def test_colour_similarity_tells_alike_from_unlike() -> None:
    red, red_again, blue = _look((200, 30, 30)), _look((205, 35, 28)), _look((30, 30, 200))
    assert similarity(red, red_again) > 0.9
    assert similarity(red, blue) < 0.2


# ------------------------------------------------------------------ real clips (hand-checked)


def _cuts_of(name: str) -> list[int]:
    """The detector's cuts over a clip's thumbnails, made as the workers make them."""
    scaler, detector = VideoReformatter(), ShotDetector()
    with av.open(str(clip(name))) as container:
        for number, frame in enumerate(container.decode(video=0), start=1):
            thumb = scaler.reformat(
                frame,
                width=THUMB_SIZE[0],
                height=THUMB_SIZE[1],
                format="rgb24",
                interpolation="AREA",
                threads=1,
            ).to_ndarray()
            detector.update(number, signature(thumb))
    return detector.cuts


@pytest.mark.parametrize(
    ("name", "cuts"),
    [
        ("hamilton_640x360.mp4", [21, 83, 212]),  # bench/ids_labels.json, seen on the frames
        ("crowd_1080p.mp4", []),  # people walking fast across the frame: no cut
        ("expressions_640x360.mp4", []),
        ("face_then_noface_hevc.mov", [73, 74]),  # a black frame, then the sky
        ("noface_then_face_hevc.mov", [97, 169]),  # sky -> face, face -> black
    ],
)
def test_the_cuts_of_the_shared_clips(name: str, cuts: list[int]) -> None:
    assert _cuts_of(name) == cuts


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ids")
    names = ["hamilton_640x360.mp4", "crowd_1080p.mp4", "single_face.mp4"]
    # 2 workers and small chunks: cuts and re-links must hold across chunk boundaries.
    report = run_batch([clip(n) for n in names], batch_settings(cpu_workers=2, chunk_size=37), out_dir=out)
    assert not report.failed
    return out


@pytest.mark.slow
def test_hamilton_no_id_spans_a_cut_or_two_people(tracked: Path) -> None:
    label = labels()["hamilton_640x360.mp4"]
    document = load_output(tracked / "hamilton_640x360_tracking.json")
    assert document["metadata"]["shot_cuts"] == label["cuts"]
    result = score("hamilton_640x360.mp4", document, label)
    assert result.ids_spanning_cuts == 0
    assert result.ids_spanning_people == 0
    assert result.late_starts == 0


@pytest.mark.slow
def test_single_face_is_on_frame_one(tracked: Path) -> None:
    frames = load_output(tracked / "single_face_tracking.json")["frames"]
    assert [o["label"] for o in frames[0]["tracked_objects"]] == ["face"]
    assert len({o["id"] for f in frames for o in f["tracked_objects"]}) == 1


@pytest.mark.slow
def test_crowd_fragments_per_person_are_bounded(tracked: Path) -> None:
    label = labels()["crowd_1080p.mp4"]
    result = score("crowd_1080p.mp4", load_output(tracked / "crowd_1080p_tracking.json"), label)
    assert result.ids_spanning_people == 0
    assert result.fragments_mean <= 1.2
    assert result.ids <= 15  # 11 people, one of them with a spurious box on his hair (26 before)


@pytest.mark.slow
def test_a_step3_scene_csv_cuts_the_tracks(tmp_path: Path) -> None:
    video = tmp_path / "single_face.mp4"
    shutil.copy(clip("single_face.mp4"), video)
    (tmp_path / "single_face.csv").write_text(
        "No,Timecode In,Timecode Out,Frame In,Frame Out\n"
        "1,00:00:00.000,00:00:01.000,1,29\n2,00:00:01.000,00:00:02.400,30,72\n"
    )
    run_batch([video], batch_settings(), out_dir=tmp_path / "out")
    document = load_output(tmp_path / "out" / "single_face_tracking.json")
    ids = [{o["id"] for o in f["tracked_objects"]} for f in document["frames"]]
    assert ids[0] == ids[28] == {"obj_1"}
    assert ids[29] == ids[71] == {"obj_2"}
    assert document["metadata"]["shot_cuts"] == [30]
    assert document["metadata"]["scene_csv_warning"] is None
    # A CSV that cannot be read: the video is still tracked, with the reason in the metadata.
    (tmp_path / "single_face.csv").write_text("No,Timecode In,Timecode Out,Frame In,Frame Out\n1,a,b,x,y\n")
    run_batch([video], batch_settings(), out_dir=tmp_path / "out", force=True)
    metadata = load_output(tmp_path / "out" / "single_face_tracking.json")["metadata"]
    assert metadata["shot_cuts"] == [] and "Frame In" in metadata["scene_csv_warning"]
