"""MediaPipe FaceMesh (legacy solution, static-image mode): BlazeFace short-range + 468/478 points.

Weights ship in the mediapipe==0.10.14 wheel. Boxes are the meshes' bounding boxes; the
solution reports no per-face score, so every face it returns scores 1.0. `detect()` gives the
usual 5 landmarks (detect/base.py convention); `detect_with_mesh()` also returns the full meshes
for batch tracking. Static-image mode keeps no state between calls: the same frame always gives
the same faces, which chunked batch tracking relies on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
from pydantic import Field

from vigil.detect.base import DetectorConfigBase, FaceDetector, _clip, downscale
from vigil.mediapipe_lazy import import_mediapipe
from vigil.native_logs import started_quietly
from vigil.types import Detections, FloatArray, Image

# Mesh indices of the detector convention's points: eye centres (mean of the two corners),
# nose tip, mouth corners. Right = the subject's right = the image's left.
_RIGHT_EYE = (33, 133)
_LEFT_EYE = (263, 362)
_NOSE_TIP = 1
_MOUTH_RIGHT, _MOUTH_LEFT = 61, 291


def five_points(mesh: FloatArray) -> FloatArray:
    """(5, 2) detector-convention points of one (P, 2|3) mesh."""
    xy = mesh[:, :2]
    return np.stack(
        [
            xy[list(_RIGHT_EYE)].mean(axis=0),
            xy[list(_LEFT_EYE)].mean(axis=0),
            xy[_NOSE_TIP],
            xy[_MOUTH_RIGHT],
            xy[_MOUTH_LEFT],
        ]
    ).astype(np.float32)


class FaceMeshConfig(DetectorConfigBase):
    type: Literal["mediapipe_facemesh"] = "mediapipe_facemesh"
    score_threshold: float = Field(0.5, ge=0.0, le=1.0, description="Minimum BlazeFace confidence")
    max_faces: int = Field(4, ge=1, le=50, description="Faces meshed per frame at most")
    refine_landmarks: bool = Field(True, description="Attention model: 478 points incl. irises")

    jaw_open_family = "mediapipe"

    def create(self, models_dirs: list[Path]) -> FaceDetector:
        return FaceMeshDetector(self)


class FaceMeshDetector(FaceDetector):
    name = "mediapipe_facemesh"
    landmark_count = 5

    def __init__(self, config: FaceMeshConfig) -> None:
        super().__init__(config)
        import_mediapipe()  # slow import, only when used
        from mediapipe.python.solutions import face_mesh

        self._mesh_config = config
        self._mp: Any = started_quietly(
            lambda: face_mesh.FaceMesh(
                static_image_mode=True,
                max_num_faces=config.max_faces,
                refine_landmarks=config.refine_landmarks,
                min_detection_confidence=config.score_threshold,
            )
        )

    @property
    def mesh_points(self) -> int:
        return 478 if self._mesh_config.refine_landmarks else 468

    def _detect(self, image: Image) -> Detections:
        return _to_detections(self._meshes(image))

    def detect_with_mesh(self, image: Image) -> tuple[Detections, FloatArray]:
        """Faces as `detect()` gives them, plus their meshes (N, P, 3) in `image` pixels
        (z on the x scale)."""
        height, width = image.shape[:2]
        image, scale = downscale(image, self.config.max_width)
        meshes = self._meshes(image) * np.float32(scale)
        found = _to_detections(meshes)
        found.track_id = np.arange(len(found))  # row numbers survive the filtering below
        found = _clip(found, width, height)
        return Detections(found.xyxy, found.score, found.landmarks), meshes[found.track_id]

    def _meshes(self, image: Image) -> FloatArray:
        height, width = image.shape[:2]
        result = self._mp.process(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        faces = result.multi_face_landmarks or []
        meshes = np.zeros((len(faces), self.mesh_points, 3), np.float32)
        for row, face in enumerate(faces):
            meshes[row] = [[p.x * width, p.y * height, p.z * width] for p in face.landmark]
        return meshes

    def close(self) -> None:
        self._mp.close()


def _to_detections(meshes: FloatArray) -> Detections:
    if len(meshes) == 0:
        return Detections.empty(5)
    xy = meshes[:, :, :2]
    boxes = np.concatenate([xy.min(axis=1), xy.max(axis=1)], axis=1)
    points = np.stack([five_points(mesh) for mesh in meshes])
    return Detections(boxes, np.ones(len(meshes), np.float32), points)
