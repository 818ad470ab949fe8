"""MediaPipe FaceMesh landmarks (468 points, or 478 with the attention model) on one face region.

The legacy FaceMesh solution runs its own short-range detector, which misses the small faces
YuNet finds, and tracks faces with hidden state. Here we run only its landmark subgraph
(`FaceLandmarkCpu`, weights in the mediapipe==0.10.14 wheel) on a region of interest we give
it: from a detector box (+ eye keypoints for the rotation) or from the previous frame's
landmarks, as MediaPipe does internally. Each call gets a small crop around the region, so the
per-face cost does not grow with the frame size.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from vigil.errors import ModelError
from vigil.mediapipe_lazy import import_mediapipe
from vigil.native_logs import quiet_native_startup
from vigil.types import FloatArray, Image

_GRAPH = """
input_stream: "IMAGE:image"
input_stream: "ROI:roi"
output_stream: "LANDMARKS:landmarks"
node {
  calculator: "FaceLandmarkCpu"
  input_stream: "IMAGE:image"
  input_stream: "ROI:roi"
  output_stream: "LANDMARKS:landmarks"
  input_side_packet: "WITH_ATTENTION:with_attention"
}
"""

# MediaPipe's FaceLandmarkLandmarksToRoi: eye outer corners give the rotation, the landmarks'
# box grown 1.5x (square) is the next frame's region.
_RIGHT_EYE_OUTER, _LEFT_EYE_OUTER = 33, 263
MESH_ROI_SCALE = 1.5


@dataclass(frozen=True)
class Roi:
    """A square face region in image pixels, rotated by `rotation` radians (MediaPipe's sign)."""

    cx: float
    cy: float
    size: float
    rotation: float = 0.0


def roi_from_box(
    box: FloatArray, keypoints: FloatArray | None = None, box_to_roi: tuple[float, float] = (1.33, 0.05)
) -> Roi:
    """Region for a detector box `xyxy`; `box_to_roi` is the detector's (scale, shift) calibration
    (`DetectorConfigBase.box_to_roi`); keypoints 0/1 (right/left eye, detector convention) set the
    rotation when present."""
    scale, shift = box_to_roi
    x0, y0, x1, y1 = (float(v) for v in box[:4])
    side = max(x1 - x0, y1 - y0)
    rotation = 0.0
    if keypoints is not None and len(keypoints) >= 2:
        (rx, ry), (lx, ly) = keypoints[0][:2], keypoints[1][:2]
        rotation = math.atan2(float(ly - ry), float(lx - rx))
    return Roi((x0 + x1) / 2, (y0 + y1) / 2 + shift * side, side * scale, rotation)


def roi_from_mesh(points: FloatArray) -> Roi:
    """Region for the next frame from this frame's mesh (MediaPipe's landmarks-to-ROI)."""
    xy = points[:, :2]
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    right, left = xy[_RIGHT_EYE_OUTER], xy[_LEFT_EYE_OUTER]
    rotation = math.atan2(float(left[1] - right[1]), float(left[0] - right[0]))
    # Like RectTransformationCalculator: the box is taken in the face's rotated frame.
    centre = (lo + hi) / 2
    cos, sin = math.cos(-rotation), math.sin(-rotation)
    rel = xy - centre
    rot = np.column_stack([rel[:, 0] * cos - rel[:, 1] * sin, rel[:, 0] * sin + rel[:, 1] * cos])
    rlo, rhi = rot.min(axis=0), rot.max(axis=0)
    mid = (rlo + rhi) / 2
    cos_b, sin_b = math.cos(rotation), math.sin(rotation)
    cx = float(centre[0] + mid[0] * cos_b - mid[1] * sin_b)
    cy = float(centre[1] + mid[0] * sin_b + mid[1] * cos_b)
    side = float(max(rhi - rlo)) * MESH_ROI_SCALE
    return Roi(cx, cy, side, rotation)


class FaceMeshLandmarker:
    """Locates the mesh of one face per call. Not thread-safe: one per worker."""

    layout = "facemesh478"

    def __init__(self, refine: bool = False, threads: int = 1) -> None:
        self.refine = refine
        self.points = 478 if refine else 468
        try:
            self._graph, self._packets, self._getter, self._format, self._rect = _start_graph(refine, threads)
        except Exception as exc:  # mediapipe raises RuntimeError/ValueError of its own
            raise ModelError(f"cannot start MediaPipe FaceMesh landmarks: {exc}") from exc
        self._out: list[Any] = []
        self._graph.observe_output_stream("landmarks", lambda _name, packet: self._out.append(packet), True)
        with quiet_native_startup():  # until the graph's threads have loaded the model
            self._graph.start_run({"with_attention": self._packets.create_bool(refine)})
            self._graph.wait_until_idle()
        self._ts = 0

    def locate(self, image_rgb: Image, roi: Roi) -> FloatArray | None:
        """(P, 3) float32 points in `image_rgb` pixels (z in the same scale as x), or None when the
        model says the region holds no face."""
        if roi.size < 4:
            return None
        crop, x0, y0 = _crop_around(image_rgb, roi)
        if crop.size == 0:
            return None
        height, width = crop.shape[:2]
        rect = self._rect(
            x_center=(roi.cx - x0) / width,
            y_center=(roi.cy - y0) / height,
            width=roi.size / width,
            height=roi.size / height,
            rotation=roi.rotation,
        )
        self._ts += 1
        self._out.clear()
        frame = self._packets.create_image_frame(image_format=self._format, data=crop)
        self._graph.add_packet_to_input_stream("image", frame.at(self._ts))
        self._graph.add_packet_to_input_stream("roi", self._packets.create_proto(rect).at(self._ts))
        self._graph.wait_until_idle()
        if not self._out or self._out[-1].is_empty():
            return None
        points = _parse_landmarks(self._getter.get_proto(self._out[-1]))
        points[:, 0] = points[:, 0] * width + x0
        points[:, 1] = points[:, 1] * height + y0
        points[:, 2] *= width
        return points

    def close(self) -> None:
        self._graph.close()


def _crop_around(image: Image, roi: Roi) -> tuple[Image, int, int]:
    # The rotated square fits in a square of side size*sqrt(2); FaceLandmarkCpu pads outside.
    half = roi.size * 0.75
    height, width = image.shape[:2]
    x0, y0 = max(0, int(roi.cx - half)), max(0, int(roi.cy - half))
    x1, y1 = min(width, math.ceil(roi.cx + half)), min(height, math.ceil(roi.cy + half))
    return np.ascontiguousarray(image[y0:y1, x0:x1]), x0, y0


# NormalizedLandmark with x, y, z only serialises as 0x0a 0x0f | 0x0d x | 0x15 y | 0x1d z.
_WIRE = np.dtype(
    [
        ("tag", "u1"),
        ("len", "u1"),
        ("tx", "u1"),
        ("x", "<f4"),
        ("ty", "u1"),
        ("y", "<f4"),
        ("tz", "u1"),
        ("z", "<f4"),
    ]
)


def _parse_landmarks(landmarks: Any) -> FloatArray:
    """Points of a NormalizedLandmarkList; reads the wire bytes directly (10x faster than
    attribute access) and falls back to attributes when the layout differs."""
    raw = landmarks.SerializeToString()
    if len(raw) % _WIRE.itemsize == 0:
        rec = np.frombuffer(raw, dtype=_WIRE)
        if (rec["tag"] == 0x0A).all() and (rec["len"] == 15).all() and (rec["tz"] == 0x1D).all():
            return np.column_stack([rec["x"], rec["y"], rec["z"]]).astype(np.float32)
    return np.array([[p.x, p.y, p.z] for p in landmarks.landmark], dtype=np.float32)


def _start_graph(refine: bool, threads: int) -> tuple[Any, Any, Any, Any, Any]:
    mediapipe = import_mediapipe()
    from google.protobuf import text_format  # type: ignore[import-untyped]
    from mediapipe.calculators.tensor import inference_calculator_pb2
    from mediapipe.framework import calculator_pb2
    from mediapipe.framework.formats import rect_pb2
    from mediapipe.python import packet_creator, packet_getter
    from mediapipe.python._framework_bindings import calculator_graph, resource_util, validated_graph_config

    resource_util.set_resource_dir(os.path.dirname(os.path.dirname(str(mediapipe.__file__))))
    validated = validated_graph_config.ValidatedGraphConfig()
    validated.initialize(graph_config=text_format.Parse(_GRAPH, calculator_pb2.CalculatorGraphConfig()))
    config = calculator_pb2.CalculatorGraphConfig()
    config.ParseFromString(validated.binary_config)
    for node in config.node:
        if node.calculator.startswith("InferenceCalculator"):
            # One TFLite thread per worker process: the workers already fill the cores.
            options = node.options.Extensions[inference_calculator_pb2.InferenceCalculatorOptions.ext]
            options.delegate.xnnpack.num_threads = threads
    graph = calculator_graph.CalculatorGraph(graph_config=config)
    return graph, packet_creator, packet_getter, mediapipe.ImageFormat.SRGB, rect_pb2.NormalizedRect
