"""ARKit-named blendshapes in [0,1]: the Face Landmarker's learned values when the engine makes
them (`BlendshapeEstimator.update(..., learned=...)`: the 52 scores as they are, no calibration),
else geometric estimates from 2-D face landmarks (FaceMesh 478 or dlib 68 points), below.

Three steps, all documented with their formulas in docs/blendshapes.md:
1. `face_measures`: geometric measures of the frontalised face (headpose.frontalize), in units of
   the inter-ocular distance, so they do not change with face size, in-plane rotation or
   position, and change little with moderate yaw and pitch.
2. Neutral calibration per track: each measure's neutral is the median (10th percentile for the
   mouth and jaw openings, whose neutral is their minimum) of the track's last
   `calibration_frames` computed samples, clipped to a band around the population neutral that
   was measured on neutral reference photos (so a track that starts mid-laugh or with closed
   eyes does not take that as its neutral).
3. `blendshapes_from_measures`: each blendshape is a clamped linear ramp of the measures'
   deviations from neutral.

tongueOut cannot be derived: neither layout has tongue landmarks. It is never produced; the
`mouth` profile's `include_tongue` keeps it only when present (the seed's behaviour), which lets
a future engine that does estimate it pass it through.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np

from vigil.batch.headpose import LandmarkLayout, check_landmarks, frontalize
from vigil.batch.landmarker import LEARNED_KEYS
from vigil.types import FloatArray

__all__ = [
    "ARKIT_KEYS",
    "MEDIAPIPE_KEYS",
    "BlendshapeEstimator",
    "BlendshapeProfile",
    "LandmarkLayout",
    "blendshapes_from_measures",
    "face_measures",
    "filter_for_export",
    "raw_blendshapes",
    "unknown_blendshape_keys",
]

BlendshapeProfile = Literal["full", "mouth", "none", "mediapipe", "custom"]
PROFILES: tuple[str, ...] = get_args(BlendshapeProfile)

# Apple ARKit's 52 blendshape locations; MediaPipe's FaceLandmarker outputs the same minus
# tongueOut, plus "_neutral".
ARKIT_KEYS: tuple[str, ...] = (
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
    "eyeBlinkLeft", "eyeBlinkRight", "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft",
    "eyeLookInRight", "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight",
    "eyeSquintLeft", "eyeSquintRight", "eyeWideLeft", "eyeWideRight",
    "jawForward", "jawLeft", "jawOpen", "jawRight",
    "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthPressLeft",
    "mouthPressRight", "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper",
    "mouthShrugLower", "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight",
    "mouthStretchLeft", "mouthStretchRight", "mouthUpperUpLeft", "mouthUpperUpRight",
    "noseSneerLeft", "noseSneerRight", "tongueOut",
)  # fmt: skip
MEDIAPIPE_KEYS: tuple[str, ...] = ("_neutral", *(k for k in ARKIT_KEYS if k != "tongueOut"))
assert set(MEDIAPIPE_KEYS) == set(LEARNED_KEYS)


@dataclass(frozen=True)
class _Points:
    """Landmark indices of one layout. Right/Left are the subject's (image left/right)."""

    eye_right: tuple[int, int]  # outer, inner corner
    eye_left: tuple[int, int]
    ear_right: tuple[int, int, int, int, int, int]  # p1..p6 of the eye aspect ratio
    ear_left: tuple[int, int, int, int, int, int]
    brow_right: tuple[int, ...]  # outer -> inner
    brow_left: tuple[int, ...]
    subnasale: int
    mouth_right: int
    mouth_left: int
    lip_top: int  # outer contour, centre
    lip_bottom: int
    inner_pairs: tuple[tuple[int, int], ...]  # (upper, lower) inner-lip points, centre pair in the middle
    chin: int
    iris_right: int | None = None
    iris_left: int | None = None
    all: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        points = {
            *self.eye_right, *self.eye_left, *self.ear_right, *self.ear_left, *self.brow_right,
            *self.brow_left, self.subnasale, self.mouth_right, self.mouth_left, self.lip_top,
            self.lip_bottom, self.chin, *(i for pair in self.inner_pairs for i in pair),
        }  # fmt: skip
        object.__setattr__(self, "all", tuple(sorted(points)))


