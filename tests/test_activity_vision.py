"""Visual cues of the activity classifier (vigil/activity/vision.py) on the real clips of
../shared/media/activity, plus the geometry they are made of on hand-placed points."""

from __future__ import annotations

import threading
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from tests.conftest import shared_file
from vigil.activity.cues import PersonCues, VisualSample
from vigil.activity.hands_cues import Landmarks, hand_places
from vigil.activity.motion import MotionMeter
from vigil.activity.objects_near import Detected, near_objects
from vigil.activity.pose import Body, lying_score
from vigil.activity.vision import VisionCancelled, VisionRates, VisualCueExtractor, visual_samples
from vigil.errors import ModelError

CLIPS = {
    "asleep": "asleep/akshint_test_video_sleep.mp4",
    "awake": "inactive/akshint_test_file_awake.mp4",
    "idle": "inactive/intel_head_pose_male.mp4",
    "juggle": "busy/sam2_default_juggle.mp4",
    "yoga": "busy/askanything_yoga.mp4",
    "reading": "reading/videollava_sample_demo_1.mp4",
    "eating": "eating/videoqa_nto_eating_spaghetti.mp4",
}
INTERVAL_S = 0.5
_CACHE: dict[str, list[VisualSample]] = {}


def _models() -> Path:
    for name in ("pose_landmarker_full.task", "hand_landmarker.task", "face_landmarker.task"):
        shared_file(f"models/{name}")
    return shared_file("models/coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite").parent


def cues(name: str) -> list[VisualSample]:
    """The samples of one clip, computed once per test session (the models take ~60 ms a sample)."""
    if name not in _CACHE:
        clip = shared_file(f"media/activity/{CLIPS[name]}")
        samples = visual_samples(clip, INTERVAL_S, model_dirs=[_models()])
        _print_summary(name, samples)
        _CACHE[name] = samples
    return _CACHE[name]


def frac(samples: list[VisualSample], test: Callable[[PersonCues], bool]) -> float:
    return sum(1 for s in samples if s.person is not None and test(s.person)) / len(samples)


def mean_motion(samples: list[VisualSample]) -> float:
    # The first sample has nothing to compare with (0 by definition).
    return float(np.mean([s.person.motion if s.person else 0.0 for s in samples[1:]]))


def _print_summary(name: str, samples: list[VisualSample]) -> None:
    eyes = [s.person.eyes_closed for s in samples if s.person and s.person.eyes_closed is not None]
    objects = sorted({o for s in samples if s.person for o in s.person.objects})
    print(
        f"{name}: n={len(samples)} person={frac(samples, lambda p: True):.2f} "
        f"face={frac(samples, lambda p: p.face_visible):.2f} "
        f"eyes_mean={np.mean(eyes) if eyes else float('nan'):.2f} "
        f"motion={mean_motion(samples):.3f} objects={objects}"
    )


# --- real clips ---------------------------------------------------------------------------


def test_samples_follow_the_interval_and_find_the_person() -> None:
    samples = cues("awake")  # 4.73 s at 14.985 fps
    times = [s.t for s in samples]
    assert len(samples) == 10
    assert times == sorted(times) and len(set(times)) == len(times)
    for k, t in enumerate(times):  # the nearest frame: within half a frame period (1/15 s)
        assert abs(t - k * INTERVAL_S) <= 0.5 / 14.985 + 1e-6
    assert all(s.person is not None and s.people >= 1 for s in samples)
    box = samples[0].person.box if samples[0].person else (0.0, 0.0, 0.0, 0.0)
    # A man seated in the middle of a webcam frame, head and shoulders.
    assert 0.1 < (box[0] + box[2]) / 2 < 0.9 and box[2] - box[0] > 0.3


def test_eyes_closed_on_the_asleep_clip_and_open_on_the_awake_clip_of_the_same_man() -> None:
    asleep, awake = cues("asleep"), cues("awake")
    assert frac(asleep, lambda p: p.face_visible) >= 0.9
    assert frac(asleep, lambda p: (p.eyes_closed or 0.0) > 0.5) >= 0.8
    assert frac(awake, lambda p: p.face_visible) >= 0.9
    assert frac(awake, lambda p: (p.eyes_closed or 0.0) > 0.5) <= 0.1
    # A webcam face: 150-250 px tall in a 360 px frame.
    assert all(p.face_px is not None and 120 < p.face_px < 300 for s in awake if (p := s.person))
    # Seated upright on both.
    assert frac(asleep, lambda p: p.lying > 0.5) == 0.0


def test_motion_is_high_for_juggling_and_yoga_and_low_for_the_inactive_clips() -> None:
    still = max(mean_motion(cues(name)) for name in ("awake", "idle", "asleep"))
    assert still < 0.025
    for name in ("juggle", "yoga"):
        samples = cues(name)
        assert mean_motion(samples) > 3 * still, name
        # The person moves, the camera does not: their box changes more than the whole frame.
        scene = float(np.mean([s.scene_motion for s in samples[1:]]))
        assert mean_motion(samples) > 2 * scene, name
    assert frac(cues("juggle"), lambda p: p.pose_visible) >= 0.9
    # Limbs against the torso: the juggler's legs move, the seated man's do not (the camera is
    # still on both, so this is not the point of the cue, but it must agree with it here).
    limbs = {
        name: float(np.mean([s.person.limb_motion for s in cues(name) if s.person and s.person.limb_motion]))
        for name in ("juggle", "awake")
    }
    assert limbs["juggle"] > 3 * limbs["awake"], limbs


