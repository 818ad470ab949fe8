"""Blendshapes and head pose on real faces: MediaPipe FaceMesh (478 points) and dlib (68 points)
landmarks of frames of expressions_640x360.mp4 and of the reference photos in faces/people."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import av
import cv2
import dlib
import face_recognition_models
import mediapipe as mp
import numpy as np
import pytest

from tests.conftest import read_image, shared_file
from vigil.batch.blendshapes import (
    ARKIT_KEYS,
    MEDIAPIPE_KEYS,
    BlendshapeEstimator,
    LandmarkLayout,
    face_measures,
    filter_for_export,
    raw_blendshapes,
)
from vigil.batch.headpose import FACE_MODEL, head_pose

LAYOUTS: tuple[LandmarkLayout, ...] = ("facemesh478", "dlib68")
VIDEO = "media/video/expressions_640x360.mp4"
# Frames picked by looking at them (1-based): a sad face with the mouth closed and the eyes shut,
# a laugh with the mouth wide open, and a smile with the eyes open.
MOUTH_CLOSED = (1, 11, 21, 31, 41)
MOUTH_OPEN = (301, 311, 321, 331, 341)
EYES_CLOSED = (21, 31, 41)
EYES_OPEN = (241, 261, 281)
SMILING_PHOTOS = ("alex_lacamoire/img1.jpg", "alex_lacamoire/ref.png", "biden/biden2.jpg", "obama/obama.jpg")
NEUTRAL_PHOTOS = (
    "angelina_jolie/1.jpg", "biden/biden.jpg", "kate_siegel/1.jpg", "kit_harington/john1.jpeg",
    "kit_harington/john2.jpeg", "paul_rudd/1.jpg", "rose_leslie/img1.jpg", "rose_leslie/img2.jpg",
    "shea_whigham/1.jpg",
)  # fmt: skip
SPEAKING_PHOTO = "obama/obama2.jpg"  # mouth open mid-word


class Landmarkers:
    """FaceMesh (static images, iris refinement) and dlib HOG + 68-point predictor."""

    def __init__(self) -> None:
        self.mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=1, refine_landmarks=True
        )
        self.hog = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())

    def facemesh(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        result = self.mesh.process(np.ascontiguousarray(image[:, :, ::-1]))
        assert result.multi_face_landmarks, "FaceMesh found no face"
        points = result.multi_face_landmarks[0].landmark
        mesh: np.ndarray = np.array([[p.x * w, p.y * h, p.z * w] for p in points], np.float32)
        return mesh

    def dlib68(self, image: np.ndarray) -> np.ndarray:
        # HOG on a crop around the face FaceMesh found, scaled to ~320 px: large photos stay fast.
        mesh = self.facemesh(image)[:, :2]
        (x0, y0), (x1, y1) = mesh.min(0), mesh.max(0)
        margin = 0.5 * max(x1 - x0, y1 - y0)
        left, top = int(max(x0 - margin, 0)), int(max(y0 - margin, 0))
        crop = image[top : int(y1 + margin), left : int(x1 + margin)]
        scale = 320 / max(crop.shape[:2])
        small = np.ascontiguousarray(cv2.resize(crop, None, fx=scale, fy=scale)[:, :, ::-1])
        rects = self.hog(small, 0)
        assert rects, "dlib found no face"
        shape = self.predictor(small, max(rects, key=lambda r: r.area()))
        points: np.ndarray = np.array([[p.x, p.y] for p in shape.parts()], np.float32)
        return points / np.float32(scale) + np.array([left, top], np.float32)

    def points(self, image: np.ndarray, layout: LandmarkLayout) -> np.ndarray:
        return self.facemesh(image) if layout == "facemesh478" else self.dlib68(image)


@pytest.fixture(scope="module")
def landmarkers() -> Iterator[Landmarkers]:
    found = Landmarkers()
    yield found
    found.mesh.close()


def _decode(frames: set[int]) -> dict[int, np.ndarray]:
    wanted: dict[int, np.ndarray] = {}
    with av.open(str(shared_file(VIDEO))) as container:
        for number, frame in enumerate(container.decode(video=0), start=1):
            if number in frames:
                wanted[number] = frame.to_ndarray(format="bgr24")
            if number >= max(frames):
                break
    return wanted


@pytest.fixture(scope="module")
def video_points(landmarkers: Landmarkers) -> dict[str, dict[int, np.ndarray]]:
    frames = _decode(set(MOUTH_CLOSED + MOUTH_OPEN + EYES_OPEN))
    return {layout: {n: landmarkers.points(img, layout) for n, img in frames.items()} for layout in LAYOUTS}


@pytest.fixture(scope="module")
def photo_points(landmarkers: Landmarkers) -> dict[str, dict[str, np.ndarray]]:
    names = (*SMILING_PHOTOS, *NEUTRAL_PHOTOS, SPEAKING_PHOTO)
    images = {name: read_image(f"media/faces/people/{name}") for name in names}
    return {layout: {n: landmarkers.points(img, layout) for n, img in images.items()} for layout in LAYOUTS}


def _calibrated(layout: LandmarkLayout, points: dict[int, np.ndarray]) -> dict[int, dict[str, float]]:
    """One track over the picked frames in order: the closed-mouth frames come first, so they
    are the track's neutral."""
    estimator = BlendshapeEstimator()
    results = {}
    for frame in sorted(points):
        values = estimator.update("obj_1", frame, points[frame], layout)
        assert values is not None
        results[frame] = values
    return results