_POINTS: dict[LandmarkLayout, _Points] = {
    "facemesh478": _Points(
        eye_right=(33, 133), eye_left=(263, 362),
        ear_right=(33, 160, 158, 133, 153, 144), ear_left=(263, 387, 385, 362, 380, 373),
        brow_right=(70, 63, 105, 66, 107), brow_left=(300, 293, 334, 296, 336),
        subnasale=2, mouth_right=61, mouth_left=291, lip_top=0, lip_bottom=17,
        inner_pairs=((82, 87), (13, 14), (312, 317)), chin=152, iris_right=468, iris_left=473,
    ),
    "dlib68": _Points(
        eye_right=(36, 39), eye_left=(45, 42),
        ear_right=(36, 37, 38, 39, 40, 41), ear_left=(45, 44, 43, 42, 47, 46),
        brow_right=(17, 18, 19, 20, 21), brow_left=(26, 25, 24, 23, 22),
        subnasale=33, mouth_right=48, mouth_left=54, lip_top=51, lip_bottom=57,
        inner_pairs=((61, 67), (62, 66), (63, 65)), chin=8,
    ),
}  # fmt: skip

IRIS_MEASURES = ("gaze_x_left", "gaze_x_right", "gaze_y_left", "gaze_y_right")
# Measures whose neutral is their minimum (a closed mouth/jaw): calibrated on a low percentile.
_OPENING_MEASURES = frozenset({"lip_gap", "jaw_drop"})
_OPENING_PERCENTILE = 10.0

# Population neutral per measure: (value, tolerance). Median over the nine neutral, closed-mouth
# reference photos (shared/media/faces/people); tolerance = max(3 x their spread, a floor).
# A track's own neutral is clipped to value +/- tolerance.
NEUTRAL_PRIOR: dict[LandmarkLayout, dict[str, tuple[float, float]]] = {
    "facemesh478": {
        "lip_gap": (0.001, 0.040),
        "jaw_drop": (1.087, 0.120),
        "mouth_width": (0.872, 0.224),
        "corner_lift_left": (0.207, 0.095),
        "corner_lift_right": (0.205, 0.072),
        "corner_out_left": (0.402, 0.116),
        "corner_out_right": (0.435, 0.140),
        "upper_lip": (0.096, 0.068),
        "lower_lip": (0.153, 0.094),
        "ear_left": (0.285, 0.091),
        "brow_left": (0.300, 0.076),
        "brow_inner_left": (0.307, 0.077),
        "brow_outer_left": (0.223, 0.078),
        "ear_right": (0.255, 0.078),
        "brow_right": (0.293, 0.099),
        "brow_inner_right": (0.306, 0.085),
        "brow_outer_right": (0.233, 0.092),
        "gaze_x_left": (0.043, 0.207),
        "gaze_y_left": (-0.078, 0.042),
        "gaze_x_right": (-0.023, 0.185),
        "gaze_y_right": (-0.072, 0.054),
    },
    "dlib68": {
        "lip_gap": (0.000, 0.040),
        "jaw_drop": (1.077, 0.170),
        "mouth_width": (0.881, 0.138),
        "corner_lift_left": (0.239, 0.108),
        "corner_lift_right": (0.217, 0.075),
        "corner_out_left": (0.424, 0.099),
        "corner_out_right": (0.457, 0.087),
        "upper_lip": (0.086, 0.088),
        "lower_lip": (0.153, 0.088),
        "ear_left": (0.330, 0.094),
        "brow_left": (0.282, 0.082),
        "brow_inner_left": (0.264, 0.085),
        "brow_outer_left": (0.172, 0.168),
        "ear_right": (0.320, 0.090),
        "brow_right": (0.285, 0.089),
        "brow_inner_right": (0.267, 0.106),
        "brow_outer_right": (0.176, 0.168),
    },
}


