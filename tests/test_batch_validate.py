"""Tracking output validation: each check passes on a good document and fails on a mutated one."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from vigil.batch.validate import (
    MAX_PROBLEMS,
    SCHEMA_VERSION,
    load_schema,
    validate_outputs,
    validate_tracking,
    validate_tracking_file,
)
from vigil.errors import InputError

Doc = dict[str, Any]


def face(object_id: str, x: float, y: float, w: float = 50, h: float = 60) -> dict[str, Any]:
    return {
        "id": object_id,
        "bbox_xmin": x,
        "bbox_ymin": y,
        "bbox_xmax": x + w,
        "bbox_ymax": y + h,
        "bbox_width": w,
        "bbox_height": h,
        "centroid_x": x + w / 2,
        "centroid_y": y + h / 2,
        "source": "face_landmarker",
        "label": "face",
        "confidence": 0.92,
        "is_speaking": False,
        "speaking_confidence": 0.12,
        "speaking_method": "audio_primary",
        "speaking_sources": ["audio", "blendshapes"],
        "blendshapes": {"jawOpen": 0.1, "mouthSmileLeft": 0.0, "_neutral": 0.0},
        "head_pose": {"pitch": 1.0, "yaw": -3.0, "roll": 0.5, "translation": [12.5, -30.0, 640.2]},
    }


def person(object_id: str) -> dict[str, Any]:
    return {
        "id": object_id,
        "bbox_xmin": 100,
        "bbox_ymin": 20,
        "bbox_xmax": 300,
        "bbox_ymax": 400,
        "bbox_width": 200,
        "bbox_height": 380,
        "centroid_x": 200.0,
        "centroid_y": 210.0,
        "source": "object_detector",
        "label": "person",
        "confidence": 0.78,
    }


def good_doc() -> Doc:
    """3 frames: two faces, one face, one fallback person -> rate 2/3, 1 face per frame."""
    return {
        "metadata": {
            "video_path": "/videos/clip.mp4",
            "total_frames": 3,
            "fps": 29.97,
            "tracking_engine": "opencv_yunet",
            "processing_time_sec": 0.4,
            "schema_version": SCHEMA_VERSION,
            "version": "4.1",
            "engine": "opencv_yunet",
            "detection_stats": {
                "face_detection_rate": 0.667,
                "avg_faces_per_frame": 1.0,
                "object_detection_fallback_used": True,
            },
            "performance_metrics": {
                "avg_frame_processing_ms": 6.1,
                "max_memory_usage_mb": 310.5,
                "cpu_utilization_percent": 85.5,
            },
        },
        "frames": [
            {
                "frame": 1,
                "timestamp_ms": 0.0,
                "tracked_objects": [face("obj_1", 10, 20), face("obj_2", 200, 40)],
            },
            {"frame": 2, "timestamp_ms": 33.37, "tracked_objects": [face("obj_1", 12, 21)]},
            {"frame": 3, "timestamp_ms": 66.73, "tracked_objects": [person("obj_3")]},
        ],
    }


def obj(doc: Doc, frame: int, position: int = 0) -> dict[str, Any]:
    found: dict[str, Any] = doc["frames"][frame]["tracked_objects"][position]
    return found


def test_schema_is_valid_draft_2020_12_and_versioned() -> None:
    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)
    version = schema["$defs"]["TrackingMetadata"]["properties"]["schema_version"]
    assert version == {"const": SCHEMA_VERSION, "type": "string"}


def test_load_schema_returns_a_fresh_copy() -> None:
    load_schema()["required"].append("mutated")
    assert "mutated" not in load_schema()["required"]


def test_good_document_is_valid() -> None:
    assert validate_tracking(good_doc()) == []


def test_empty_video_is_valid() -> None:
    doc = good_doc()
    doc["frames"] = []
    doc["metadata"]["total_frames"] = 0
    doc["metadata"]["detection_stats"].update(face_detection_rate=0, avg_faces_per_frame=0)
    assert validate_tracking(doc) == []


def set_path(*keys: str | int, value: Any) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        target: Any = doc
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return mutate


def delete_path(*keys: str | int) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        target: Any = doc
        for key in keys[:-1]:
            target = target[key]
        del target[keys[-1]]

    return mutate


F1 = ("frames", 0, "tracked_objects", 0)  # first face of frame 1
P3 = ("frames", 2, "tracked_objects", 0)  # the person of frame 3

# (mutation, expected text in one problem); each is a single defect of a good document.
SCHEMA_CASES: dict[str, tuple[Callable[[Doc], None], str]] = {
    "not an object": (lambda doc: doc.update(frames="x"), "$.frames: 'x' is not of type 'array'"),
    "extra top key": (set_path("extra", value=1), "'extra' was unexpected"),
    "no metadata": (delete_path("metadata"), "$: 'metadata' is a required property"),
    "no fps": (delete_path("metadata", "fps"), "$.metadata: 'fps' is a required property"),
    "zero fps": (set_path("metadata", "fps", value=0), "$.metadata.fps: 0 is less than or equal"),
    "no video_path": (delete_path("metadata", "video_path"), "'video_path' is a required property"),
    "no engine": (delete_path("metadata", "tracking_engine"), "'tracking_engine' is a required property"),
    "no time": (delete_path("metadata", "processing_time_sec"), "'processing_time_sec' is a required"),
    "wrong version": (set_path("metadata", "schema_version", value="0.9"), "$.metadata.schema_version"),
    "float total": (set_path("metadata", "total_frames", value=3.5), "3.5 is not of type 'integer'"),
    "no stats field": (
        delete_path("metadata", "detection_stats", "object_detection_fallback_used"),
        "$.metadata.detection_stats: 'object_detection_fallback_used' is a required property",
    ),
    "rate above 1": (
        set_path("metadata", "detection_stats", "face_detection_rate", value=1.5),
        "$.metadata.detection_stats.face_detection_rate: 1.5 is greater than the maximum of 1",
    ),
    "no perf field": (
        delete_path("metadata", "performance_metrics", "max_memory_usage_mb"),
        "$.metadata.performance_metrics: 'max_memory_usage_mb' is a required property",
    ),
    "frame zero": (set_path("frames", 0, "frame", value=0), "$.frames[0].frame: 0 is less than the minimum"),
    "no tracked_objects": (
        delete_path("frames", 1, "tracked_objects"),
        "$.frames[1]: 'tracked_objects' is a required property",
    ),
    "extra frame key": (set_path("frames", 1, "faces", value=[]), "'faces' was unexpected"),
    "bad id": (
        set_path(*F1, "id", value="face_1"),
        "$.frames[0].tracked_objects[0].id: 'face_1' does not match",
    ),
    "integer id": (set_path(*F1, "id", value=1), "1 is not of type 'string'"),
    "no width": (delete_path(*F1, "bbox_width"), "'bbox_width' is a required property"),
    "no centroid": (delete_path(*F1, "centroid_y"), "'centroid_y' is a required property"),
    "no source": (delete_path(*F1, "source"), "'source' is a required property"),
    "seed key name": (set_path(*F1, "source_detector", value="x"), "'source_detector' was unexpected"),
    "confidence > 1": (set_path(*F1, "confidence", value=1.2), "confidence: 1.2 is greater than the maximum"),
    "face without is_speaking": (delete_path(*F1, "is_speaking"), "'is_speaking' is a required property"),
    "face without sources": (delete_path(*F1, "speaking_sources"), "'speaking_sources' is a required"),
    "face without blendshapes": (delete_path(*F1, "blendshapes"), "'blendshapes' is a required property"),
    "face without head_pose": (delete_path(*F1, "head_pose"), "'head_pose' is a required property"),
    "head_pose without yaw": (delete_path(*F1, "head_pose", "yaw"), "head_pose: 'yaw' is a required"),
    "speaking not bool": (set_path(*F1, "is_speaking", value=1), "is_speaking: 1 is not of type 'boolean'"),
    "blendshape > 1": (
        set_path(*F1, "blendshapes", "jawOpen", value=1.2),
        "$.frames[0].tracked_objects[0].blendshapes.jawOpen: 1.2 is greater than the maximum of 1",
    ),
    "blendshape key": (set_path(*F1, "blendshapes", "jaw open", value=0.1), "'jaw open' does not match"),
    "landmark shape": (
        set_path(*F1, "landmarks", value=[[1.0]]),
        "landmarks[0]: [1.0] is not a point [x, y] or [x, y, z]",
    ),
    "face with object source": (
        set_path(*F1, "source", value="object_detector"),
        "$.frames[0].tracked_objects[0].source: 'face_landmarker' was expected",
    ),
    "person speaking": (
        set_path(*P3, "is_speaking", value=False),
        "$.frames[2].tracked_objects[0].is_speaking: face-only field: not allowed when label is not 'face'",
    ),
    "person null blendshapes": (
        set_path(*P3, "blendshapes", value=None),
        "tracked_objects[0].blendshapes: face-only field",
    ),
    "person landmarks": (set_path(*P3, "landmarks", value=[[1, 2]]), "landmarks: face-only field"),
    "person face source": (
        set_path(*P3, "source", value="face_landmarker"),
        "$.frames[2].tracked_objects[0].source: 'object_detector' was expected",
    ),
}

SEMANTIC_CASES: dict[str, tuple[Callable[[Doc], None], str]] = {
    "not dense": (
        lambda doc: doc["frames"].append({"frame": 4, "tracked_objects": []}),
        "$.frames: 4 entries but metadata.total_frames is 3",
    ),
    "out of order": (
        lambda doc: doc["frames"].reverse(),
        "$.frames[0].frame: is 3, expected 1 (frames must be numbered 1..N in order; 2 entries out of place)",
    ),
    "width": (
        set_path(*F1, "bbox_width", value=48),
        "$.frames[0].tracked_objects[0].bbox_width: is 48, bbox_xmax - bbox_xmin = 50",
    ),
    "height": (set_path(*F1, "bbox_height", value=70), "bbox_height: is 70, bbox_ymax - bbox_ymin = 60"),
    "inverted box": (
        lambda doc: obj(doc, 0).update(bbox_xmin=60, bbox_xmax=10, bbox_width=0, centroid_x=35),
        "$.frames[0].tracked_objects[0]: bbox_xmin 60 > bbox_xmax 10",
    ),
    "centroid outside": (
        set_path(*F1, "centroid_y", value=95),
        "$.frames[0].tracked_objects[0].centroid_y: 95 lies outside the box [20, 80]",
    ),
    "duplicate id": (
        set_path("frames", 0, "tracked_objects", 1, "id", value="obj_1"),
        "$.frames[0].tracked_objects[1].id: obj_1 appears twice in this frame",
    ),
    "label changes": (
        lambda doc: doc["frames"][2]["tracked_objects"][0].update(id="obj_2"),
        "$.frames[2].tracked_objects[0].label: obj_2 is 'person' here but was 'face' in $.frames[0]",
    ),
    "person beside a face": (
        lambda doc: doc["frames"][1]["tracked_objects"].append(person("obj_3")),
        "$.frames[1].tracked_objects[1]: fallback object 'person' in a frame that has a face",
    ),
    "rate": (
        set_path("metadata", "detection_stats", "face_detection_rate", value=0.9),
        "$.metadata.detection_stats.face_detection_rate: is 0.9, the frames give 0.6667",
    ),
    "average": (
        set_path("metadata", "detection_stats", "avg_faces_per_frame", value=1.5),
        "$.metadata.detection_stats.avg_faces_per_frame: is 1.5, the frames give 1.0000",
    ),
    "fallback flag": (
        set_path("metadata", "detection_stats", "object_detection_fallback_used", value=False),
        "object_detection_fallback_used: is false but the frames contain non-face (fallback) objects",
    ),
}


def both(*mutations: Callable[[Doc], None]) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        for mutation in mutations:
            mutation(doc)

    return mutate


# The seed's own rules (STEP5 README), on top of the schema and the consistency checks.
SEED_CASES: dict[str, tuple[Callable[[Doc], None], str]] = {
    "Vigil's former face source": (
        set_path(*F1, "source", value="face_detector"),
        "$.frames[0].tracked_objects[0].source: 'face_landmarker' was expected",
    ),
    "unknown engine": (
        set_path("metadata", "tracking_engine", value="magic_faces"),
        "$.metadata.tracking_engine: 'magic_faces' is not an engine name of the seed",
    ),
    "not an ARKit key": (  # the seed's own v4.1 example writes this key
        set_path(*F1, "blendshapes", value={"mouthSmile": 0.6}),
        "$.frames[0].tracked_objects[0].blendshapes: mouthSmile not ARKit blendshape names",
    ),
    "mouth profile with eye keys": (
        both(
            set_path("metadata", "blendshapes_profile", value="mouth"),
            set_path(*F1, "blendshapes", "eyeBlinkLeft", value=0.9),
        ),
        "blendshapes: _neutral, eyeBlinkLeft not exported by blendshapes_profile 'mouth'",
    ),
    "none profile with values": (
        set_path("metadata", "blendshapes_profile", value="none"),
        "$.frames[0].tracked_objects[0].blendshapes: must be null with blendshapes_profile 'none'",
    ),
    "mediapipe profile with tongueOut": (
        both(
            set_path("metadata", "blendshapes_profile", value="mediapipe"),
            set_path("frames", 1, "tracked_objects", 0, "blendshapes", "tongueOut", value=0.2),
        ),
        "$.frames[1].tracked_objects[0].blendshapes: blendshapes_profile 'mediapipe' drops tongueOut",
    ),
    "time goes back": (
        set_path("frames", 2, "timestamp_ms", value=10.0),
        "$.frames[2].timestamp_ms: 10.0 does not follow 33.37",
    ),
    "translation not 3-D": (
        set_path(*F1, "head_pose", "translation", value=[1.0, 2.0]),
        "$.frames[0].tracked_objects[0].head_pose.translation: [1.0, 2.0] is too short",
    ),
    "CPU above 100%": (
        set_path("metadata", "performance_metrics", "cpu_utilization_percent", value=180.0),
        "cpu_utilization_percent: 180.0 is greater than the maximum of 100",
    ),
}


@pytest.mark.parametrize("case", sorted(SCHEMA_CASES | SEMANTIC_CASES | SEED_CASES))
def test_each_defect_is_reported(case: str) -> None:
    mutate, expected = (SCHEMA_CASES | SEMANTIC_CASES | SEED_CASES)[case]
    doc = good_doc()
    mutate(doc)
    problems = validate_tracking(doc)
    assert any(expected in problem for problem in problems), problems


TOLERATED_VARIANTS: list[Callable[[Doc], None]] = [
    set_path(*F1, "blendshapes", value=None),  # seed: profile "none" exports blendshapes: null
    set_path(*F1, "blendshapes", value={}),  # custom profile with no matching key
    set_path(*F1, "head_pose", value=None),  # no landmarks for this face
    set_path(*F1, "landmarks", value=[[1.0, 2.0], [3.0, 4.0]]),
    set_path(*F1, "landmarks", value=[[1.0, 2.0, 0.0]]),
    set_path(*F1, "speaking_sources", value=[]),
    set_path(*F1, "bbox_width", value=50.6),  # rounding within 1 px
    set_path(*F1, "centroid_x", value=10),  # on the box edge is inside
    set_path("metadata", "detection_stats", "face_detection_rate", value=0.67),  # rounded
    set_path("metadata", "detection_stats", "object_detection_fallback_used", value=True),
    set_path("metadata", "blendshapes_profile", value="custom"),  # its keys are not in the file
    delete_path("metadata", "version"),  # the seed's newer fields are optional (older writers)
    delete_path("metadata", "performance_metrics", "cpu_utilization_percent"),
    delete_path("frames", 1, "timestamp_ms"),
    delete_path(*F1, "head_pose", "translation"),
    set_path("metadata", "tracking_engine", value="dlib_hog"),  # a Vigil engine the seed lacks
    set_path("metadata", "engine_settings", value={"scale": 1}),  # extra metadata is allowed
    set_path("metadata", "detection_stats", "per_class", value={"person": 1}),
    set_path(*P3, "label", value="dog"),  # any fallback class name
]


@pytest.mark.parametrize("mutate", TOLERATED_VARIANTS)
def test_tolerated_variants_stay_valid(mutate: Callable[[Doc], None]) -> None:
    doc = good_doc()
    mutate(doc)
    assert validate_tracking(doc) == []


def test_fallback_flag_may_be_set_without_fallback_objects() -> None:
    doc = good_doc()
    doc["frames"][2]["tracked_objects"] = []
    doc["metadata"]["detection_stats"]["object_detection_fallback_used"] = True
    assert validate_tracking(doc) == []
    doc["metadata"]["detection_stats"]["object_detection_fallback_used"] = False
    assert validate_tracking(doc) == []


def test_non_object_document() -> None:
    assert validate_tracking([1, 2]) == ["$: [1, 2] is not of type 'object'"]


def test_problem_list_is_capped() -> None:
    doc = good_doc()
    doc["frames"][0]["tracked_objects"] = [
        {**face(f"obj_{n}", 10 * n, 20), "bbox_width": 999} for n in range(1, 121)
    ]
    doc["frames"][2]["tracked_objects"] = []
    doc["metadata"]["detection_stats"].update(
        face_detection_rate=2 / 3, avg_faces_per_frame=121 / 3, object_detection_fallback_used=False
    )
    problems = validate_tracking(doc)
    assert len(problems) == MAX_PROBLEMS + 1
    assert problems[-1] == f"... and {120 - MAX_PROBLEMS} more problem(s) not listed"
    assert len(validate_tracking(doc, max_problems=5)) == 6


def test_long_messages_are_shortened() -> None:
    doc = good_doc()
    doc["frames"][0] = [list(range(500))]
    problems = validate_tracking(doc)
    assert problems and all(len(problem) < 260 for problem in problems)


def write(path: Path, doc: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def test_file_problems_are_returned_not_raised(tmp_path: Path) -> None:
    assert validate_tracking_file(write(tmp_path / "ok_tracking.json", good_doc())) == []
    assert validate_tracking_file(tmp_path / "absent_tracking.json")[0].startswith("cannot read file:")
    (tmp_path / "cut_tracking.json").write_text(json.dumps(good_doc())[:-10])
    assert validate_tracking_file(tmp_path / "cut_tracking.json")[0].startswith("not valid JSON:")
    (tmp_path / "latin_tracking.json").write_bytes(b'{"metadata": "\xe9"}')
    assert validate_tracking_file(tmp_path / "latin_tracking.json")[0].startswith("cannot read file:")
    doc = good_doc()
    doc["metadata"]["fps"] = float("nan")
    nan_file = tmp_path / "nan_tracking.json"
    nan_file.write_text(json.dumps(doc))  # json.dumps writes NaN by default
    assert validate_tracking_file(nan_file) == [
        "not valid JSON: NaN is not a JSON number (write with allow_nan=False)"
    ]
    broken = good_doc()
    broken["frames"].pop()
    assert validate_tracking_file(write(tmp_path / "short_tracking.json", broken))


def test_validate_outputs_over_videos_folders_and_files(tmp_path: Path) -> None:
    docs = tmp_path / "projets/p1/docs"
    (docs / "done.mp4").parent.mkdir(parents=True)
    (docs / "done.mp4").write_bytes(b"")
    (docs / "todo.mov").write_bytes(b"")
    write(docs / "done_tracking.json", good_doc())
    broken = good_doc()
    broken["metadata"]["total_frames"] = 7
    write(docs / "orphan_tracking.json", broken)  # no video beside it: still checked
    (docs / ".done_tracking.json.tmp").write_text("{")  # an unfinished atomic write: ignored

    reports = {report.path.name: report for report in validate_outputs([tmp_path / "projets"])}
    assert sorted(reports) == ["done_tracking.json", "orphan_tracking.json", "todo_tracking.json"]
    assert reports["done_tracking.json"].ok
    assert (reports["done_tracking.json"].frames, reports["done_tracking.json"].objects) == (3, 4)
    assert reports["todo_tracking.json"].problems == [f"missing output for video {docs / 'todo.mov'}"]
    assert any("total_frames is 7" in problem for problem in reports["orphan_tracking.json"].problems)

    only = validate_outputs([docs / "orphan_tracking.json", docs / "done.mp4"])
    assert [(report.path.name, report.ok) for report in only] == [
        ("done_tracking.json", True),
        ("orphan_tracking.json", False),
    ]
    out_dir = tmp_path / "out"
    write(out_dir / "todo_tracking.json", good_doc())
    assert validate_outputs([docs / "todo.mov"], out_dir=out_dir)[0].ok
    with pytest.raises(InputError):
        validate_outputs([tmp_path / "nowhere"])


LANDMARK_VALUES: list[Any] = [
    [[1, 2]],
    [[1.5, 2.5, 0.0], [3, 4, 5]],
    [[1.0]],
    [[1, 2, 3, 4]],
    [["1", 2]],
    [[True, 2]],
    [[1, 2], [3]],
    [1, 2],
    [],
    "points",
    [[1, None]],
]


@pytest.mark.parametrize("landmarks", LANDMARK_VALUES)
def test_fast_validator_accepts_exactly_what_the_schema_file_accepts(landmarks: Any) -> None:
    doc = good_doc()
    obj(doc, 0)["landmarks"] = landmarks
    plain = Draft202012Validator(load_schema())
    assert plain.is_valid(doc) == (validate_tracking(doc) == [])


def test_a_nullable_field_reports_why_its_value_is_refused() -> None:
    doc = good_doc()
    obj(doc, 0)["head_pose"] = {"pitch": 1.0, "yaw": 500, "roll": 0.0, "tilt": 2.0}
    obj(doc, 1)["head_pose"] = "up"
    where = "$.frames[{}].tracked_objects[0].head_pose"
    assert validate_tracking(doc) == [
        f"{where.format(0)}: Additional properties are not allowed ('tilt' was unexpected)",
        f"{where.format(0)}.yaw: 500 is greater than the maximum of 180",
        f"{where.format(1)}: 'up' is not valid under any of the given schemas",  # no branch of its type
    ]


def test_bad_landmark_point_is_located() -> None:
    doc = good_doc()
    obj(doc, 1)["landmarks"] = [[1, 2], [3, 4], [5], [6]]
    assert validate_tracking(doc) == [
        "$.frames[1].tracked_objects[0].landmarks[2]: [5] is not a point [x, y] or [x, y, z] of numbers "
        "(2 bad point(s) in this list)"
    ]


def test_deeply_nested_json_is_a_problem(tmp_path: Path) -> None:
    deep = tmp_path / "deep_tracking.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    assert validate_tracking_file(deep) == ["not valid JSON for this format: nested too deeply"]


def test_relative_out_dir(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"")
    write(tmp_path / "out/clip_tracking.json", good_doc())
    reports = validate_outputs([video], out_dir=Path("out"))  # the tests run in tmp_path
    assert [(report.path, report.ok) for report in reports] == [(tmp_path / "out/clip_tracking.json", True)]
