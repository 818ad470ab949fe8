"""MediaPipe Face Landmarker (`face_landmarker.task`) on tracked face regions: 478 landmarks and
the 52 learned ARKit blendshapes of seed 000's default engine.

The Tasks API's FaceLandmarker runs its own BlazeFace short-range detector first, which misses
the small and audience faces YuNet finds (and it takes no region of interest). Here we run the
two subgraphs behind it, from the same `.task` bundle and the same `mediapipe==0.10.14` wheel:
`SingleFaceLandmarksDetectorGraph` (the 256x256 landmark model, on a region we give it: from a
detector box, or from the previous frame's landmarks as MediaPipe tracks) and
`FaceBlendshapesGraph` (the blendshape model on 146 of those landmarks). Each call gets a crop
around the region, so the cost per face does not depend on the frame size.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from vigil.batch.headpose import LandmarkLayout

# The FaceMesh region helpers: same crop and same landmark wire format as the legacy mesh.
from vigil.batch.roi_landmarks import Roi, _crop_around, _parse_landmarks, roi_from_box, roi_from_mesh
from vigil.errors import ModelError
from vigil.mediapipe_lazy import import_mediapipe
from vigil.native_logs import quiet_native_startup
from vigil.types import FloatArray, Image

__all__ = [
    "FACE_LANDMARKER_FILENAME",
    "LEARNED_KEYS",
    "DetectorRoi",
    "FaceLandmarkerRegions",
    "Located",
]

FACE_LANDMARKER_FILENAME: Final = "face_landmarker.task"
_LANDMARKS_MODEL: Final = "face_landmarks_detector.tflite"
_BLENDSHAPES_MODEL: Final = "face_blendshapes.tflite"
# The blendshape model's 52 outputs, in its order (MediaPipe's: `_neutral` then ARKit's names
# without tongueOut); checked against the labels it returns on the first face.
LEARNED_KEYS: Final[tuple[str, ...]] = (
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft", "eyeBlinkRight",
    "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft",
    "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft", "eyeSquintRight",
    "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen", "jawRight", "mouthClose",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft", "mouthFrownRight", "mouthFunnel",
    "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthPressLeft", "mouthPressRight",
    "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower",
    "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthUpperUpLeft", "mouthUpperUpRight", "noseSneerLeft", "noseSneerRight",
)  # fmt: skip
_GRAPH_PREFIX: Final = "mediapipe.tasks.vision.face_landmarker."


@dataclass(frozen=True)
class DetectorRoi(Roi):
    """A region made from a detector's box: the detector vouches for a face there."""


@dataclass(frozen=True)
class Located:
    """One face's landmarks (P, 3) in image pixels, and its learned blendshape scores (52, in
    LEARNED_KEYS order) when the landmark model makes them."""

    points: FloatArray
    blendshapes: FloatArray | None = None


class FaceLandmarkerRegions:
    """Landmarks + learned blendshapes of one face region per call. Not thread-safe: one per worker.

    The landmark model's face-presence score says whether the region holds a face (MediaPipe's
    `min_face_presence_confidence`, 0.5 there). On a detector's region (YuNet found a face there)
    `min_presence` applies: 0.01 by default, as hamilton's 60-70 px audience faces with
    well-placed landmarks score 0.03-0.44. On a region that follows the previous frame's
    landmarks `follow_presence` applies (0.1): lower, on crowd_1080p a followed mesh slid onto
    a passer-by and gave one id to two people."""

    layout: LandmarkLayout = "facemesh478"
    retry_held_region = True

    def __init__(
        self,
        model_path: Path,
        box_to_roi: tuple[float, float] = (1.33, 0.05),
        min_presence: float = 0.01,
        follow_presence: float = 0.1,
        threads: int = 1,
    ) -> None:
        self._box_to_roi = box_to_roi
        self.min_presence, self.follow_presence = min_presence, follow_presence
        try:
            with zipfile.ZipFile(model_path) as bundle:
                self._models = (bundle.read(_LANDMARKS_MODEL), bundle.read(_BLENDSHAPES_MODEL))
        except (OSError, KeyError, zipfile.BadZipFile) as exc:
            raise ModelError(f"{model_path} is not a MediaPipe face_landmarker.task bundle: {exc}") from exc
        self._threads = threads
        self._graph: Any = None  # started at the first face (never where no face gets landmarks)
        self._start_error: ModelError | None = None  # a failed start is not tried again
        self._mp: _MediaPipe
        self._out: dict[str, Any] = {}
        self._ts = 0
        self._labels_checked = False
        self.calls = 0

    def _start(self) -> None:
        """The graphs, at the first `locate`: the anonymiser's face pass never asks for landmarks
        (boxes only), and starting them cost ~0.4 s of each worker's CPU, ~0.7 s with the import.
        The bundle was checked when this was made; a graph that cannot start fails the video at
        its first face, with the same ModelError every time after (no retry per face)."""
        if self._start_error is not None:
            raise self._start_error
        try:
            least = min(self.min_presence, self.follow_presence)
            with quiet_native_startup():  # until the graphs' threads have loaded the models
                graph, self._mp = _start_graph(*self._models, least, self._threads)
                for stream in ("landmarks", "presence", "blendshapes"):
                    graph.observe_output_stream(stream, self._keep, True)
                graph.start_run()
                graph.wait_until_idle()
        except Exception as exc:  # mediapipe raises RuntimeError/ValueError of its own
            self._start_error = ModelError(f"cannot start the MediaPipe Face Landmarker graphs: {exc}")
            raise self._start_error from exc
        self._graph = graph

    def _keep(self, name: str, packet: Any) -> None:
        self._out[name] = packet

    def roi_from_detection(self, box: FloatArray, keypoints: FloatArray | None) -> Roi:
        roi = roi_from_box(box, keypoints, self._box_to_roi)
        return DetectorRoi(roi.cx, roi.cy, roi.size, roi.rotation)

    def roi_from_points(self, points: FloatArray) -> Roi:
        return roi_from_mesh(points)

    def locate(self, image_rgb: Image, roi: Roi) -> Located | None:
        """Landmarks and blendshapes in the region, or None when the model sees no face there."""
        if roi.size < 4:
            return None
        if self._graph is None:
            self._start()
        crop, x0, y0 = _crop_around(image_rgb, roi)
        if crop.size == 0:
            return None
        height, width = crop.shape[:2]
        rect = self._mp.rect(
            x_center=(roi.cx - x0) / width,
            y_center=(roi.cy - y0) / height,
            width=roi.size / width,
            height=roi.size / height,
            rotation=roi.rotation,
        )
        self._ts += 1
        self._out.clear()
        self.calls += 1
        image = self._mp.image(image_format=self._mp.srgb, data=crop)
        self._graph.add_packet_to_input_stream("image", self._mp.create_image(image).at(self._ts))
        self._graph.add_packet_to_input_stream("roi", self._mp.create_proto(rect).at(self._ts))
        self._graph.wait_until_idle()
        presence = self._out.get("presence")
        landmarks = self._out.get("landmarks")
        if presence is None or landmarks is None or presence.is_empty() or landmarks.is_empty():
            return None
        least = self.min_presence if isinstance(roi, DetectorRoi) else self.follow_presence
        if self._mp.get_float(presence) < least:
            return None
        points = _parse_landmarks(self._mp.get_proto(landmarks))
        points[:, 0] = points[:, 0] * width + x0
        points[:, 1] = points[:, 1] * height + y0
        points[:, 2] *= width
        return Located(points, self._blendshapes())

    def _blendshapes(self) -> FloatArray | None:
        packet = self._out.get("blendshapes")
        if packet is None or packet.is_empty():
            return None
        classes = self._mp.get_proto(packet).classification
        if not self._labels_checked:
            labels = tuple(c.label for c in classes)
            if labels != LEARNED_KEYS:
                raise ModelError(f"unexpected blendshape labels from {FACE_LANDMARKER_FILENAME}: {labels}")
            self._labels_checked = True
        return np.fromiter((c.score for c in classes), dtype=np.float32, count=len(LEARNED_KEYS))

    def close(self) -> None:
        if self._graph is not None:
            self._graph.close()


