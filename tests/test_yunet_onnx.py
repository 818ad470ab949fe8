"""YuNet on ONNX Runtime (the default) finds the same faces as cv2.FaceDetectorYN."""

import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from tests.conftest import read_image, shared_file
from vigil.detect import create_detector
from vigil.detect.yunet import YUNET_FILENAME, YuNetConfig, YuNetDetector
from vigil.detect.yunet_onnx import YuNetOnnx
from vigil.errors import ModelError
from vigil.types import Image


def _frames(clip: str, count: int, step: int) -> list[Image]:
    with av.open(str(shared_file(f"media/video/{clip}"))) as container:
        decoded = (frame.to_ndarray(format="bgr24") for frame in container.decode(video=0))
        return [image for index, image in enumerate(decoded) if index % step == 0][:count]


@pytest.mark.parametrize("clip", ["hamilton_640x360.mp4", "crowd_1080p.mp4"])
def test_both_backends_find_the_same_faces_in_the_same_order(clip: str, models_dir: Path) -> None:
    onnx, opencv = (
        create_detector(YuNetConfig(backend=backend, score_threshold=0.3), [models_dir])
        for backend in ("onnxruntime", "opencv")
    )
    faces = 0
    for image in _frames(clip, 12, 9):  # 1080p frames go through the 640-wide downscale
        ours, theirs = onnx.detect(image), opencv.detect(image)
        assert len(ours) == len(theirs)
        np.testing.assert_allclose(ours.xyxy, theirs.xyxy, atol=0.05)
        np.testing.assert_allclose(ours.score, theirs.score, atol=1e-4)
        assert ours.landmarks is not None and theirs.landmarks is not None
        np.testing.assert_allclose(ours.landmarks, theirs.landmarks, atol=0.05)
        faces += len(ours)
    assert faces >= 24, "the clips have faces on every sampled frame"


def test_sizes_that_are_not_multiples_of_32_are_padded(models_dir: Path) -> None:
    group = read_image("media/faces/groups/obama_and_biden.jpg")
    cropped = group[: group.shape[0] - 7, : group.shape[1] - 13]
    found = YuNetOnnx(models_dir / YUNET_FILENAME, 0.5, 0.3, 5000).detect(cropped)
    assert found.shape[1] == 15 and len(found) >= 2
    assert np.all(np.diff(found[:, 14]) <= 0), "best first, as OpenCV returns them"
    assert np.all(found[:, 0] + found[:, 2] <= cropped.shape[1] + 20)


def test_the_default_backend_is_onnxruntime(models_dir: Path) -> None:
    detector = create_detector(YuNetConfig(), [models_dir])
    assert isinstance(detector, YuNetDetector) and YuNetConfig().backend == "onnxruntime"
    assert detector._onnx is not None  # the network really runs in ONNX Runtime
    assert len(detector.detect(np.zeros((0, 40, 3), np.uint8))) == 0
    assert len(detector.detect(np.zeros((200, 300, 3), np.uint8))) == 0


def test_a_model_that_is_not_yunet_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "not_yunet.onnx"
    broken.write_bytes(b"not an onnx file")
    with pytest.raises(ModelError, match="cannot load YuNet"):
        create_detector(YuNetConfig(model_path=broken), [tmp_path])


_LOAD_AND_REPORT = """
import sys
from pathlib import Path
from vigil.detect.yunet_onnx import YuNetOnnx
import numpy as np
found = YuNetOnnx(Path(sys.argv[1]), 0.5, 0.3, 5000).detect(np.zeros((90, 160, 3), np.uint8))
print(len(found), "onnx" in sys.modules)
"""


def _load_in_new_process(model: Path, cache: Path) -> str:
    env = dict(os.environ, XDG_CACHE_HOME=str(cache))
    done = subprocess.run(
        [sys.executable, "-c", _LOAD_AND_REPORT, str(model)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_the_rewritten_graph_is_cached_so_later_processes_skip_onnx(models_dir: Path, tmp_path: Path) -> None:
    model = models_dir / YUNET_FILENAME
    assert _load_in_new_process(model, tmp_path) == "0 True"  # the first one rewrites the graph
    cached = list((tmp_path / "vigil").glob("yunet-*-any-size.onnx"))
    assert len(cached) == 1
    assert _load_in_new_process(model, tmp_path) == "0 False"
    cached[0].write_bytes(b"damaged")  # a damaged cache is made again, not a broken detector
    assert _load_in_new_process(model, tmp_path) == "0 True"
    assert cached[0].stat().st_size > 100_000


def test_an_onnx_model_without_yunet_outputs_is_refused(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    value = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 640, 640])
    out = helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, 640, 640])
    graph = helper.make_graph([helper.make_node("Identity", ["input"], ["out"])], "g", [value], [out])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path / "identity.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ModelError, match="not a YuNet model"):
        YuNetOnnx(path, 0.5, 0.3, 5000)


def test_without_a_home_the_graph_is_rewritten_in_memory(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    found = YuNetOnnx(models_dir / YUNET_FILENAME, 0.5, 0.3, 5000).detect(np.zeros((90, 160, 3), np.uint8))
    assert found.shape == (0, 15)
