"""The Face Landmarker's graphs start at the first face that asks for landmarks, not when the
engine is made: the anonymiser's face pass (boxes only) never pays for them."""

from __future__ import annotations

import zipfile
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from tests.conftest import shared_file
from vigil.batch.landmarker import _BLENDSHAPES_MODEL, _LANDMARKS_MODEL, FaceLandmarkerRegions
from vigil.errors import ModelError
from vigil.types import Image

MODEL = shared_file("models/face_landmarker.task")


def _first_frame_rgb() -> Image:
    with av.open(str(shared_file("media/video/single_face.mp4"))) as container:
        frame = next(container.decode(video=0))
    return frame.to_ndarray(format="rgb24")


def test_the_graphs_start_at_the_first_face_only() -> None:
    landmarker = FaceLandmarkerRegions(MODEL)
    try:
        assert landmarker._graph is None  # made, nothing started
        image = _first_frame_rgb()
        height, width = image.shape[:2]
        detector = cv2.FaceDetectorYN.create(
            str(shared_file("models/face_detection_yunet_2023mar.onnx")), "", (width, height)
        )
        _, faces = detector.detect(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        assert faces is not None and len(faces) >= 1
        x, y, w, h = faces[0][:4]
        roi = landmarker.roi_from_detection(np.array([x, y, x + w, y + h], dtype=np.float32), None)
        located = landmarker.locate(image, roi)
        assert landmarker._graph is not None and landmarker.calls == 1
        assert located is not None and located.points.shape == (478, 3)
        assert x <= located.points[:, 0].mean() <= x + w  # on the face the detector found
    finally:
        landmarker.close()


def test_a_bad_bundle_is_refused_when_made(tmp_path: Path) -> None:
    bad = tmp_path / "face_landmarker.task"
    with zipfile.ZipFile(bad, "w") as bundle:
        bundle.writestr("other.tflite", b"")
    with pytest.raises(ModelError, match=r"not a MediaPipe face_landmarker\.task bundle"):
        FaceLandmarkerRegions(bad)
    FaceLandmarkerRegions(MODEL).close()  # closing one that never started is fine


def test_a_graph_that_cannot_start_fails_once_with_a_model_error(tmp_path: Path) -> None:
    """A bundle with the right files but no valid model: made fine, refused at the first face,
    and the same error again at the next face without another start."""
    bad = tmp_path / "face_landmarker.task"
    with zipfile.ZipFile(bad, "w") as bundle:
        bundle.writestr(_LANDMARKS_MODEL, b"not a model")
        bundle.writestr(_BLENDSHAPES_MODEL, b"nor this")
    landmarker = FaceLandmarkerRegions(bad)
    roi = landmarker.roi_from_detection(np.array([50, 50, 150, 150], dtype=np.float32), None)
    image = np.zeros((200, 200, 3), dtype=np.uint8)
    errors = []
    for _ in range(2):
        with pytest.raises(ModelError, match="cannot start the MediaPipe Face Landmarker graphs") as caught:
            landmarker.locate(image, roi)
        errors.append(caught.value)
    assert errors[0] is errors[1] and landmarker._graph is None
    landmarker.close()