def face_measures(landmarks: FloatArray, layout: LandmarkLayout) -> dict[str, float]:
    """Geometric measures (IOD units) of the frontalised face. Y grows downwards.

    lip_gap: mean inner-lip opening over 3 pairs; jaw_drop: chin below subnasale;
    mouth_width: corner to corner; corner_lift_*: corner above the point halfway between
    subnasale and chin; corner_out_*: corner's horizontal distance from the subnasale; upper_lip /
    lower_lip: lip thickness at the centre; ear_*: eye aspect ratio; brow_*, brow_inner_*,
    brow_outer_*: mean / inner-end / outer-end brow height above the eye-corner line;
    gaze_x_*, gaze_y_*: iris centre offset from the eye-corner midpoint / eye width (FaceMesh
    with 478 points only)."""
    xy = check_landmarks(landmarks, layout)
    spec = _POINTS[layout]
    irises = (spec.iris_left, spec.iris_right)
    iris_points = tuple(i for i in irises if i is not None and i < len(xy))
    with_iris = len(iris_points) == 2
    indices = spec.all + (iris_points if with_iris else ())
    frontal = frontalize(xy, layout, indices)
    p = {index: frontal[row] for row, index in enumerate(indices)}
    x = dict(zip(indices, frontal[:, 0].tolist(), strict=True))
    y = dict(zip(indices, frontal[:, 1].tolist(), strict=True))

    lip_gap = _small_mean([max(y[lower] - y[upper], 0.0) for upper, lower in spec.inner_pairs])
    centre_upper, centre_lower = spec.inner_pairs[len(spec.inner_pairs) // 2]
    # Mouth corners are measured from the point halfway between subnasale and chin: opening the
    # jaw lowers both by about the same amount, so only a real lift (smile) or drop (frown) counts.
    corner_reference = (y[spec.subnasale] + y[spec.chin]) / 2
    measures = {
        "lip_gap": lip_gap,
        "jaw_drop": y[spec.chin] - y[spec.subnasale],
        "mouth_width": float(np.linalg.norm(p[spec.mouth_left] - p[spec.mouth_right])),
        "corner_lift_left": corner_reference - y[spec.mouth_left],
        "corner_lift_right": corner_reference - y[spec.mouth_right],
        "corner_out_left": abs(x[spec.mouth_left] - x[spec.subnasale]),
        "corner_out_right": abs(x[spec.mouth_right] - x[spec.subnasale]),
        "upper_lip": y[centre_upper] - y[spec.lip_top],
        "lower_lip": y[spec.lip_bottom] - y[centre_lower],
    }
    for side, eye, ear, brow in (
        ("left", spec.eye_left, spec.ear_left, spec.brow_left),
        ("right", spec.eye_right, spec.ear_right, spec.brow_right),
    ):
        eye_line = (y[eye[0]] + y[eye[1]]) / 2
        measures[f"ear_{side}"] = _eye_aspect_ratio([p[i] for i in ear])
        measures[f"brow_{side}"] = eye_line - _small_mean([y[i] for i in brow])
        measures[f"brow_inner_{side}"] = eye_line - y[brow[-1]]
        measures[f"brow_outer_{side}"] = eye_line - y[brow[0]]
    if with_iris:
        for side, eye, iris in (
            ("left", spec.eye_left, spec.iris_left),
            ("right", spec.eye_right, spec.iris_right),
        ):
            assert iris is not None
            middle = (p[eye[0]] + p[eye[1]]) / 2
            width = max(float(np.linalg.norm(p[eye[0]] - p[eye[1]])), 1e-6)
            measures[f"gaze_x_{side}"] = float(p[iris][0] - middle[0]) / width
            measures[f"gaze_y_{side}"] = float(p[iris][1] - middle[1]) / width
    return measures


def _small_mean(values: Sequence[float]) -> float:
    """np.mean of fewer than 8 floats, bit for bit (NumPy adds fewer than 8 values one by one from
    0.0), without the cost of building an array for 3 to 5 values."""
    assert 0 < len(values) < 8
    total = 0.0
    for value in values:
        total += value
    return total / len(values)


def _eye_aspect_ratio(points: Sequence[FloatArray]) -> float:
    """(|p2-p6| + |p3-p5|) / (2 |p1-p4|) (Soukupova & Cech 2016)."""
    p1, p2, p3, p4, p5, p6 = points
    width = max(float(np.linalg.norm(p1 - p4)), 1e-6)
    return float(np.linalg.norm(p2 - p6) + np.linalg.norm(p3 - p5)) / (2 * width)


def _ramp(value: float, full: float) -> float:
    """value / full clamped to [0, 1]: 0 at neutral, 1 at a deviation of `full`."""
    ratio = value / full
    return 0.0 if ratio <= 0.0 else min(ratio, 1.0)  # `<=` also maps -0.0 to 0.0


def blendshapes_from_measures(
    measures: Mapping[str, float], neutral: Mapping[str, float], jaw_open_scale: float = 1.0
) -> dict[str, float]:
    """Blendshapes in [0,1] (ARKit key order) from measures and their neutral values."""
    d = {key: measures[key] - neutral[key] for key in measures}
    gap = d["lip_gap"]
    narrow = _ramp(-d["mouth_width"], 0.25)
    rounded = _ramp(gap, 0.12)
    out: dict[str, float] = {
        "browInnerUp": _ramp((d["brow_inner_left"] + d["brow_inner_right"]) / 2, 0.10),
        "jawOpen": _ramp(jaw_open_scale * (gap + d["jaw_drop"]) / 2, 0.30),
        "mouthClose": _ramp(d["jaw_drop"] - gap, 0.30),
        "mouthFunnel": narrow * rounded,
        "mouthPucker": narrow * (1.0 - rounded),
        "mouthRollLower": _ramp(-d["lower_lip"], 0.08),
        "mouthRollUpper": _ramp(-d["upper_lip"], 0.06),
    }
    for side, suffix in (("left", "Left"), ("right", "Right")):
        lift, spread = d[f"corner_lift_{side}"], d[f"corner_out_{side}"]
        smile = _ramp(lift + 0.5 * spread, 0.15)
        ear, ear_neutral = measures[f"ear_{side}"], max(neutral[f"ear_{side}"], 1e-6)
        out[f"browDown{suffix}"] = _ramp(-d[f"brow_{side}"], 0.08)
        out[f"browOuterUp{suffix}"] = _ramp(d[f"brow_outer_{side}"], 0.10)
        out[f"eyeBlink{suffix}"] = _ramp(ear_neutral - ear, 0.7 * ear_neutral)
        out[f"eyeWide{suffix}"] = _ramp(ear - ear_neutral, 0.5 * ear_neutral)
        out[f"mouthSmile{suffix}"] = smile
        out[f"mouthFrown{suffix}"] = _ramp(-lift, 0.08)
        out[f"mouthStretch{suffix}"] = _ramp(spread, 0.12) * (1.0 - smile)
        if f"gaze_x_{side}" in d:
            # The left eye's outer corner is on the image's right: its "out" is +x, the right eye's -x.
            outward = d[f"gaze_x_{side}"] if side == "left" else -d[f"gaze_x_{side}"]
            out[f"eyeLookOut{suffix}"] = _ramp(outward, 0.12)
            out[f"eyeLookIn{suffix}"] = _ramp(-outward, 0.12)
            out[f"eyeLookUp{suffix}"] = _ramp(-d[f"gaze_y_{side}"], 0.06)
            out[f"eyeLookDown{suffix}"] = _ramp(d[f"gaze_y_{side}"], 0.06)
    return {key: out[key] for key in ARKIT_KEYS if key in out}


def prior_neutral(layout: LandmarkLayout) -> dict[str, float]:
    return {key: value for key, (value, _) in NEUTRAL_PRIOR[layout].items()}


def raw_blendshapes(landmarks: FloatArray, layout: LandmarkLayout) -> dict[str, float]:
    """Uncalibrated blendshapes: deviations from the population neutral, clamped to [0,1].
    For a single image; a tracked face should go through `BlendshapeEstimator`."""
    return blendshapes_from_measures(face_measures(landmarks, layout), prior_neutral(layout))


def unknown_blendshape_keys(keys: Sequence[str]) -> list[str]:
    """The keys that are neither ARKit blendshape names nor MediaPipe's `_neutral`, sorted."""
    return sorted(set(keys) - set(ARKIT_KEYS) - {"_neutral"})


def filter_for_export(
    values: Mapping[str, float],
    profile: BlendshapeProfile,
    export_keys: Sequence[str] = (),
    include_tongue: bool = False,
) -> dict[str, float] | None:
    """The seed's export filter (`_filter_blendshapes_for_export`): full = every key; mouth =
    keys starting with `mouth` or `jaw` (+ tongueOut when include_tongue and present); none =
    None (blendshapes: null); mediapipe = MediaPipe's 52 keys present (tongueOut dropped), with
    `_neutral: 0.0` added when absent; custom = the export_keys present, in that order."""
    if profile == "none":
        return None
    if profile == "full":
        return dict(values)
    if profile == "mouth":
        keep = {k: v for k, v in values.items() if k.startswith(("mouth", "jaw"))}
        if include_tongue and "tongueOut" in values:
            keep["tongueOut"] = values["tongueOut"]
        return keep
    if profile == "mediapipe":
        return {"_neutral": values.get("_neutral", 0.0)} | {
            k: values[k] for k in MEDIAPIPE_KEYS if k in values and k != "_neutral"
        }
    if profile == "custom":
        return {k: values[k] for k in export_keys if k in values}
    raise ValueError(f"unknown blendshape profile {profile!r}; expected one of {PROFILES}")


@dataclass
class _TrackState:
    keys: tuple[str, ...]
    samples: deque[FloatArray]
    neutral: dict[str, float] = field(default_factory=dict)
    since_refresh: int = 0
    frame: int | None = None  # frame of the last computation
    values: dict[str, float] = field(default_factory=dict)


class BlendshapeEstimator:
    """Per-track calibrated blendshapes for one video (or chunk).

    throttle_n: blendshapes are computed on frames where (frame - 1) % throttle_n == 0, on a
    track's first frame, and whenever its cached values are throttle_n or more frames old;
    other frames reuse the track's last values (the seed's STEP5_BLENDSHAPES_THROTTLE_N). The
    fixed phase makes the computed frames the same whatever chunk a frame falls in."""

    REFRESH_EVERY = 10  # samples between two neutral re-estimations once the window is warm

    def __init__(
        self,
        profile: BlendshapeProfile = "full",
        export_keys: Sequence[str] = (),
        include_tongue: bool = False,
        throttle_n: int = 1,
        jaw_open_scale: float = 1.0,
        calibration_frames: int = 150,
    ) -> None:
        if profile not in PROFILES:
            raise ValueError(f"unknown blendshape profile {profile!r}; expected one of {PROFILES}")
        unknown = unknown_blendshape_keys(export_keys)
        if unknown:
            raise ValueError(f"unknown blendshape keys {unknown}; use ARKit names such as jawOpen")
        if profile == "custom" and not export_keys:
            raise ValueError("blendshape profile 'custom' needs export keys (STEP5_BLENDSHAPES_EXPORT_KEYS)")
        if throttle_n < 1 or calibration_frames < 1 or jaw_open_scale <= 0:
            raise ValueError("throttle_n and calibration_frames must be >= 1 and jaw_open_scale > 0")
        self.profile: BlendshapeProfile = profile
        self.export_keys = tuple(export_keys)
        self.include_tongue = include_tongue
        self.throttle_n = throttle_n
        self.jaw_open_scale = jaw_open_scale
        self.calibration_frames = calibration_frames
        self.computations = 0  # how many times landmarks were turned into blendshapes
        self._tracks: dict[str, _TrackState] = {}

    def update(
        self,
        track_key: str,
        frame: int,
        landmarks: FloatArray,
        layout: LandmarkLayout,
        learned: FloatArray | None = None,
    ) -> dict[str, float] | None:
        """Blendshapes of this track at this frame, filtered by the export profile; None when the
        profile is `none` (jawOpen is still computed for `jaw_open`). `learned`: the Face
        Landmarker's 52 scores for these landmarks (`landmarker.LEARNED_KEYS` order), used as they
        are (jawOpen times jaw_open_scale) instead of the geometric estimates."""
        state = self._tracks.get(track_key)
        if state is None or self._due(state, frame):
            if learned is not None:
                state = self._take_learned(track_key, state, frame, learned)
            else:
                state = self._compute(track_key, state, frame, landmarks, layout)
        return filter_for_export(state.values, self.profile, self.export_keys, self.include_tongue)

    def _take_learned(
        self, track_key: str, state: _TrackState | None, frame: int, learned: FloatArray
    ) -> _TrackState:
        if len(learned) != len(LEARNED_KEYS):
            raise ValueError(f"expected {len(LEARNED_KEYS)} learned blendshape scores, got {len(learned)}")
        if state is None or state.keys != LEARNED_KEYS:
            state = _TrackState(LEARNED_KEYS, deque(maxlen=1))
            self._tracks[track_key] = state
        scores = np.clip(np.asarray(learned, np.float64), 0.0, 1.0)
        values = dict(zip(LEARNED_KEYS, np.round(scores, 4).tolist(), strict=True))
        values["jawOpen"] = round(min(values["jawOpen"] * self.jaw_open_scale, 1.0), 4)
        state.values = values
        state.frame = frame
        self.computations += 1
        return state

    def jaw_open(self, track_key: str) -> float | None:
        """The track's latest calibrated jawOpen, whatever the export profile."""
        state = self._tracks.get(track_key)
        return None if state is None else state.values.get("jawOpen")

    def forget(self, track_key: str) -> None:
        """Drop a finished track's state."""
        self._tracks.pop(track_key, None)

    def _due(self, state: _TrackState, frame: int) -> bool:
        if state.frame is None or (frame - 1) % self.throttle_n == 0:
            return True
        age = frame - state.frame
        return age < 0 or age >= self.throttle_n

    def _compute(
        self,
        track_key: str,
        state: _TrackState | None,
        frame: int,
        landmarks: FloatArray,
        layout: LandmarkLayout,
    ) -> _TrackState:
        measures = face_measures(landmarks, layout)
        keys = tuple(measures)
        if state is None or state.keys != keys:
            state = _TrackState(keys, deque(maxlen=self.calibration_frames))
            self._tracks[track_key] = state
        state.samples.append(np.array([measures[k] for k in keys], dtype=np.float64))
        state.since_refresh += 1
        if len(state.samples) <= self.REFRESH_EVERY or state.since_refresh >= self.REFRESH_EVERY:
            state.neutral = self._neutral(state, layout)
            state.since_refresh = 0
        values = blendshapes_from_measures(measures, state.neutral, self.jaw_open_scale)
        state.values = {k: round(v, 4) for k, v in values.items()}
        state.frame = frame
        self.computations += 1
        return state

    @staticmethod
    def _neutral(state: _TrackState, layout: LandmarkLayout) -> dict[str, float]:
        samples = np.stack(state.samples)
        medians, lows = np.percentile(samples, [50.0, _OPENING_PERCENTILE], axis=0)
        prior = NEUTRAL_PRIOR[layout]
        neutral: dict[str, float] = {}
        for column, key in enumerate(state.keys):
            value = float(lows[column] if key in _OPENING_MEASURES else medians[column])
            centre, tolerance = prior[key]
            neutral[key] = min(max(value, centre - tolerance), centre + tolerance)
        return neutral
