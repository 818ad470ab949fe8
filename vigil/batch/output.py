"""The `<stem>_tracking.json` format as pydantic models: the one source of truth.

The stitcher builds these models, the writer serialises them, and `tracking.schema.json` (the
JSON Schema `vigil track validate` checks files against) is generated from them:
`python -m vigil.batch.output` rewrites it, and a test fails when the committed file is stale.

Face fields exist only on objects labelled 'face'; on the fallback objects (e.g. 'person') they
are absent, not null. In Python an absent field holds pydantic's `MISSING` sentinel (`ABSENT`
here), which serialisation omits and the JSON Schema does not list as a value. The rule itself is
a model validator in Python and an if/then/else added to the generated schema.

Objects validate when built (strict types, no NaN/Infinity, ranges): ~10 µs per face, against
~7 µs for an unchecked `model_construct` (docs/benchmarks.md), and a bad value fails its video
instead of reaching a file. pydantic serialises a NaN as null rather than refusing it, so this
validation is what keeps the files valid JSON.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal, TypedDict

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue

if TYPE_CHECKING:
    # mypy does not understand PEP 661 sentinels (pydantic's MISSING) yet: it sees a one-member enum.
    import enum

    class _AbsentType(enum.Enum):
        ABSENT = "absent"

    Absent = Literal[_AbsentType.ABSENT]
    ABSENT: Final = _AbsentType.ABSENT
else:
    from pydantic import MISSING as ABSENT

    Absent = ABSENT

__all__ = [
    "ABSENT",
    "FACE_LABEL",
    "FACE_SOURCE",
    "FALLBACK_SOURCE",
    "SCHEMA_PATH",
    "SCHEMA_VERSION",
    "SEED_FORMAT_VERSION",
    "Absent",
    "BoxFields",
    "DetectionStats",
    "FrameEntry",
    "HeadPose",
    "PerformanceMetrics",
    "TrackedObject",
    "TrackingDocument",
    "TrackingMetadata",
    "cpu_percent",
    "tracking_schema",
    "tracking_schema_text",
]

SCHEMA_VERSION: Final = "1.0"
# The STEP5 output format (seed 000, "Format JSON de Sortie (v4.1+)") these files follow.
SEED_FORMAT_VERSION: Final = "4.1"
# Every face's `source` (the seed's spelling, whatever the engine: its faces come from
# MediaPipe's Face Landmarker); fallback objects use FALLBACK_SOURCE.
FACE_SOURCE: Final = "face_landmarker"
SCHEMA_PATH: Final = Path(__file__).with_name("schema") / "tracking.schema.json"
FACE_LABEL: Final = "face"
FALLBACK_SOURCE: Final = "object_detector"  # the person fallback's source; never a face's
VERBOSE_FACE_FIELDS: Final = frozenset({"landmarks"})  # face-only, but optional on faces too
FACE_ONLY_MESSAGE: Final = "face-only field: not allowed when label is not 'face'"


class _Model(BaseModel):
    model_config = ConfigDict(strict=True, allow_inf_nan=False, frozen=True, extra="forbid")


Probability = Annotated[float, Field(ge=0, le=1)]
Text = Annotated[str, Field(min_length=1)]
Degrees = Annotated[float, Field(ge=-180, le=180)]
Point = Annotated[list[float], Field(min_length=2, max_length=3)]
BlendshapeKey = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


def _unique(items: list[str]) -> list[str]:
    if len(set(items)) != len(items):
        raise ValueError("items must be unique")
    return items


SpeakingSources = Annotated[
    list[Text], AfterValidator(_unique), Field(json_schema_extra={"uniqueItems": True})
]


# --- metadata ---------------------------------------------------------------------------------


class DetectionStats(_Model):
    model_config = ConfigDict(extra="allow")  # as every metadata object

    face_detection_rate: Probability = Field(description="Frames with at least one face / total_frames.")
    avg_faces_per_frame: float = Field(ge=0, description="Face objects / total_frames.")
    object_detection_fallback_used: bool


class PerformanceMetrics(_Model):
    model_config = ConfigDict(extra="allow")

    avg_frame_processing_ms: float = Field(ge=0)
    max_memory_usage_mb: float = Field(ge=0)
    cpu_utilization_percent: float | Absent = Field(
        default=ABSENT,
        ge=0,
        le=100,
        description="CPU time of the processes that analysed the video / (processing wall time x CPU "
        "count), in percent.",
    )


class TrackingMetadata(_Model):
    """Extra keys are allowed (e.g. engine settings); the listed ones without a default are required."""

    model_config = ConfigDict(extra="allow")

    video_path: Text
    total_frames: int = Field(ge=0)
    fps: float = Field(gt=0)
    tracking_engine: Text
    processing_time_sec: float = Field(ge=0)
    schema_version: Literal["1.0"]
    version: Text | Absent = Field(default=ABSENT, description="STEP5 format version (seed: '4.1').")
    engine: Text | Absent = Field(default=ABSENT, description="Same as tracking_engine (seed v4.1's key).")
    detection_stats: DetectionStats
    performance_metrics: PerformanceMetrics
    # What vigil's runner adds about the run; optional, as outputs of other writers lack them.
    width: int | Absent = Field(default=ABSENT, ge=1)
    height: int | Absent = Field(default=ABSENT, ge=1)
    landmark_layout: str | None | Absent = ABSENT
    blendshapes_profile: str | Absent = ABSENT
    detect_every_n: int | Absent = Field(default=ABSENT, ge=1)
    chunks: int | Absent = Field(default=ABSENT, ge=0)
    workers: int | Absent = Field(default=ABSENT, ge=1)
    audio_source: str | None | Absent = ABSENT
    audio_warnings: list[str] | Absent = Field(
        default=ABSENT, description="Why an audio source was set aside (e.g. a malformed STEP4 file)."
    )
    undecodable_frames: int | Absent = Field(default=ABSENT, ge=0)
    status: Literal["complete", "partial"] | Absent = Field(
        default=ABSENT,
        description="'partial' when frames could not be read: their entries are placeholders (no "
        "tracked objects) and partial_reasons says why.",
    )
    partial_reasons: list[Text] | Absent = Field(default=ABSENT, description="Why the video is partial.")
    placeholder_frames: int | Absent = Field(
        default=ABSENT,
        ge=0,
        description="Placeholder entries: undecodable frames plus the frames a truncated file lost.",
    )


def cpu_percent(cpu_s: float, wall_s: float, cpus: int | None = None) -> float:
    """CPU seconds over `wall_s` seconds of `cpus` cores (default: this machine's), in percent."""
    cores = cpus or os.cpu_count() or 1
    return round(min(100.0, max(0.0, cpu_s / max(wall_s, 1e-9) / cores * 100)), 1)


# --- frames -----------------------------------------------------------------------------------


class HeadPose(_Model):
    """Degrees; `translation`: where the head is, [x, y, z] millimetres in camera axes (x right,
    y down, z forward), for an inter-ocular distance of 63 mm and a focal length of the frame width."""

    pitch: Degrees
    yaw: Degrees
    roll: Degrees
    translation: Annotated[list[float], Field(min_length=3, max_length=3)] | Absent = ABSENT


class BoxFields(TypedDict):
    """The fields every tracked object has (what the stitcher computes from one box)."""

    id: str
    bbox_xmin: float
    bbox_ymin: float
    bbox_xmax: float
    bbox_ymax: float
    bbox_width: float
    bbox_height: float
    centroid_x: float
    centroid_y: float
    source: str
    label: str
    confidence: float


def _face_rule(schema: dict[str, Any]) -> None:
    """The face-only rule of TrackedObject as JSON Schema if/then/else (pydantic cannot derive it)."""
    schema["if"] = {"required": ["label"], "properties": {"label": {"const": FACE_LABEL}}}
    schema["then"] = {
        "required": [name for name in _FACE_ONLY if name not in VERBOSE_FACE_FIELDS],
        "properties": {
            "source": {"description": f"a face's source is '{FACE_SOURCE}' (seed 000)", "const": FACE_SOURCE}
        },
    }
    absent = {"description": FACE_ONLY_MESSAGE, "not": {}}
    schema["else"] = {
        "properties": {"source": {"const": FALLBACK_SOURCE}} | {name: absent for name in _FACE_ONLY}
    }


class TrackedObject(_Model):
    """Faces (label 'face') carry the face fields; any other label (e.g. 'person' from the
    fallback, source 'object_detector') carries none of them: absent, not null."""

    model_config = ConfigDict(json_schema_extra=_face_rule)

    id: str = Field(pattern=r"^obj_[0-9]+$", description="Persistent across the video.")
    bbox_xmin: float
    bbox_ymin: float
    bbox_xmax: float
    bbox_ymax: float
    bbox_width: float = Field(ge=0)
    bbox_height: float = Field(ge=0)
    centroid_x: float
    centroid_y: float
    source: Text
    label: Text
    confidence: Probability
    # Face fields (default ABSENT: the face-only rule below and in the schema).
    is_speaking: bool | Absent = ABSENT
    speaking_confidence: Probability | Absent = ABSENT
    speaking_method: Text | Absent = ABSENT
    speaking_sources: SpeakingSources | Absent = ABSENT
    blendshapes: dict[BlendshapeKey, Probability] | None | Absent = Field(
        default=ABSENT,
        description="ARKit key -> calibrated coefficient in [0,1]; null when the export profile is "
        "'none' (seed) or no landmarks were found for this face.",
    )
    head_pose: HeadPose | None | Absent = Field(
        default=ABSENT, description="Degrees; null when no landmarks were found for this face."
    )
    landmarks: list[Point] | Absent = Field(
        default=ABSENT,
        min_length=1,
        description="Only with verbose export: pixel points [x, y] or [x, y, z].",
    )

    @model_validator(mode="after")
    def _face_fields_on_faces_only(self) -> TrackedObject:
        present = [name for name in _FACE_ONLY if getattr(self, name) is not ABSENT]
        if self.label == FACE_LABEL:
            missing = [name for name in _FACE_ONLY if name not in present and name not in VERBOSE_FACE_FIELDS]
            if missing:
                raise ValueError(f"a face needs {', '.join(missing)}")
            if self.source != FACE_SOURCE:
                raise ValueError(f"a face's source is '{FACE_SOURCE}' (seed 000), not {self.source!r}")
        else:
            if present:
                raise ValueError(f"{', '.join(present)}: {FACE_ONLY_MESSAGE}")
            if self.source != FALLBACK_SOURCE:
                raise ValueError(f"a {self.label!r} object must have source '{FALLBACK_SOURCE}'")
        return self


class FrameEntry(_Model):
    frame: int = Field(ge=1, description="1-based frame number.")
    timestamp_ms: float | Absent = Field(
        default=ABSENT, ge=0, description="Presentation time of the frame from the first frame's, in ms."
    )
    tracked_objects: list[TrackedObject]
    active_speakers: list[str] | Absent = Field(
        default=ABSENT,
        description="Ids of this frame's faces whose is_speaking is true, in tracked_objects order "
        "(seed 000: STEP6 reads it).",
    )


class TrackingDocument(_Model):
    """Dense per-frame tracking of one video (successor of seed 000's STEP5 JSON). Checks the
    schema cannot express (frame count and numbering, box arithmetic, stats consistency) live in
    vigil/batch/validate.py."""

    model_config = ConfigDict(
        title="Vigil batch tracking output (<stem>_tracking.json)",
        json_schema_extra={
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://vigil.local/schemas/tracking.schema.json",
        },
    )

    metadata: TrackingMetadata
    frames: list[FrameEntry] = Field(
        description="Exactly one entry per decoded frame, in order, numbered from 1."
    )


# The face fields, in field order: those absent unless set.
_FACE_ONLY: Final = tuple(name for name, info in TrackedObject.model_fields.items() if info.default is ABSENT)


# --- the generated JSON Schema ----------------------------------------------------------------


class _SchemaGenerator(GenerateJsonSchema):
    """Pydantic's draft 2020-12 generator, without the per-field titles it derives from names
    ("Bbox Xmin"), and with dict key patterns that reject other keys as validation does."""

    # `Any`: the core schema types live in pydantic_core, which vigil does not depend on directly.
    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def dict_schema(self, schema: Any) -> JsonSchemaValue:
        # Pydantic writes `patternProperties`, which lets keys that do not match through.
        json_schema = super().dict_schema(schema)
        patterns = json_schema.pop("patternProperties", None)
        if patterns is not None:
            ((pattern, values),) = patterns.items()
            json_schema["propertyNames"] = {"pattern": pattern}
            json_schema["additionalProperties"] = values
        return json_schema


def tracking_schema() -> dict[str, Any]:
    """The JSON Schema of a tracking document, generated from the models."""
    return TrackingDocument.model_json_schema(schema_generator=_SchemaGenerator)


def tracking_schema_text() -> str:
    """The text of `schema/tracking.schema.json` as the models generate it."""
    return json.dumps(tracking_schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    SCHEMA_PATH.write_text(tracking_schema_text(), encoding="utf-8")
    print(f"wrote {SCHEMA_PATH}")
