"""The object fallback (seed 000's STEP5_ENABLE_OBJECT_DETECTION): a real COCO detector (MediaPipe
ObjectDetector, the shared coco_ssd_mobilenet model) whose score and shape check refuses the title
text of no_face.mp4, and the person detectors behind it when no model is installed."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.batch_util import batch_settings, clip, load_output
from tests.conftest import shared_file
from vigil.batch.objects import (
    COCO_SSD_FILENAME,
    MediaPipeObjectDetector,
    ObjectFilter,
    create_fallback_detector,
    object_model_path,
)
from vigil.batch.person import HogPersonDetector
from vigil.batch.runner import run_batch
from vigil.batch.settings import load_batch_settings
from vigil.errors import ConfigError, ModelError
from vigil.models import MODELS, is_installed


def test_no_face_title_text_is_no_object(tmp_path: Path) -> None:
    """The person fallback reported a person (0.88) on this title; the COCO detector sees a 'kite'
    (0.55-0.71) in a box 3-4x wider than tall, which the shape check refuses."""
    settings = batch_settings(enable_object_detection=True, engine="yunet")
    report = run_batch([clip("no_face.mp4")], settings, out_dir=tmp_path)
    assert report.done == [clip("no_face.mp4")]
    data = load_output(tmp_path / "no_face_tracking.json")
    assert [o for f in data["frames"] for o in f["tracked_objects"]] == []
    assert data["metadata"]["detection_stats"]["object_detection_fallback_used"] is False


def test_a_person_without_a_visible_face_is_found(tmp_path: Path) -> None:
    video = shared_file("media/activity/busy/askanything_yoga.mp4")  # 300 frames, yoga, face rarely seen
    settings = batch_settings(enable_object_detection=True, engine="yunet", cpu_workers=2)
    run_batch([video], settings, out_dir=tmp_path)
    frames = load_output(tmp_path / "askanything_yoga_tracking.json")["frames"]
    objects = [o for f in frames for o in f["tracked_objects"] if o["label"] != "face"]
    labels = Counter(o["label"] for o in objects)
    assert labels["person"] >= 200, labels
    person = next(o for o in objects if o["label"] == "person")
    assert (
        person["source"] == "object_detector" and "blendshapes" not in person and "is_speaking" not in person
    )
    ids = Counter(o["id"] for o in objects if o["label"] == "person")
    assert ids.most_common(1)[0][1] >= 150  # one person, mostly one id


def test_filter_refuses_text_and_tiny_boxes() -> None:
    check = ObjectFilter(min_score=0.5)
    # Boxes measured on the 960x540 clips: no_face's title ('kite'), a cloud ('person' 0.38),
    # the person of face_then_noface (0.74).
    assert not check.keep((274, 314, 621, 421), 0.55, 960, 540)
    assert not check.keep((263, 233, 683, 340), 0.71, 960, 540)
    assert not check.keep((552, 105, 694, 233), 0.38, 960, 540)
    assert not check.keep((100, 100, 115, 120), 0.9, 960, 540)  # 15 px: tiny
    assert check.keep((35, 53, 785, 532), 0.74, 960, 540)


def test_detector_finds_the_person_on_a_real_frame() -> None:
    import av
    import numpy as np

    with av.open(str(clip("face_then_noface_hevc.mov"))) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="bgr24")
    detector = MediaPipeObjectDetector(shared_file(f"models/{COCO_SSD_FILENAME}"), ObjectFilter())
    try:
        boxes, scores, labels = detector.detect(np.ascontiguousarray(frame))
    finally:
        detector.close()
    assert "person" in labels
    box = boxes[labels.index("person")]
    assert scores[labels.index("person")] >= 0.6 and box[2] - box[0] > 500  # the man, frame-wide


def test_model_resolution_follows_the_seed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    shared_models = shared_file(f"models/{COCO_SSD_FILENAME}").parent
    assert object_model_path(batch_settings()) == shared_models / COCO_SSD_FILENAME
    custom = tmp_path / "custom.tflite"
    custom.write_bytes(b"x")
    monkeypatch.setenv("STEP5_OBJECT_DETECTOR_MODEL_PATH", str(custom))
    assert object_model_path(load_batch_settings()) == custom
    monkeypatch.delenv("STEP5_OBJECT_DETECTOR_MODEL_PATH")
    monkeypatch.setenv("STEP5_OBJECT_DETECTOR_MODEL", "yolo11n_onnx")
    with pytest.raises(ConfigError, match="yolo11n_onnx"):
        object_model_path(load_batch_settings())
    with pytest.raises(ModelError, match="not found"):
        object_model_path(batch_settings(object_detector_model_path=tmp_path / "missing.tflite"))
    # A named model that is not installed: the person detector stays the fallback.
    empty = tmp_path / "models"
    empty.mkdir()
    settings = batch_settings(
        models_dir=empty, object_detector_model="efficientdet_lite0", person_detector="hog"
    )
    settings.set_search_dirs([empty])
    assert isinstance(create_fallback_detector(settings), HogPersonDetector)


def test_fetchable_with_its_checksum() -> None:
    model = MODELS["coco_ssd_mobilenet"]
    assert model.url.startswith("https://storage.googleapis.com/mediapipe-assets/")
    assert is_installed(model, shared_file(f"models/{COCO_SSD_FILENAME}").parent)
    assert MODELS["efficientdet_lite0"].url.endswith("/efficientdet_lite0/int8/1/efficientdet_lite0.tflite")
