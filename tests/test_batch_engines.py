"""Every engine finds the face of single_face.mp4 with its landmark layout; a chunk's observations
do not depend on where the chunk starts; unavailable engines say which files they need."""

from __future__ import annotations

import pytest

from tests.batch_util import batch_settings, clip
from vigil.batch.engines import UNSHIPPABLE, check_engine
from vigil.batch.process import ChunkTask, detection_start, process_chunk
from vigil.batch.video import probe_video
from vigil.detect import create_detector
from vigil.detect.mediapipe_facemesh import FaceMeshConfig
from vigil.detect.registry import detector_configs
from vigil.errors import ModelError

POINTS = {
    "mediapipe_landmarker": 478,
    "yunet": 468,
    "blazeface": 468,
    "haar": 468,
    "mediapipe_facemesh": 478,
    "dlib_hog": 68,
}


@pytest.mark.parametrize("engine", sorted(POINTS))
def test_engine_finds_the_face_with_landmarks(engine: str) -> None:
    info = probe_video(clip("single_face.mp4"))
    settings = batch_settings(engine=engine, detect_every_n=3)
    result = process_chunk(ChunkTask(info.path, 0, 31, 36, settings), info)
    assert [f.frame for f in result.frames] == list(range(31, 37))
    assert result.layout == ("dlib68" if engine == "dlib_hog" else "facemesh478")
    faces = [face for frame in result.frames for face in frame.faces]
    assert len(faces) == 6, "one face per frame"
    for face in faces:
        x0, y0, x1, y1 = face.box
        assert 0 <= x0 < x1 <= info.width and 0 <= y0 < y1 <= info.height
        assert face.landmarks is not None and face.landmarks.shape[0] == POINTS[engine]
        inside = (face.landmarks[:, 0] > x0 - 20) & (face.landmarks[:, 0] < x1 + 20)
        assert inside.mean() > 0.9, "landmarks are on the face"
        assert face.head_pose is not None and abs(face.head_pose[1]) < 45
        assert face.translation is not None and 200 < face.translation[2] < 5000, "mm in front of the camera"
        # Only the Face Landmarker makes learned blendshapes (52 scores); the others are estimated later.
        assert (face.blendshapes is not None) == (engine == "mediapipe_landmarker")


def test_observations_do_not_depend_on_the_chunk_start() -> None:
    info = probe_video(clip("hamilton_640x360.mp4"))
    settings = batch_settings(detect_every_n=3)
    whole = process_chunk(ChunkTask(info.path, 0, 100, 130, settings), info).frames
    part = process_chunk(ChunkTask(info.path, 1, 117, 130, settings), info).frames
    assert detection_start(117, 3) == 115
    assert [f.frame for f in part] == list(range(117, 131))
    for a, b in zip(whole[17:], part, strict=True):
        assert [face.box for face in a.faces] == [face.box for face in b.faces]


def test_facemesh_is_in_the_live_registry() -> None:
    assert "mediapipe_facemesh" in detector_configs()
    detector = create_detector(FaceMeshConfig(), [])
    import av

    with av.open(str(clip("single_face.mp4"))) as container:
        image = next(iter(container.decode(video=0))).to_ndarray(format="bgr24")
    found = detector.detect(image)
    assert len(found) == 1 and found.landmarks is not None and found.landmarks.shape == (1, 5, 2)
    right_eye, left_eye = found.landmarks[0, 0], found.landmarks[0, 1]
    assert right_eye[0] < left_eye[0], "detector convention: subject's right eye on the image's left"


@pytest.mark.parametrize("engine", sorted(UNSHIPPABLE))
def test_unshippable_engines_name_their_model_files(engine: str) -> None:
    with pytest.raises(ModelError) as caught:
        check_engine(batch_settings(engine=engine))
    message = str(caught.value)
    assert engine in message and "yunet" in message
    assert any(ext in message for ext in (".onnx", ".bin"))


def test_seed_engine_names_are_accepted() -> None:
    assert batch_settings(engine="opencv_yunet").engine == "yunet"
    assert batch_settings(engine="opencv_haar").engine == "haar"
    assert batch_settings(engine="mediapipe_landmarker").engine == "mediapipe_landmarker"
    assert batch_settings(engine="mediapipe").engine == "mediapipe_landmarker"
