from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.conftest import read_image
from vigil.detect import create_detector
from vigil.detect.yunet import YuNetConfig
from vigil.embed import FaceCrop, create_embedder
from vigil.embed.dlib_resnet import DlibResnetConfig
from vigil.embed.onnx_embedder import OnnxEmbedderConfig
from vigil.embed.registry import embedder_configs
from vigil.errors import ModelError
from vigil.types import FaceEmbedding


def _crop(relative: str, models_dir: Path) -> FaceCrop:
    image = read_image(relative)
    found = create_detector(YuNetConfig(), [models_dir]).detect(image)
    best = int(np.argmax(found.score))
    assert found.landmarks is not None
    return FaceCrop.cut(image, found.xyxy[best], found.landmarks[best])


def test_dlib_resnet_separates_people(models_dir: Path) -> None:
    embedder = create_embedder(DlibResnetConfig())
    vectors = {
        name: embedder.embed(_crop(f"media/faces/people/{name}", models_dir))
        for name in ("obama/obama.jpg", "obama/obama2.jpg", "biden/biden.jpg", "biden/biden2.jpg")
    }
    for emb in vectors.values():
        assert emb.dim == 128 and emb.model == "dlib_resnet_v1"
        assert np.linalg.norm(emb.vector) == pytest.approx(1.0, abs=1e-5)
    sim = {(a, b): float(vectors[a].vector @ vectors[b].vector) for a in vectors for b in vectors}
    same = min(sim["obama/obama.jpg", "obama/obama2.jpg"], sim["biden/biden.jpg", "biden/biden2.jpg"])
    different = max(sim["obama/obama.jpg", "biden/biden.jpg"], sim["obama/obama2.jpg", "biden/biden2.jpg"])
    assert same > different + 0.05


def _tiny_arcface_like(path: Path, dim: int = 16) -> None:
    """A 112x112x3 -> dim linear model: enough to exercise the ONNX embedder end to end."""
    rng = np.random.default_rng(42)
    weight = numpy_helper.from_array(rng.normal(size=(3 * 112 * 112, dim)).astype(np.float32), "W")
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["input"], ["flat"]),
            helper.make_node("MatMul", ["flat", "W"], ["emb"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 112, 112])],
        [helper.make_tensor_value_info("emb", TensorProto.FLOAT, [1, dim])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, path)


def test_onnx_embedder_with_self_built_model(tmp_path: Path, models_dir: Path) -> None:
    model_path = tmp_path / "tiny_arcface.onnx"
    _tiny_arcface_like(model_path)
    embedder = create_embedder(OnnxEmbedderConfig(model_path=model_path))
    crop = _crop("media/faces/people/obama/obama.jpg", models_dir)
    first, again = embedder.embed(crop), embedder.embed(crop)
    assert first.model == "tiny_arcface" and first.dim == 16 == embedder.dim
    assert np.linalg.norm(first.vector) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(first.vector, again.vector, rtol=1e-5)
    other = embedder.embed(_crop("media/faces/people/biden/biden.jpg", models_dir))
    assert not np.allclose(first.vector, other.vector)


def test_onnx_embedder_missing_model(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        create_embedder(OnnxEmbedderConfig(model_path=tmp_path / "none.onnx"))


def test_registry_and_zero_vector_rejected() -> None:
    assert set(embedder_configs()) == {"dlib_onnx", "dlib_resnet", "onnx"}
    with pytest.raises(ValueError, match="zero"):
        FaceEmbedding(np.zeros(8, np.float32), "m")


def test_process_embedder_matches_in_process(models_dir: Path) -> None:
    crop = _crop("media/faces/people/obama/obama.jpg", models_dir)
    local = create_embedder(DlibResnetConfig()).embed(crop)
    remote_embedder = create_embedder(DlibResnetConfig(), processes=1)
    try:
        remote = remote_embedder.embed(crop)
    finally:
        remote_embedder.close()
    assert remote.model == local.model and remote_embedder.dim == 128
    np.testing.assert_allclose(remote.vector, local.vector, atol=1e-6)


def test_process_embedder_reports_child_load_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        create_embedder(OnnxEmbedderConfig(model_path=tmp_path / "none.onnx"), processes=1)