@pytest.mark.parametrize("layout", LAYOUTS)
def test_values_are_in_unit_range_with_expected_keys(layout: LandmarkLayout, video_points: Any) -> None:
    results = _calibrated(layout, video_points[layout])
    for values in results.values():
        assert all(0.0 <= v <= 1.0 for v in values.values()), values
        assert set(values) <= set(ARKIT_KEYS)
        required = {"jawOpen", "mouthClose", "mouthSmileLeft", "mouthSmileRight", "mouthPucker"}
        assert required | {"mouthFunnel", "eyeBlinkLeft", "eyeBlinkRight", "browInnerUp"} <= set(values)
        assert ("eyeLookUpLeft" in values) == (layout == "facemesh478")  # iris: FaceMesh only
        assert "tongueOut" not in values  # no tongue landmarks: never invented


@pytest.mark.parametrize("layout", LAYOUTS)
def test_jaw_open_is_high_on_open_mouth_frames(layout: LandmarkLayout, video_points: Any) -> None:
    results = _calibrated(layout, video_points[layout])
    closed = [results[f]["jawOpen"] for f in MOUTH_CLOSED]
    opened = [results[f]["jawOpen"] for f in MOUTH_OPEN]
    print(layout, "jawOpen closed", closed, "open", opened)
    assert max(closed) < 0.25
    assert min(opened) > 0.45
    assert np.mean(opened) - np.mean(closed) > 0.5


@pytest.mark.parametrize("layout", LAYOUTS)
def test_eye_blink_follows_closed_eyes(layout: LandmarkLayout, video_points: Any) -> None:
    results = _calibrated(layout, video_points[layout])
    for side in ("Left", "Right"):
        shut = [results[f][f"eyeBlink{side}"] for f in EYES_CLOSED]
        wide = [results[f][f"eyeBlink{side}"] for f in EYES_OPEN]
        print(layout, side, "blink shut", shut, "open", wide)
        assert min(shut) > 0.6
        assert max(wide) < 0.35


