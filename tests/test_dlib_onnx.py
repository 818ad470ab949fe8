"""dlib's face descriptor exported to ONNX gives dlib's own answers (issue 15, "Embedding cost")."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import SHARED, read_image, shared_file
from vigil.detect import FaceDetector, create_detector
from vigil.detect.yunet import YuNetConfig
from vigil.embed import FaceCrop, FaceEmbedder, create_embedder
from vigil.embed.dlib_export import DLIB_ONNX_FILENAME, build_onnx, dlib_model_path, export, self_check
from vigil.embed.dlib_format import Affine, Conv, FcNoBias, Marker, read_dlib_network
from vigil.embed.dlib_onnx import DlibOnnxConfig
from vigil.embed.dlib_resnet import DlibResnetConfig
from vigil.errors import ModelError
from vigil.paths import user_models_dir

MIN_COSINE = 0.999
HAMILTON_FRAME_STEP = 20  # frames between samples of the clip: a few dozen faces, many shots


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dlib_onnx") / DLIB_ONNX_FILENAME
    export(path)
    return path


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return create_detector(YuNetConfig(), [shared_file("models/face_detection_yunet_2023mar.onnx").parent])


def _faces(detector: FaceDetector, image: np.ndarray, largest_only: bool) -> Iterator[FaceCrop]:
    found = detector.detect(image)
    assert found.landmarks is not None
    areas = (found.xyxy[:, 2] - found.xyxy[:, 0]) * (found.xyxy[:, 3] - found.xyxy[:, 1])
    order = [int(np.argmax(areas))] if largest_only and len(areas) else range(len(areas))
    for index in order:
        yield FaceCrop.cut(image, found.xyxy[index], found.landmarks[index])


def _photo_faces(detector: FaceDetector) -> list[tuple[str, FaceCrop]]:
    photos = sorted(p for p in (SHARED / "media/faces/people").glob("*/*") if p.is_file())
    assert len(photos) >= 10, "the shared face photos are missing"
    faces: list[tuple[str, FaceCrop]] = []
    for photo in photos:
        relative = str(photo.relative_to(SHARED))
        faces += [(relative, crop) for crop in _faces(detector, read_image(relative), largest_only=True)]
    return faces


def _clip_faces(detector: FaceDetector) -> list[tuple[str, FaceCrop]]:
    capture = cv2.VideoCapture(str(shared_file("media/video/hamilton_640x360.mp4")))
    faces: list[tuple[str, FaceCrop]] = []
    frame_index = 0
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            if frame_index % HAMILTON_FRAME_STEP == 0:
                faces += [(f"hamilton@{frame_index}", c) for c in _faces(detector, frame, largest_only=False)]
            frame_index += 1
    finally:
        capture.release()
    return faces


def _cosine(a: FaceEmbedder, b: FaceEmbedder, crop: FaceCrop) -> float:
    first, second = a.embed(crop), b.embed(crop)
    assert first.model == second.model == "dlib_resnet_v1"
    return float(first.vector @ second.vector)


def test_the_whole_dat_file_is_read() -> None:
    network = read_dlib_network(dlib_model_path())
    convs = [layer for layer in network.layers if isinstance(layer, Conv)]
    affines = [layer for layer in network.layers if isinstance(layer, Affine)]
    assert network.input.size == (150, 150)
    assert network.input.mean_rgb == pytest.approx((122.782, 117.001, 104.298), abs=1e-4)
    assert len(convs) == len(affines) == 29  # stem + 14 residual units of two convs
    assert convs[0].weights.shape == (32, 3, 7, 7) and convs[0].stride == (2, 2)
    assert (
        sum(isinstance(layer, Marker) for layer in network.layers) == 14 + 2 * 4
    )  # a tag1 per unit, (tag2, skip1) per downsampling unit
    last = network.layers[-1]
    assert isinstance(last, FcNoBias) and last.weights.shape == (256, 128)


def test_onnx_gives_dlibs_vectors_on_every_shared_face(onnx_model: Path, detector: FaceDetector) -> None:
    dlib_engine = create_embedder(DlibResnetConfig())
    onnx_engine = create_embedder(DlibOnnxConfig(model_path=onnx_model))
    photos, clip = _photo_faces(detector), _clip_faces(detector)
    assert len(photos) >= 10 and len(clip) >= 20
    cosines = {label: _cosine(dlib_engine, onnx_engine, crop) for label, crop in photos + clip}
    worst = min(cosines, key=lambda label: cosines[label])
    assert cosines[worst] >= MIN_COSINE, f"{worst}: cosine {cosines[worst]:.6f}"


def test_self_check_rejects_a_wrong_conversion() -> None:
    network = read_dlib_network(dlib_model_path())
    index = next(i for i, layer in enumerate(network.layers) if isinstance(layer, Affine))
    affine = network.layers[index]
    assert isinstance(affine, Affine)
    broken = list(network.layers)
    broken[index] = Affine(affine.gamma[::-1].copy(), affine.beta)  # channels mixed up
    with pytest.raises(ModelError, match="differs from dlib"):
        self_check(build_onnx(dataclasses.replace(network, layers=broken)))


def test_a_missing_model_path_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"python -m vigil\.embed\.dlib_export"):
        create_embedder(DlibOnnxConfig(model_path=tmp_path / "absent.onnx"))


def test_the_default_model_is_exported_on_first_use() -> None:
    target = user_models_dir() / DLIB_ONNX_FILENAME  # under the test's own XDG_DATA_HOME
    assert not target.exists()
    embedder = create_embedder(DlibOnnxConfig())
    assert target.is_file() and embedder.name == "dlib_resnet_v1" and embedder.dim == 128
