"""Head pose (pitch, yaw, roll in degrees) from 2-D face landmarks, and frontalisation.

Both use one generic 3-D face per landmark layout (`FACE_MODEL`), in units of the inter-ocular
distance (IOD = distance between the two eye centres, each the mean of its two corners):
origin between the eyes, X towards the image's right for a frontal face (the subject's left),
Y down, Z away from the camera (the nose tip has Z < 0). The chin lies in the XY plane, so
pitch 0 means "the eye line and the chin are equally far from the camera".

The model was measured, not copied: MediaPipe FaceMesh (refine_landmarks, 3-D output) on the
nine neutral, closed-mouth reference photos in `shared/media/faces/people`, aligned by
generalised Procrustes on rigid points and averaged; each dlib-68 point takes the depth of the
FaceMesh surface under it (inverse-distance mean of the 3 nearest FaceMesh vertices) in the
same photo. See docs/blendshapes.md.

Conventions of `head_pose` (image not mirrored, camera looking at the subject):
- pitch > 0: the face looks up;
- yaw > 0: the face turns towards the image's right side (the subject's own left);
- roll > 0: the face rotates clockwise in the image (the eye on the image's right is lower).
Mirroring the image flips the signs of yaw and roll and keeps pitch.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from vigil.types import FloatArray

LandmarkLayout = Literal["facemesh478", "dlib68"]
LAYOUT_POINTS: dict[LandmarkLayout, int] = {"facemesh478": 468, "dlib68": 68}  # minimum count

# index -> (X, Y, Z) in IOD units. FaceMesh: only the points Vigil uses (468/473 = iris centres).
FACE_MODEL: dict[LandmarkLayout, dict[int, tuple[float, float, float]]] = {
    "facemesh478": {
        33: (-0.722, -0.016, 0.041),
        133: (-0.278, 0.016, -0.041),
        263: (0.717, -0.016, 0.043),
        362: (0.283, 0.016, -0.043),
        160: (-0.618, -0.074, -0.069),
        158: (-0.451, -0.083, -0.096),
        153: (-0.427, 0.032, -0.073),
        144: (-0.589, 0.033, -0.044),
        387: (0.622, -0.077, -0.067),
        385: (0.456, -0.090, -0.096),
        380: (0.428, 0.032, -0.073),
        373: (0.585, 0.034, -0.043),
        468: (-0.518, -0.032, -0.043),
        473: (0.508, -0.034, -0.042),
        70: (-0.926, -0.228, 0.039),
        63: (-0.822, -0.307, -0.100),
        105: (-0.664, -0.351, -0.209),
        66: (-0.461, -0.338, -0.304),
        107: (-0.231, -0.308, -0.352),
        300: (0.921, -0.220, 0.044),
        293: (0.818, -0.303, -0.096),
        334: (0.661, -0.347, -0.206),
        296: (0.460, -0.334, -0.302),
        336: (0.234, -0.306, -0.351),
        1: (0.006, 0.643, -0.634),
        2: (0.002, 0.737, -0.378),
        168: (-0.001, -0.062, -0.323),
        98: (-0.281, 0.696, -0.248),
        327: (0.283, 0.697, -0.244),
        61: (-0.419, 1.078, -0.037),
        291: (0.418, 1.070, -0.041),
        0: (-0.007, 0.977, -0.363),
        17: (-0.000, 1.239, -0.278),
        82: (-0.105, 1.070, -0.250),
        87: (-0.103, 1.075, -0.246),
        13: (-0.005, 1.074, -0.264),
        14: (-0.003, 1.079, -0.260),
        312: (0.097, 1.069, -0.251),
        317: (0.098, 1.073, -0.246),
        152: (-0.001, 1.822, 0.000),
    },
    "dlib68": {
        0: (-1.138, 0.068, 0.610),
        1: (-1.129, 0.368, 0.636),
        2: (-1.087, 0.665, 0.606),
        3: (-1.027, 0.963, 0.576),
        4: (-0.945, 1.250, 0.534),
        5: (-0.772, 1.480, 0.353),
        6: (-0.559, 1.668, 0.200),
        7: (-0.300, 1.810, 0.021),
        8: (-0.008, 1.848, -0.030),
        9: (0.290, 1.806, 0.033),
        10: (0.551, 1.656, 0.216),
        11: (0.771, 1.455, 0.392),
        12: (0.926, 1.216, 0.532),
        13: (1.028, 0.939, 0.577),
        14: (1.080, 0.641, 0.608),
        15: (1.118, 0.337, 0.635),
        16: (1.122, 0.041, 0.623),
        17: (-0.948, -0.176, 0.089),
        18: (-0.812, -0.302, -0.092),
        19: (-0.609, -0.348, -0.221),
        20: (-0.407, -0.332, -0.276),
        21: (-0.216, -0.254, -0.294),
        22: (0.182, -0.255, -0.309),
        23: (0.382, -0.326, -0.285),
        24: (0.590, -0.348, -0.216),
        25: (0.796, -0.307, -0.111),
        26: (0.945, -0.174, 0.096),
        27: (-0.015, -0.048, -0.310),
        28: (-0.014, 0.144, -0.423),
        29: (-0.007, 0.335, -0.558),
        30: (-0.005, 0.534, -0.659),
        31: (-0.219, 0.678, -0.331),
        32: (-0.115, 0.716, -0.395),
        33: (-0.005, 0.746, -0.422),
        34: (0.104, 0.718, -0.419),
        35: (0.204, 0.680, -0.347),
        36: (-0.719, -0.009, 0.028),
        37: (-0.595, -0.088, -0.078),
        38: (-0.446, -0.086, -0.098),
        39: (-0.312, 0.013, -0.050),
        40: (-0.456, 0.040, -0.073),
        41: (-0.606, 0.040, -0.037),
        42: (0.300, 0.011, -0.049),
        43: (0.434, -0.089, -0.097),
        44: (0.585, -0.087, -0.081),
        45: (0.702, -0.007, 0.024),
        46: (0.592, 0.044, -0.038),
        47: (0.442, 0.040, -0.074),
        48: (-0.458, 1.077, -0.045),
        49: (-0.287, 1.012, -0.237),
        50: (-0.121, 0.975, -0.338),
        51: (-0.002, 1.003, -0.344),
        52: (0.112, 0.972, -0.340),
        53: (0.270, 1.008, -0.227),
        54: (0.436, 1.072, -0.050),
        55: (0.270, 1.172, -0.207),
        56: (0.113, 1.220, -0.269),
        57: (-0.012, 1.230, -0.280),
        58: (-0.139, 1.220, -0.260),
        59: (-0.295, 1.179, -0.186),
        60: (-0.390, 1.084, -0.081),
        61: (-0.130, 1.075, -0.245),
        62: (-0.005, 1.086, -0.266),
        63: (0.114, 1.076, -0.257),
        64: (0.363, 1.075, -0.097),
        65: (0.110, 1.071, -0.258),
        66: (-0.008, 1.085, -0.264),
        67: (-0.133, 1.074, -0.252),
    },
}

# Points that expressions barely move (eye corners, nose): they alone fix the pose, so a
# smile or an open jaw does not tilt the head.
RIGID_POINTS: dict[LandmarkLayout, tuple[int, ...]] = {
    "facemesh478": (33, 133, 263, 362, 1, 2, 168, 98, 327),
    "dlib68": (36, 39, 45, 42, 30, 33, 27, 31, 35),
}


def check_landmarks(landmarks: FloatArray, layout: LandmarkLayout) -> FloatArray:
    """The (N, 2) float64 image coordinates of `landmarks` ((N, 2) or (N, 3) pixels);
    ValueError on a wrong shape, too few points for the layout, or non-finite values."""
    if layout not in LAYOUT_POINTS:
        raise ValueError(f"unknown landmark layout {layout!r}; expected one of {sorted(LAYOUT_POINTS)}")
    points = np.asarray(landmarks, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] not in (2, 3) or len(points) < LAYOUT_POINTS[layout]:
        raise ValueError(
            f"{layout} landmarks must be (N, 2) or (N, 3) with N >= {LAYOUT_POINTS[layout]}, "
            f"got shape {points.shape}"
        )
    xy = points[:, :2]
    if not np.isfinite(xy).all():
        raise ValueError("landmarks contain NaN or infinite values")
    return xy


@functools.lru_cache(maxsize=64)
def _model_arrays(layout: LandmarkLayout, indices: tuple[int, ...]) -> FloatArray:
    """The model points of `indices` (cached: called for every face; read-only)."""
    model = FACE_MODEL[layout]
    points = np.array([model[i] for i in indices], dtype=np.float64)
    points.setflags(write=False)
    return points


@dataclass(frozen=True)
class PoseFit:
    """A perspective head pose: model point M maps to camera point rotation @ M + translation
    (IOD units), seen through `camera` (3x3 intrinsics)."""

    rotation: FloatArray
    translation: FloatArray
    camera: FloatArray

    def angles(self) -> tuple[float, float, float]:
        return rotation_to_angles(self.rotation)


def fit_pose(landmarks: FloatArray, layout: LandmarkLayout, frame_width: int, frame_height: int) -> PoseFit:
    """cv2.solvePnP of the rigid points against the generic model, with a pinhole camera of focal
    length = frame width (about 53 degrees horizontal field of view), principal point at the
    frame centre and no distortion. ValueError when no pose is found."""
    xy = check_landmarks(landmarks, layout)
    indices = RIGID_POINTS[layout]
    object_points = _model_arrays(layout, indices)
    image_points = np.ascontiguousarray(xy[list(indices)])
    focal = float(frame_width)
    camera = np.array([[focal, 0, frame_width / 2], [0, focal, frame_height / 2], [0, 0, 1]], np.float64)
    # Start from a frontal face at the distance its eye spacing implies: without a guess the
    # iterative solver sometimes lands on the upside-down mirror solution (roll ~180 degrees).
    iod_px = float(np.linalg.norm(image_points[2:4].mean(0) - image_points[0:2].mean(0)))
    depth = focal / max(iod_px, 1e-6)
    centre = (image_points[:4].mean(0) - camera[:2, 2]) / focal * depth
    guess_r = np.zeros((3, 1), np.float64)
    guess_t = np.array([[centre[0]], [centre[1]], [depth]], np.float64)
    ok, rvec, tvec = cv2.solvePnP(
        object_points, image_points, camera, None, guess_r, guess_t, True, flags=cv2.SOLVEPNP_ITERATIVE
    )
    if not ok or not np.isfinite(rvec).all() or float(tvec[2, 0]) <= 0:
        raise ValueError("solvePnP found no head pose for these landmarks")
    rotation, _ = cv2.Rodrigues(rvec)
    return PoseFit(np.asarray(rotation, np.float64), np.asarray(tvec, np.float64).reshape(3), camera)


def head_pose(
    landmarks: FloatArray, layout: LandmarkLayout, frame_width: int, frame_height: int
) -> tuple[float, float, float]:
    """(pitch, yaw, roll) in degrees (conventions in the module docstring); see `fit_pose`."""
    return fit_pose(landmarks, layout, frame_width, frame_height).angles()


# Mean adult inter-ocular distance (between the eye centres), to give the translation in mm:
# the generic face's unit is the IOD, so a face's real size is an assumption.
IOD_MM = 63.0


def pose_and_translation(
    landmarks: FloatArray, layout: LandmarkLayout, frame_width: int, frame_height: int
) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """(pitch, yaw, roll) degrees and the translation [x, y, z] in millimetres of the point between
    the eyes, in camera axes (x right, y down, z forward from the camera), for an IOD of
    `IOD_MM` and the focal length of `fit_pose` (the frame width); see `fit_pose`."""
    fit = fit_pose(landmarks, layout, frame_width, frame_height)
    x, y, z = (float(v) * IOD_MM for v in fit.translation)
    return fit.angles(), (x, y, z)


def rotation_to_angles(rotation: FloatArray) -> tuple[float, float, float]:
    """(pitch, yaw, roll) degrees of a model-to-camera rotation R = Ry(a) @ Rx(b) @ Rz(c)
    (OpenCV camera axes: x right, y down, z forward): pitch = -b, yaw = -a, roll = c, signed
    as in the module docstring."""
    r = np.asarray(rotation, dtype=np.float64)
    b = math.asin(max(-1.0, min(1.0, -float(r[1, 2]))))
    a = math.atan2(float(r[0, 2]), float(r[2, 2]))
    c = math.atan2(float(r[1, 0]), float(r[1, 1]))
    return (-math.degrees(b), -math.degrees(a), math.degrees(c))


def frontalize(landmarks: FloatArray, layout: LandmarkLayout, indices: tuple[int, ...]) -> FloatArray:
    """(len(indices), 2) frontal X, Y coordinates (IOD units, model frame) of the given points:
    each point is moved back to where it would be on a frontal face, assuming its depth is the
    generic model's Z_i. This removes scale, in-plane rotation and position exactly, and the
    parallax that moderate pitch and yaw cause (points at different depths shift differently)
    up to perspective effects.

    Weak perspective: the least-squares affine map of the rigid points is reduced to its nearest
    scaled orthonormal rows (scale s, rows r1 r2, shift t), then per point
    [r1; r2][:, :2] @ (X, Y) = (p - t) / s - Z_i * [r1; r2][:, 2].
    Falls back to a 2-D similarity (eye line horizontal, IOD = 1) when the face is turned more
    than ~70 degrees or the fit is degenerate."""
    xy = check_landmarks(landmarks, layout)
    rigid = RIGID_POINTS[layout]
    model_rigid = _model_arrays(layout, rigid)
    image_rigid = xy[list(rigid)]
    model_centre, image_centre = model_rigid.mean(0), image_rigid.mean(0)
    affine = np.linalg.lstsq(model_rigid - model_centre, image_rigid - image_centre, rcond=None)[0].T
    # Nearest scaled pair of orthonormal rows (polar decomposition): unlike Gram-Schmidt it
    # commutes with rotating the image, so in-plane rotation leaves the result unchanged.
    left, singular, right_t = np.linalg.svd(affine, full_matrices=False)
    if singular[-1] < 1e-9 * max(singular[0], 1e-12):
        return _similarity_frontal(xy, layout, indices)
    rows = left @ right_t
    scale = float(singular.mean())
    shift = image_centre - scale * rows @ model_centre
    in_plane = rows[:, :2]
    # |det| = cos of the out-of-plane tilt; below 0.34 (70 deg) the inversion amplifies noise.
    if abs(float(np.linalg.det(in_plane))) < 0.34:
        return _similarity_frontal(xy, layout, indices)
    depth = _model_arrays(layout, indices)[:, 2]
    rhs = (xy[list(indices)] - shift) / scale - np.outer(depth, rows[:, 2])
    frontal: FloatArray = np.linalg.solve(in_plane, rhs.T).T
    return frontal


def _similarity_frontal(xy: FloatArray, layout: LandmarkLayout, indices: tuple[int, ...]) -> FloatArray:
    rigid = RIGID_POINTS[layout]
    right_eye = xy[list(rigid[0:2])].mean(0)
    left_eye = xy[list(rigid[2:4])].mean(0)
    axis = left_eye - right_eye
    iod = max(float(np.hypot(*axis)), 1e-9)
    x_axis = axis / iod
    y_axis = np.array([-x_axis[1], x_axis[0]])
    centred = xy[list(indices)] - (left_eye + right_eye) / 2
    result: FloatArray = np.stack([centred @ x_axis, centred @ y_axis], 1) / iod
    return result