@pytest.mark.parametrize("layout", LAYOUTS)
def test_smiles_and_speech_on_single_photos(layout: LandmarkLayout, photo_points: Any) -> None:
    """Uncalibrated values (population neutral) on one photo per person."""
    raw = {name: raw_blendshapes(points, layout) for name, points in photo_points[layout].items()}

    def smile(name: str) -> float:
        return (raw[name]["mouthSmileLeft"] + raw[name]["mouthSmileRight"]) / 2

    smiling = [smile(n) for n in SMILING_PHOTOS]
    neutral = [smile(n) for n in NEUTRAL_PHOTOS]
    print(layout, "smile smiling", np.round(smiling, 2), "neutral", np.round(neutral, 2))
    assert min(smiling) > max(neutral) + 0.2
    speaking = raw[SPEAKING_PHOTO]["jawOpen"]
    closed = [raw[n]["jawOpen"] for n in NEUTRAL_PHOTOS]
    print(layout, "jawOpen speaking", speaking, "closed", np.round(closed, 2))
    assert speaking > 0.6 and max(closed) < 0.25


def _similarity(points: np.ndarray, angle_deg: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    angle = np.radians(angle_deg)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = points.copy()
    moved[:, :2] = scale * points[:, :2] @ rotation.T + np.array(shift)
    return moved


@pytest.mark.parametrize("layout", LAYOUTS)
def test_rotation_and_scale_leave_values_nearly_unchanged(layout: LandmarkLayout, video_points: Any) -> None:
    """In-plane rotation, scale and shift are removed exactly by the frontalisation."""
    for frame in (MOUTH_CLOSED[0], MOUTH_OPEN[2], EYES_OPEN[0]):
        points = video_points[layout][frame]
        base = raw_blendshapes(points, layout)
        for angle, scale in ((25.0, 1.7), (-40.0, 0.45)):
            moved = raw_blendshapes(_similarity(points, angle, scale, (123.0, -57.0)), layout)
            worst = max(abs(moved[k] - base[k]) for k in base)
            assert worst < 1e-3, (frame, angle, scale, worst)


def test_profiles_filter_keys() -> None:
    values = {
        "jawOpen": 0.5,
        "mouthSmileLeft": 0.2,
        "eyeBlinkLeft": 0.9,
        "browInnerUp": 0.1,
        "tongueOut": 0.3,
    }
    assert filter_for_export(values, "full") == values
    assert filter_for_export(values, "none") is None
    assert filter_for_export(values, "mouth") == {"jawOpen": 0.5, "mouthSmileLeft": 0.2}
    assert filter_for_export(values, "mouth", include_tongue=True) == {
        "jawOpen": 0.5,
        "mouthSmileLeft": 0.2,
        "tongueOut": 0.3,
    }
    mediapipe = filter_for_export(values, "mediapipe")
    assert mediapipe is not None
    assert mediapipe["_neutral"] == 0.0 and "tongueOut" not in mediapipe
    assert set(mediapipe) == {"_neutral", "jawOpen", "mouthSmileLeft", "eyeBlinkLeft", "browInnerUp"}
    assert set(mediapipe) <= set(MEDIAPIPE_KEYS) and len(MEDIAPIPE_KEYS) == 52 == len(ARKIT_KEYS)
    assert filter_for_export(values, "custom", ["eyeBlinkLeft", "jawOpen", "cheekPuff"]) == {
        "eyeBlinkLeft": 0.9,
        "jawOpen": 0.5,
    }


def test_estimator_applies_profile_and_keeps_jaw_open_for_speaking(video_points: Any) -> None:
    points = video_points["facemesh478"][MOUTH_OPEN[0]]
    mouth = BlendshapeEstimator(profile="mouth").update("t", 1, points, "facemesh478")
    assert mouth and all(k.startswith(("mouth", "jaw")) for k in mouth) and "jawOpen" in mouth
    custom = BlendshapeEstimator(profile="custom", export_keys=["jawOpen", "eyeBlinkLeft"])
    assert list(custom.update("t", 1, points, "facemesh478") or {}) == ["jawOpen", "eyeBlinkLeft"]
    silent = BlendshapeEstimator(profile="none")
    assert silent.update("t", 1, points, "facemesh478") is None
    assert (silent.jaw_open("t") or 0.0) > 0.45
    assert silent.jaw_open("unknown") is None
    with pytest.raises(ValueError, match="custom"):
        BlendshapeEstimator(profile="custom")
    with pytest.raises(ValueError, match="jawOpn"):
        BlendshapeEstimator(profile="custom", export_keys=["jawOpn"])


def test_throttle_reuses_values_between_computed_frames(video_points: Any) -> None:
    frames = sorted(video_points["dlib68"])
    estimator = BlendshapeEstimator(throttle_n=5)
    outputs = {}
    for number in range(1, 21):  # frame n shows picked frame n-1: every frame has different landmarks
        points = video_points["dlib68"][frames[(number - 1) % len(frames)]]
        outputs[number] = estimator.update("a", number, points, "dlib68")
    assert estimator.computations == 4  # frames 1, 6, 11, 16
    assert outputs[2] == outputs[5] == outputs[1] and outputs[7] == outputs[6]
    assert outputs[6] != outputs[5]
    # A track first seen on frame 3 is computed at once, then on the shared phase (frame 6).
    late = video_points["dlib68"][frames[3]]
    estimator.update("b", 3, late, "dlib68")
    estimator.update("b", 4, late, "dlib68")
    assert estimator.computations == 5
    estimator.update("b", 6, late, "dlib68")
    assert estimator.computations == 6
    # A gap longer than the throttle (track missed for a while) forces a recomputation.
    estimator.update("b", 12, late, "dlib68")
    assert estimator.computations == 7


def test_calibration_removes_a_persons_neutral_offset(video_points: Any) -> None:
    """A track whose first frame has the mouth open: the prior band keeps that frame's jawOpen
    high; once closed-mouth frames arrive they become the neutral."""
    points = video_points["facemesh478"]
    estimator = BlendshapeEstimator(calibration_frames=30)
    first = estimator.update("t", 1, points[MOUTH_OPEN[0]], "facemesh478")
    assert first is not None and first["jawOpen"] > 0.45
    for frame in range(2, 30):
        estimator.update("t", frame, points[MOUTH_CLOSED[frame % len(MOUTH_CLOSED)]], "facemesh478")
    closed = estimator.update("t", 30, points[MOUTH_CLOSED[0]], "facemesh478")
    assert closed is not None and closed["jawOpen"] < 0.1


def test_jaw_open_scale_multiplies_before_clamping(video_points: Any) -> None:
    points = video_points["dlib68"]
    values = {}
    for scale in (1.0, 2.0):
        estimator = BlendshapeEstimator(jaw_open_scale=scale)
        for frame in MOUTH_CLOSED:
            estimator.update("t", frame, points[frame], "dlib68")
        values[scale] = estimator.update("t", 400, points[EYES_OPEN[0]], "dlib68")
    one, two = values[1.0]["jawOpen"], values[2.0]["jawOpen"]  # type: ignore[index]
    assert 0.1 < one < 0.5 and two == pytest.approx(2 * one, abs=2e-4)


def test_bad_landmarks_are_rejected(video_points: Any) -> None:
    points = video_points["facemesh478"][MOUTH_CLOSED[0]]
    with pytest.raises(ValueError, match="468"):
        raw_blendshapes(points[:100], "facemesh478")
    broken = points.copy()
    broken[5, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        raw_blendshapes(broken, "facemesh478")
    # 468 points (FaceMesh without refine_landmarks): everything but the iris-based keys.
    values = raw_blendshapes(points[:468], "facemesh478")
    assert "jawOpen" in values and "eyeLookUpLeft" not in values
    assert "gaze_x_left" not in face_measures(points[:468], "facemesh478")


def _project(
    layout: LandmarkLayout, pitch: float, yaw: float, roll: float, distance: float = 7.0
) -> np.ndarray:
    """Generic model turned by the given angles (module docstring conventions), `distance` IOD
    in front of a 640x360 camera with focal length 640 px."""
    a, b, c = np.radians([-yaw, -pitch, roll])
    ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    model = FACE_MODEL[layout]
    shift = np.array([0.2, -0.1, distance])
    points = np.tile(shift, (478 if layout == "facemesh478" else 68, 1))  # unused points: the centre
    for index, xyz in model.items():
        points[index] = (ry @ rx @ rz @ np.array(xyz)) + shift
    projected: np.ndarray = points[:, :2] / points[:, 2:] * 640 + np.array([320, 180])
    return projected


@pytest.mark.parametrize("layout", LAYOUTS)
def test_head_pose_recovers_known_angles_with_documented_signs(layout: LandmarkLayout) -> None:
    for angles in ((12.0, 0.0, 0.0), (0.0, 25.0, 0.0), (0.0, 0.0, -15.0), (-10.0, -30.0, 8.0)):
        points = _project(layout, *angles)
        assert head_pose(points, layout, 640, 360) == pytest.approx(angles, abs=0.5)
    turned_right = _project(layout, 0.0, 25.0, 0.0)
    nose = 1 if layout == "facemesh478" else 30
    assert turned_right[nose, 0] > 320 + 0.2 / 7 * 640  # yaw > 0: the nose moves to the image's right
    looking_up = _project(layout, 12.0, 0.0, 0.0)
    assert looking_up[nose, 1] < _project(layout, 0.0, 0.0, 0.0)[nose, 1]  # pitch > 0: the nose goes up


@pytest.mark.parametrize("layout", LAYOUTS)
def test_head_pose_yaw_flips_on_a_mirrored_image(layout: LandmarkLayout, landmarkers: Landmarkers) -> None:
    for name in ("kit_harington/john2.jpeg", "angelina_jolie/1.jpg"):
        image = read_image(f"media/faces/people/{name}")
        h, w = image.shape[:2]
        pitch, yaw, roll = head_pose(landmarkers.points(image, layout), layout, w, h)
        mirrored = np.ascontiguousarray(image[:, ::-1])
        m_pitch, m_yaw, m_roll = head_pose(landmarkers.points(mirrored, layout), layout, w, h)
        print(layout, name, (pitch, yaw, roll), (m_pitch, m_yaw, m_roll))
        assert abs(yaw) > 10 and np.sign(m_yaw) == -np.sign(yaw)
        assert abs(yaw + m_yaw) < 6 and abs(roll + m_roll) < 4 and abs(pitch - m_pitch) < 5


@pytest.mark.parametrize("layout", LAYOUTS)
def test_frontalisation_absorbs_out_of_plane_rotation(layout: LandmarkLayout) -> None:
    """A neutral generic face turned in depth keeps its blendshapes (far camera: the weak
    perspective model holds). Without frontalisation, the same turns move values by 0.6-0.8."""
    distance = 50.0  # IOD: a nearly orthographic view
    frontal = raw_blendshapes(_project(layout, 0, 0, 0, distance), layout)
    for angles in ((15.0, 0.0, 0.0), (-15.0, 0.0, 0.0), (0.0, 25.0, 0.0), (10.0, -20.0, 5.0)):
        turned = raw_blendshapes(_project(layout, *angles, distance), layout)
        worst = max(abs(turned[k] - frontal[k]) for k in frontal)
        assert worst < 0.06, (angles, worst)


def test_generic_models_agree_between_layouts() -> None:
    """The dlib model's depths came from the FaceMesh surface: corresponding points must match."""
    pairs = {33: 36, 133: 39, 362: 42, 263: 45, 1: 30, 2: 33, 61: 48, 291: 54, 152: 8}
    for mesh_index, dlib_index in pairs.items():
        gap = np.subtract(FACE_MODEL["facemesh478"][mesh_index], FACE_MODEL["dlib68"][dlib_index])
        assert np.linalg.norm(gap) < 0.12, (mesh_index, dlib_index, gap)


def test_small_mean_is_numpy_mean_bit_for_bit() -> None:
    from vigil.batch.blendshapes import _small_mean

    rng = np.random.default_rng(7)
    for count in range(1, 8):
        for _ in range(2000):
            values = (rng.standard_normal(count) * 10.0 ** rng.integers(-6, 6)).tolist()
            assert _small_mean(values) == float(np.mean(values))
