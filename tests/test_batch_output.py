"""The output models: the committed schema is theirs, they accept what the schema accepts and
refuse what it refuses, face fields stay on faces, and they serialise like Python's json."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from tests.test_batch_validate import SCHEMA_CASES, TOLERATED_VARIANTS, Doc, good_doc
from vigil.batch.output import (
    ABSENT,
    SCHEMA_PATH,
    BoxFields,
    FrameEntry,
    HeadPose,
    TrackedObject,
    TrackingDocument,
    tracking_schema_text,
)


def test_schema_file_is_generated_from_the_models() -> None:
    committed = SCHEMA_PATH.read_text(encoding="utf-8")
    assert committed == tracking_schema_text(), "run `python -m vigil.batch.output`"


def box(label: str = "face", source: str = "face_landmarker") -> BoxFields:
    return BoxFields(
        id="obj_1",
        bbox_xmin=10.0,
        bbox_ymin=20.0,
        bbox_xmax=60.0,
        bbox_ymax=80.0,
        bbox_width=50.0,
        bbox_height=60.0,
        centroid_x=35.0,
        centroid_y=50.0,
        source=source,
        label=label,
        confidence=0.9,
    )


def face(**overrides: Any) -> TrackedObject:
    fields: dict[str, Any] = {
        "is_speaking": False,
        "speaking_confidence": 0.1,
        "speaking_method": "visual_only",
        "speaking_sources": ["blendshapes"],
        "blendshapes": None,
        "head_pose": HeadPose(pitch=1.0, yaw=-2.0, roll=0.5),
    }
    merged: dict[str, Any] = {**box(), **fields, **overrides}
    return TrackedObject(**merged)


def person(**face_fields: Any) -> TrackedObject:
    return TrackedObject(**box("person", "object_detector"), **face_fields)


@pytest.mark.parametrize(
    "field, value",
    [
        ("is_speaking", False),
        ("speaking_confidence", 0.0),
        ("speaking_method", "audio_primary"),
        ("speaking_sources", []),
        ("blendshapes", None),  # null is not absent
        ("head_pose", None),
        ("landmarks", [[1.0, 2.0]]),
    ],
)
def test_face_fields_are_refused_on_persons(field: str, value: Any) -> None:
    with pytest.raises(ValidationError, match=f"{field}: face-only field"):
        person(**{field: value})


def test_a_person_has_no_face_fields_in_its_json_and_the_fallback_source() -> None:
    assert set(json.loads(person().model_dump_json())) == set(BoxFields.__annotations__)
    assert person(landmarks=ABSENT).model_dump_json() == person().model_dump_json()
    with pytest.raises(ValidationError, match="must have source 'object_detector'"):
        TrackedObject(**box("person", "face_landmarker"))


def test_a_face_needs_its_fields_may_have_nulls_and_landmarks_only_when_verbose() -> None:
    fields = json.loads(face().model_dump_json())
    assert fields["blendshapes"] is None and "landmarks" not in fields  # null written, absent omitted
    assert json.loads(face(head_pose=None).model_dump_json())["head_pose"] is None
    assert json.loads(face(landmarks=[[1.0, 2.0, 3.0]]).model_dump_json())["landmarks"] == [[1.0, 2.0, 3.0]]
    with pytest.raises(ValidationError, match="a face needs head_pose"):
        TrackedObject(**box(), is_speaking=False, speaking_confidence=0.1, speaking_method="x",
                      speaking_sources=[], blendshapes=None)  # fmt: skip
    with pytest.raises(ValidationError, match=r"a face.s source is .face_landmarker."):
        face(source="object_detector")


@pytest.mark.parametrize(
    "build",
    [
        lambda: face(confidence=math.nan),
        lambda: face(speaking_confidence=math.inf),
        lambda: HeadPose(pitch=math.nan, yaw=0.0, roll=0.0),
        lambda: face(blendshapes={"jawOpen": math.nan}),
        lambda: face(landmarks=[[1.0, math.nan]]),
    ],
)
def test_nan_and_infinity_are_refused_when_built(build: Callable[[], object]) -> None:
    # The writer relies on this: pydantic would serialise a NaN as null, not refuse it.
    with pytest.raises(ValidationError):
        build()


def test_the_good_document_and_its_tolerated_variants_are_accepted() -> None:
    for mutate in [lambda doc: None, *TOLERATED_VARIANTS]:
        doc = good_doc()
        mutate(doc)
        TrackingDocument.model_validate(doc)


@pytest.mark.parametrize("case", sorted(SCHEMA_CASES))
def test_the_models_refuse_every_document_the_schema_refuses(case: str) -> None:
    mutate, _ = SCHEMA_CASES[case]
    doc: Doc = good_doc()
    mutate(doc)
    with pytest.raises(ValidationError):
        TrackingDocument.model_validate(doc)


def test_metadata_keeps_extra_keys_in_order() -> None:
    doc = good_doc()
    doc["metadata"] |= {"width": 640, "engine_settings": {"a": 1}, "note": "x"}
    doc["metadata"]["detection_stats"]["per_class"] = {"person": 1}
    metadata = TrackingDocument.model_validate(doc).metadata.model_dump(mode="json")
    assert metadata == doc["metadata"] and list(metadata) == list(doc["metadata"])


def test_frames_serialise_as_pythons_compact_json_of_the_rounded_values() -> None:
    """The writer uses pydantic's serialiser; on the values the stitcher writes (rounded to at
    most 4 decimals) it gives the bytes `json.dumps` gave before the models."""
    rng = random.Random(13)
    values = [round(rng.uniform(-5000, 5000), rng.choice((2, 4))) for _ in range(20_000)]
    values += [0.0, -0.0, 0.0001, 1.0, 1e15, round(rng.random(), 4)]
    objects = [
        face(bbox_xmin=v, centroid_x=-v, head_pose=HeadPose(pitch=0.0, yaw=0.0, roll=0.0)) for v in values
    ]
    entry = FrameEntry(frame=1, tracked_objects=objects)
    plain = json.dumps(entry.model_dump(mode="json"), separators=(",", ":"), allow_nan=False)
    assert entry.model_dump_json() == plain