def test_reading_clip_shows_a_book_or_hands_in_front_or_head_down_on_part_of_the_samples() -> None:
    def reading_cue(p: PersonCues) -> bool:
        # The quantised COCO SSD calls this clip's open book a "laptop" more often than a "book".
        return bool({"book", "laptop"} & p.objects) or p.hands_in_front or (p.head_pitch or 0.0) > 15

    assert frac(cues("reading"), reading_cue) >= 0.15
    assert frac(cues("awake"), reading_cue) <= 0.1


def test_eating_clip_has_table_things_near_the_person_and_the_desk_clips_do_not() -> None:
    table = {"dining table", "fork", "knife", "spoon", "bowl", "cup", "wine glass"}
    assert frac(cues("eating"), lambda p: bool(table & p.objects)) >= 0.15
    for name in ("awake", "asleep", "idle"):
        assert frac(cues(name), lambda p: bool(table & p.objects)) == 0.0, name


def _blank_video(path: Path, seconds: float = 2.0, fps: int = 10) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.time_base = Fraction(1, fps)
        for i in range(int(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(np.full((240, 320, 3), 90, np.uint8), format="bgr24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_a_blank_video_has_nobody_and_reports_progress(tmp_path: Path) -> None:
    progress: list[tuple[int, int]] = []
    samples = visual_samples(
        _blank_video(tmp_path / "blank.mp4"),
        0.5,
        model_dirs=[_models()],
        on_progress=lambda done, total: progress.append((done, total)),
    )
    assert len(samples) == 4  # 0, 0.5, 1.0, 1.5 s of a 2 s clip
    assert all(s.person is None and s.people == 0 for s in samples)
    assert all(s.scene_motion < 0.01 for s in samples)
    assert [done for done, _ in progress] == [1, 2, 3, 4]
    assert progress[-1][0] == progress[-1][1]


def test_cancel_stops_the_analysis(tmp_path: Path) -> None:
    cancel = threading.Event()
    video = _blank_video(tmp_path / "blank.mp4")
    with pytest.raises(VisionCancelled):
        visual_samples(
            video, 0.5, model_dirs=[_models()], on_progress=lambda d, t: cancel.set(), cancel=cancel
        )


def test_two_parts_of_a_file_sample_what_the_whole_file_samples() -> None:
    """Two workers can split a file: [0, 2.5) and [2.5, end) give the whole file's sample times
    and (nearly) its cues; the second part starts by seeking, not by decoding from the start."""
    whole = cues("awake")
    clip = shared_file(f"media/activity/{CLIPS['awake']}")
    head = visual_samples(clip, INTERVAL_S, model_dirs=[_models()], end_s=2.5)
    tail = visual_samples(clip, INTERVAL_S, model_dirs=[_models()], start_s=2.5)
    assert [s.t for s in head + tail] == [s.t for s in whole]
    for mine, theirs in zip(head + tail, whole, strict=True):
        assert mine.person is not None and theirs.person is not None
        assert mine.person.eyes_closed == pytest.approx(theirs.person.eyes_closed, abs=0.05)
    assert tail[0].person is not None and tail[0].person.motion == 0.0  # nothing before it
    # One extractor reused for another file (as a worker process does) starts afresh.
    with VisualCueExtractor([_models()]) as extractor:
        visual_samples(shared_file(f"media/activity/{CLIPS['juggle']}"), 2.0, extractor=extractor)
        again = visual_samples(clip, INTERVAL_S, extractor=extractor, start_s=2.5)
        assert extractor.stats.pose_runs >= 1 + 6  # the juggler's body was not reused here
    assert again[0].person is not None and again[0].person.motion == 0.0
    assert again[0].person.limb_motion is None
    assert [s.t for s in again] == [s.t for s in tail]
    with pytest.raises(ValueError, match="bad span"):
        visual_samples(clip, INTERVAL_S, model_dirs=[_models()], start_s=3.0, end_s=2.0)


def test_the_pose_model_rests_while_the_person_is_still_and_runs_while_they_move() -> None:
    runs = {}
    for name in ("idle", "juggle"):
        clip = shared_file(f"media/activity/{CLIPS[name]}")
        with VisualCueExtractor([_models()]) as extractor:
            samples = visual_samples(clip, INTERVAL_S, extractor=extractor)
            runs[name] = (extractor.stats.pose_runs, len(samples))
        assert all(s.person is not None and s.person.pose_visible for s in samples), name
    idle_runs, idle_samples = runs["idle"]
    assert idle_runs == -(-idle_samples // 4)  # one run, then the body reused 3 times
    juggle_runs, juggle_samples = runs["juggle"]
    assert juggle_runs >= 0.9 * juggle_samples
    clip = shared_file(f"media/activity/{CLIPS['idle']}")
    with VisualCueExtractor([_models()], VisionRates(pose_reuse_still=0)) as extractor:
        samples = visual_samples(clip, INTERVAL_S, extractor=extractor)
        assert extractor.stats.pose_runs == len(samples)


def test_a_missing_model_says_how_to_fetch_it(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="vigil models fetch pose_landmarker_full"):
        VisualCueExtractor([tmp_path])


def test_disabled_models_are_not_needed_and_not_run(tmp_path: Path) -> None:
    """With objects and hands off (rate 0), only pose and face files are required."""
    models = _models()
    for name in ("pose_landmarker_full.task", "face_landmarker.task"):
        (tmp_path / name).symlink_to(models / name)
    clip = shared_file(f"media/activity/{CLIPS['awake']}")
    with VisualCueExtractor([tmp_path], VisionRates(objects_every=0, hands_every=0)) as extractor:
        samples = visual_samples(clip, 1.0, extractor=extractor)
        assert extractor.stats.objects_runs == 0 and extractor.stats.hands_runs == 0
        assert extractor.stats.samples == len(samples) == 5
    assert all(s.person is not None and s.person.objects == frozenset() for s in samples)


# --- geometry on hand-placed points --------------------------------------------------------


def _body(points: dict[int, tuple[float, float]]) -> Body:
    xy = np.zeros((33, 2))
    visibility = np.zeros(33)
    for index, point in points.items():
        xy[index], visibility[index] = point, 0.99
    return Body(xy, visibility, (640, 480))


def test_lying_is_the_torso_angle_from_vertical() -> None:
    upright = _body({11: (300, 200), 12: (340, 200), 23: (305, 350), 24: (335, 350)})
    flat = _body({11: (200, 300), 12: (200, 330), 23: (380, 300), 24: (380, 330)})
    desk = _body({0: (320, 120), 11: (280, 220), 12: (360, 220)})  # hips hidden: the neck decides
    assert lying_score(upright) < 0.05
    assert lying_score(flat) > 0.95
    assert lying_score(desk) < 0.05
    assert lying_score(_body({0: (320, 120)})) == 0.0  # no shoulders: unknown, not lying


def test_hand_places_are_measured_in_face_widths() -> None:
    where = Landmarks(
        face_width=100.0,
        mouth=np.array([320.0, 200.0]),
        ears=(np.array([270.0, 150.0]), np.array([370.0, 150.0])),
        eyes_y=140.0,
        shoulders=(np.array([220.0, 280.0]), np.array([420.0, 280.0])),
        hips_y=480.0,
    )
    at_ear = [np.array([[380.0, 160.0], [400.0, 190.0]])]
    at_mouth = [np.array([[325.0, 215.0], [330.0, 240.0]])]
    holding = [np.array([[300.0, 320.0], [340.0, 330.0]])]  # in front of the chest
    resting = [np.array([[150.0, 470.0], [160.0, 475.0]])]  # beside the hips
    assert hand_places(at_ear, where).at_ear and not hand_places(at_ear, where).at_mouth
    assert hand_places(at_mouth, where).at_mouth and not hand_places(at_mouth, where).at_ear
    assert hand_places(holding, where).in_front and not hand_places(holding, where).at_mouth
    assert hand_places(resting, where) == hand_places([], where)
    # The same hand twice as far from the camera: same places.
    far = Landmarks(50.0, where.mouth / 2, (where.ears[0] / 2, where.ears[1] / 2), 70.0)
    assert hand_places([at_ear[0] / 2], far).at_ear


def test_objects_count_when_they_touch_the_grown_person_box() -> None:
    person = (200.0, 100.0, 300.0, 300.0)  # grown by 50%: 175..325 x 50..350
    objects = [
        Detected("cup", (320.0, 250.0, 340.0, 270.0), 0.6),  # inside the grown box
        Detected("book", (400.0, 250.0, 450.0, 280.0), 0.7),  # too far
        Detected("chair", (210.0, 200.0, 290.0, 300.0), 0.9),  # not a NEAR_OBJECTS class
    ]
    assert near_objects(objects, person, (640, 480)) == frozenset({"cup"})


def test_motion_is_measured_in_the_region_and_over_the_frame() -> None:
    meter = MotionMeter()
    frame = np.full((360, 640, 3), 100, np.uint8)
    assert meter.update(frame, (0.0, 0.0, 0.5, 1.0)) == (0.0, 0.0)  # nothing to compare with
    moved = frame.copy()
    moved[:, :320] = 200  # the left half changes by 100 grey levels
    region, scene = meter.update(moved, (0.0, 0.0, 0.5, 1.0))
    assert region == pytest.approx(100 / 255, abs=0.01)
    assert scene == pytest.approx(50 / 255, abs=0.01)
    assert meter.update(moved, (0.5, 0.0, 1.0, 1.0)) == (0.0, 0.0)  # still
