"""Object fallback for frames without a face (seed 000's `STEP5_ENABLE_OBJECT_DETECTION`): a COCO
detector, MediaPipe Tasks' ObjectDetector (mediapipe==0.10.14), any of its 80 classes.

The model is resolved as the seed did: `STEP5_OBJECT_DETECTOR_MODEL_PATH` (a file), else the file
of `STEP5_OBJECT_DETECTOR_MODEL` (a registry name below) in the models folders. `vigil models fetch
coco_ssd_mobilenet` (the default, 4.2 MB) or `efficientdet_lite0` gets one. When the named model is
not installed, the person detectors of person.py stay the fallback (with a warning).

Detections pass a score and shape check (`ObjectFilter`): a COCO detector reports title text as a
"kite" (0.55-0.71 on no_face.mp4's title, boxes 3.2-4.2 times wider than tall) and clouds as small
"persons" (0.38); boxes below the score, smaller than a few percent of the frame, or shaped like a
line of text are refused.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vigil.batch.person import PersonDetector, create_person_detector
from vigil.batch.settings import BatchSettings
from vigil.detect.base import downscale
from vigil.errors import ConfigError, ModelError
from vigil.mediapipe_lazy import import_mediapipe
from vigil.native_logs import quiet_native_startup
from vigil.types import FloatArray, Image

log = logging.getLogger(__name__)

OBJECT_WIDTH = 640  # frames are downscaled to this width before object detection

COCO_SSD_FILENAME = "coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite"
EFFICIENTDET_LITE0_FILENAME = "efficientdet_lite0.tflite"
# STEP5_OBJECT_DETECTOR_MODEL -> file names looked up in the models folders (the seed's own file
# names second). The seed's other entries (efficientdet_lite1/2, ssd_mobilenet_v3) work through
# STEP5_OBJECT_DETECTOR_MODEL_PATH; its ONNX ones (yolo11n_onnx, nanodet_plus) are not MediaPipe models.
OBJECT_MODELS: dict[str, tuple[str, ...]] = {
    "coco_ssd_mobilenet": (COCO_SSD_FILENAME,),
    "efficientdet_lite0": (EFFICIENTDET_LITE0_FILENAME, "EfficientDet-Lite0.tflite"),
    "efficientdet_lite1": ("efficientdet_lite1.tflite", "EfficientDet-Lite1.tflite"),
    "efficientdet_lite2": ("efficientdet_lite2.tflite", "EfficientDet-Lite2-32.tflite"),
    "ssd_mobilenet_v3": ("ssd_mobilenet_v3.tflite",),
}
DEFAULT_OBJECT_MODEL = "coco_ssd_mobilenet"


@dataclass(frozen=True)
class ObjectFilter:
    """What a detection must be to count: a COCO detector also fires on text and texture."""

    min_score: float = 0.5
    min_side: float = 0.05  # shorter box side / shorter frame side (18 px at 360p)
    max_aspect: float = 2.5  # longer side / shorter side; title text lines are wider than 3:1

    def keep(self, box: tuple[float, float, float, float], score: float, width: int, height: int) -> bool:
        w, h = box[2] - box[0], box[3] - box[1]
        short, long = min(w, h), max(w, h)
        if score < self.min_score or short < self.min_side * min(width, height):
            return False
        return long <= self.max_aspect * short


class MediaPipeObjectDetector:
    """MediaPipe ObjectDetector in IMAGE mode (frames come in any order across chunks)."""

    def __init__(self, model: Path, filter_: ObjectFilter) -> None:
        import_mediapipe()  # slow import, only when used
        from mediapipe.tasks.python import BaseOptions, vision

        options = vision.ObjectDetectorOptions(
            base_options=BaseOptions(model_asset_path=str(model)),
            running_mode=vision.RunningMode.IMAGE,
            score_threshold=min(filter_.min_score, 0.3),  # the filter decides; lower scores never pass
            max_results=20,
        )
        with quiet_native_startup():
            self._detector: Any = vision.ObjectDetector.create_from_options(options)
        self._filter = filter_
        self.closed = False

    def detect(self, image_bgr: Image) -> tuple[FloatArray, FloatArray, list[str]]:
        mp = import_mediapipe()

        small, scale = downscale(image_bgr, OBJECT_WIDTH)
        height, width = small.shape[:2]
        rgb = np.ascontiguousarray(cv2.cvtColor(small, cv2.COLOR_BGR2RGB))
        result = self._detector.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb))
        boxes, scores, labels = [], [], []
        for detection in result.detections:
            category = detection.categories[0]
            bb = detection.bounding_box
            box = (
                float(bb.origin_x),
                float(bb.origin_y),
                float(bb.origin_x + bb.width),
                float(bb.origin_y + bb.height),
            )
            if self._filter.keep(box, float(category.score), width, height):
                boxes.append(box)
                scores.append(float(category.score))
                labels.append(category.category_name or f"class_{category.index}")
        if not boxes:
            return np.empty((0, 4), np.float32), np.empty(0, np.float32), []
        return np.asarray(boxes, np.float32) * scale, np.asarray(scores, np.float32), labels

    def close(self) -> None:
        if not self.closed:
            self._detector.close()
            self.closed = True


def object_model_path(settings: BatchSettings) -> Path | None:
    """The object detector model to use, None when the named one is not installed. ConfigError on
    an unknown name; ModelError when STEP5_OBJECT_DETECTOR_MODEL_PATH names a missing file."""
    if settings.object_detector_model_path is not None:
        path = settings.object_detector_model_path
        if not path.is_file():
            raise ModelError(f"object detector model {path} (STEP5_OBJECT_DETECTOR_MODEL_PATH) not found")
        return path
    name = settings.object_detector_model
    if name not in OBJECT_MODELS:
        raise ConfigError(
            f"unknown object detector model {name!r} (STEP5_OBJECT_DETECTOR_MODEL); choose one of "
            f"{', '.join(OBJECT_MODELS)}, or set STEP5_OBJECT_DETECTOR_MODEL_PATH to a MediaPipe .tflite"
        )
    for directory in settings.models_dirs():
        for filename in OBJECT_MODELS[name]:
            if (directory / filename).is_file():
                return directory / filename
    return None


def create_fallback_detector(settings: BatchSettings) -> PersonDetector:
    """The object detector when its model is found, else the person detector (person.py)."""
    model = object_model_path(settings)
    if model is None:
        log.warning(
            "object detector %s not installed (vigil models fetch %s): the %s person detector is used",
            settings.object_detector_model,
            settings.object_detector_model,
            settings.person_detector,
        )
        return create_person_detector(settings.person_detector, settings.person_min_score)
    log.info("Using object detector model %s", model)
    return MediaPipeObjectDetector(model, ObjectFilter(min_score=settings.person_min_score))