@dataclass(frozen=True)
class _MediaPipe:
    """The mediapipe entry points one call needs, imported once (mediapipe loads slowly)."""

    rect: Any
    image: Any
    srgb: Any
    create_image: Any
    create_proto: Any
    get_proto: Any
    get_float: Any


def _start_graph(
    landmarks_model: bytes, blendshapes_model: bytes, min_presence: float, threads: int
) -> tuple[Any, _MediaPipe]:
    mediapipe = import_mediapipe()
    from mediapipe.framework import calculator_pb2
    from mediapipe.framework.formats import rect_pb2
    from mediapipe.python import packet_creator, packet_getter
    from mediapipe.python._framework_bindings import calculator_graph
    from mediapipe.python._framework_bindings import image as mp_image
    from mediapipe.tasks.cc.vision.face_landmarker.proto import (
        face_blendshapes_graph_options_pb2,
        face_landmarks_detector_graph_options_pb2,
    )

    config = calculator_pb2.CalculatorGraphConfig()
    config.input_stream.extend(["image", "roi"])
    config.output_stream.extend(["landmarks", "presence", "blendshapes"])
    detector = config.node.add()
    detector.calculator = _GRAPH_PREFIX + "SingleFaceLandmarksDetectorGraph"
    detector.input_stream.extend(["IMAGE:image", "NORM_RECT:roi"])
    detector.output_stream.extend(["NORM_LANDMARKS:landmarks", "PRESENCE_SCORE:presence"])
    detector_options = face_landmarks_detector_graph_options_pb2.FaceLandmarksDetectorGraphOptions
    options = detector.options.Extensions[detector_options.ext]
    options.base_options.model_asset.file_content = landmarks_model
    options.min_detection_confidence = min_presence  # below it the graph emits no landmarks
    # One TFLite thread per worker process: the workers already fill the cores.
    options.base_options.acceleration.xnnpack.num_threads = threads
    size = config.node.add()
    size.calculator = "ImagePropertiesCalculator"
    size.input_stream.append("IMAGE:image")
    size.output_stream.append("SIZE:size")
    shapes = config.node.add()
    shapes.calculator = _GRAPH_PREFIX + "FaceBlendshapesGraph"
    shapes.input_stream.extend(["LANDMARKS:landmarks", "IMAGE_SIZE:size"])
    shapes.output_stream.append("BLENDSHAPES:blendshapes")
    blendshapes_options = face_blendshapes_graph_options_pb2.FaceBlendshapesGraphOptions
    shape_options = shapes.options.Extensions[blendshapes_options.ext]
    shape_options.base_options.model_asset.file_content = blendshapes_model
    shape_options.base_options.acceleration.xnnpack.num_threads = threads
    graph = calculator_graph.CalculatorGraph(graph_config=config)
    entry = _MediaPipe(
        rect=rect_pb2.NormalizedRect,
        image=mp_image.Image,
        srgb=mediapipe.ImageFormat.SRGB,
        create_image=packet_creator.create_image,
        create_proto=packet_creator.create_proto,
        get_proto=packet_getter.get_proto,
        get_float=packet_getter.get_float,
    )
    return graph, entry
