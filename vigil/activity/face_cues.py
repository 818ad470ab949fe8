"""Face cues: eyes closed, jaw open (learned blendshapes) and head pitch, from MediaPipe Tasks'
FaceLandmarker (`face_landmarker.task`) with `output_face_blendshapes`.

Its own face detector (BlazeFace short-range) misses faces smaller than ~1/5 of its input, so
when the pose gives the head we run it on a square crop around the head (the face is then
large, whatever the frame size, and it is this person's face); without a body it sees the
whole frame. Head pitch comes from the landmarks through `vigil.batch.headpose` (the batch
tracker's tested head pose), mapped to the frame's pixels."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vigil.batch.headpose import head_pose
from vigil.errors import ModelError
from vigil.mediapipe_lazy import import_mediapipe
from vigil.native_logs import quiet_native_startup
from vigil.types import FloatArray, Image

__all__ = ["Face", "FaceReader", "head_crop"]

_CROP_SIDE = 256  # a crop is resized to this side: the landmark model's input is 256 x 256
# FaceMesh indices: cheek contour at ear height (face width), inner lips (mouth centre).
_RIGHT_CHEEK, _LEFT_CHEEK = 234, 454
_UPPER_LIP, _LOWER_LIP = 13, 14


@dataclass(frozen=True)
class Face:
    """One face: 478 landmarks (pixels of the frame) and the cues read from it."""

    points: FloatArray  # (478, 2)
    eyes_closed: float  # mean of eyeBlinkLeft / eyeBlinkRight
    jaw_open: float
    head_pitch: float | None  # degrees, positive = looking down

    def box(self) -> tuple[float, float, float, float]:
        x0, y0 = self.points.min(axis=0)
        x1, y1 = self.points.max(axis=0)
        return float(x0), float(y0), float(x1), float(y1)

    def width(self) -> float:
        return float(np.linalg.norm(self.points[_RIGHT_CHEEK] - self.points[_LEFT_CHEEK]))

    def mouth(self) -> FloatArray:
        return np.asarray((self.points[_UPPER_LIP] + self.points[_LOWER_LIP]) / 2, np.float64)

    def ears(self) -> tuple[FloatArray, FloatArray]:
        return self.points[_RIGHT_CHEEK], self.points[_LEFT_CHEEK]


def head_crop(centre: FloatArray, head_size: float, frame_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """A square region 2.5 head widths wide around the head, clipped to the frame (x0, y0, x1, y1)."""
    width, height = frame_size
    half = max(1.25 * head_size, 32.0)
    cx, cy = float(centre[0]), float(centre[1])
    x0, y0 = max(0, int(cx - half)), max(0, int(cy - half))
    x1, y1 = min(width, int(cx + half)), min(height, int(cy + half))
    return x0, y0, x1, y1


class FaceReader:
    """FaceLandmarker in IMAGE mode (crops of different places and sizes are not a video)."""

    def __init__(self, model: Path, num_faces: int = 1, min_confidence: float = 0.5) -> None:
        mp = import_mediapipe()  # slow import, only when used
        from mediapipe.tasks.python import BaseOptions, vision

        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(model)),
            running_mode=vision.RunningMode.IMAGE,
            num_faces=num_faces,
            min_face_detection_confidence=min_confidence,
            min_face_presence_confidence=min_confidence,
            output_face_blendshapes=True,
        )
        try:
            with quiet_native_startup():
                self._landmarker: Any = vision.FaceLandmarker.create_from_options(options)
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"cannot load the face landmarker {model}: {exc}") from exc
        self._mp = mp

    def read(self, image_rgb: Image, region: tuple[int, int, int, int] | None = None) -> Face | None:
        """The largest face in `region` of the frame (the whole frame when None)."""
        height, width = image_rgb.shape[:2]
        x0, y0, x1, y1 = region or (0, 0, width, height)
        crop = image_rgb[y0:y1, x0:x1]
        if crop.shape[0] < 16 or crop.shape[1] < 16:
            return None
        scale = 1.0
        if region is not None:  # a head crop: bring it to the landmark model's scale
            scale = _CROP_SIDE / max(crop.shape[:2])
            crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
        crop = np.ascontiguousarray(crop)
        result = self._landmarker.detect(self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=crop))
        if not result.face_landmarks:
            return None
        ch, cw = crop.shape[:2]
        faces = []
        for landmarks, shapes in zip(result.face_landmarks, result.face_blendshapes, strict=True):
            points = np.array([(p.x * cw, p.y * ch) for p in landmarks], np.float64) / scale
            points += (x0, y0)
            scores = {c.category_name: float(c.score) for c in shapes}
            faces.append((points, scores))
        points, scores = max(faces, key=lambda face: float(np.ptp(face[0][:, 0]) * np.ptp(face[0][:, 1])))
        return Face(
            points=points,
            eyes_closed=(scores["eyeBlinkLeft"] + scores["eyeBlinkRight"]) / 2,
            jaw_open=scores["jawOpen"],
            head_pitch=_pitch_down(points, width, height),
        )

    def close(self) -> None:
        self._landmarker.close()


def _pitch_down(points: FloatArray, width: int, height: int) -> float | None:
    try:
        pitch, _, _ = head_pose(points, "facemesh478", width, height)
    except ValueError:  # solvePnP found no pose
        return None
    return -pitch  # headpose: positive = looking up; the cue: positive = looking down
