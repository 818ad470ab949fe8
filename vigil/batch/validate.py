"""Checks `<stem>_tracking.json` files: the seed's STEP5 validation script, made correct and complete.

The seed's script stopped at the first bad file, checked only 10 frames, and looked for keys the
writer never produced (`bbox`, `centroid`, `source_detector`). Here every file and every frame is
checked, in two layers:
1. the JSON Schema (`schema/tracking.schema.json`, draft 2020-12, generated from the models of
   output.py): keys, types, ranges, face-only fields;
2. what a schema cannot express: one entry per frame numbered 1..N in order, box arithmetic,
   centroid inside the box, unique ids per frame, one label per id, person fallback objects only in
   face-less frames, and `detection_stats` recomputed from the frames;
3. the seed's own rules (STEP5's README): `tracking_engine` one of its engine names (or a Vigil
   engine), blendshape keys ARKit names (or `_neutral`), blendshapes as the declared
   `blendshapes_profile` exports them (mouth: mouth*/jaw*/tongueOut only; none: null; mediapipe: no
   tongueOut, `_neutral` present), and `timestamp_ms` increasing with the frames.
Semantic checks run only on a schema-valid document (they rely on its types). Files are loaded
whole (no streaming): a 10-minute 30 fps output without landmarks is tens of MB, which fits.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import extend

from vigil.batch.blendshapes import unknown_blendshape_keys
from vigil.batch.discover import TRACKING_SUFFIX, discover_videos, tracking_output_path
from vigil.batch.output import FACE_LABEL, SCHEMA_VERSION
from vigil.batch.settings import (
    OUTPUT_ENGINE_NAMES,
    SEED_ENGINE_NAMES,
    SEED_ONLY_ENGINES,
    supported_engines,
)

__all__ = [
    "MAX_PROBLEMS",
    "SCHEMA_VERSION",
    "FileReport",
    "check_file",
    "load_schema",
    "validate_outputs",
    "validate_tracking",
    "validate_tracking_file",
]

MAX_PROBLEMS = 50
# Writers may round coordinates to whole pixels independently of width/height.
BOX_TOLERANCE_PX = 1.0
# detection_stats may be rounded (e.g. to 2-3 decimals) by the writer.
STATS_TOLERANCE = 0.01
_MESSAGE_CHARS = 200


@dataclass(frozen=True)
class FileReport:
    """One checked output file; `frames`/`objects` are counted when the JSON could be read."""

    path: Path
    problems: list[str] = field(default_factory=list)
    frames: int = 0
    objects: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def load_schema() -> dict[str, Any]:
    """A fresh copy of the tracking JSON Schema (package data)."""
    schema: dict[str, Any] = json.loads(_schema_text())
    return schema


def validate_tracking(data: Any, max_problems: int = MAX_PROBLEMS) -> list[str]:
    """Problems of one parsed tracking document, each prefixed with its JSON path; [] = valid.
    At most `max_problems` are listed, then one line saying how many more were found."""
    problems = list(_schema_problems(data))
    if not problems:
        problems = list(_semantic_problems(data))
    return _cap(problems, max_problems)


def validate_tracking_file(path: Path, max_problems: int = MAX_PROBLEMS) -> list[str]:
    """Like validate_tracking; an unreadable file or invalid JSON is a problem, not an exception."""
    return check_file(path, max_problems).problems


def check_file(path: Path, max_problems: int = MAX_PROBLEMS) -> FileReport:
    try:
        data = _load_json(path)
    except ValueError as exc:
        return FileReport(path, [str(exc)])
    frames, objects = _counts(data)
    return FileReport(path, validate_tracking(data, max_problems), frames, objects)


def validate_outputs(
    paths: Sequence[Path], out_dir: Path | None = None, max_problems: int = MAX_PROBLEMS
) -> list[FileReport]:
    """The seed's script over inputs: a `*_tracking.json` file is checked as is; for a video, or
    every video under a folder, its expected output must exist and be valid; tracking files found
    under a folder without their video are checked too. Raises InputError on a missing input path."""
    expected: dict[Path, Path | None] = {}  # output -> its video (None: output given or found alone)
    for path in paths:
        if path.is_file() and path.name.endswith(TRACKING_SUFFIX):
            expected.setdefault(Path(os.path.abspath(path)), None)
            continue
        for video in discover_videos([path]):
            expected[Path(os.path.abspath(tracking_output_path(video, out_dir)))] = video
        if path.is_dir():
            for found in _walk_tracking_files(Path(os.path.abspath(path))):
                expected.setdefault(found, None)
    return [_check_expected(output, video, max_problems) for output, video in sorted(expected.items())]


def _check_expected(output: Path, video: Path | None, max_problems: int) -> FileReport:
    if video is not None and not output.is_file():
        return FileReport(output, [f"missing output for video {video}"])
    return check_file(output, max_problems)


def _walk_tracking_files(folder: Path) -> Iterator[Path]:
    for root, dirs, names in os.walk(folder):
        dirs[:] = [name for name in dirs if not name.startswith(".")]
        for name in names:
            # Hidden names are in-progress temp files of an atomic write, not results.
            if name.endswith(TRACKING_SUFFIX) and not name.startswith("."):
                yield Path(root, name)


@cache
def _schema_text() -> str:
    return files("vigil.batch").joinpath("schema/tracking.schema.json").read_text(encoding="utf-8")


@cache
def _validator() -> Validator:
    """The file's schema, tuned for speed without changing what it accepts (a test compares both):
    local `$ref`s inlined (~30% faster), and landmark points checked by one keyword instead of
    jsonschema descending into each of 478 points (13 ms -> 0.1 ms per face)."""
    schema = load_schema()
    Draft202012Validator.check_schema(schema)
    fast = _inline_refs(schema, schema.pop("$defs"))
    landmarks = fast["properties"]["frames"]["items"]["properties"]["tracked_objects"]["items"]["properties"][
        "landmarks"
    ]
    if landmarks.pop("items") != _POINT_SCHEMA:
        raise RuntimeError("tracking.schema.json landmarks.items changed: update _points in validate.py")
    landmarks["vigilPoints"] = True
    validator: Validator = _FastValidator(fast)
    return validator


_POINT_SCHEMA = {"type": "array", "minItems": 2, "maxItems": 3, "items": {"type": "number"}}


def _points(
    _validator: Validator, _enabled: bool, instance: Any, _schema: dict[str, Any]
) -> Iterator[ValidationError]:
    """Same rule as _POINT_SCHEMA on every item; only the first bad point is reported."""
    if not isinstance(instance, list):
        return  # the `type` keyword reports it
    for index, point in enumerate(instance):
        if not _is_point(point):
            bad = sum(not _is_point(item) for item in instance)
            yield ValidationError(
                f"{point!r} is not a point [x, y] or [x, y, z] of numbers ({bad} bad point(s) in this list)",
                path=(index,),
            )
            return


def _is_point(point: Any) -> bool:
    # bool is a subclass of int but not a JSON number
    return isinstance(point, list) and 2 <= len(point) <= 3 and all(type(v) in (int, float) for v in point)


_FastValidator = extend(Draft202012Validator, {"vigilPoints": _points})  # type: ignore[no-untyped-call]


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    """Replaces `{"$ref": "#/$defs/name", ...}` by the definition merged with the sibling keys."""
    if isinstance(node, list):
        return [_inline_refs(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    inlined = {key: _inline_refs(value, defs) for key, value in node.items() if key != "$ref"}
    if "$ref" not in node:
        return inlined
    target: dict[str, Any] = _inline_refs(defs[node["$ref"].removeprefix("#/$defs/")], defs)
    # A merge is only equivalent to `$ref` + siblings when no validation keyword is overridden.
    if set(target) & set(inlined) - {"description", "title"}:
        raise RuntimeError(f"cannot inline {node['$ref']}: a sibling keyword overrides the definition")
    return {**target, **inlined}


def _load_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read file: {exc}") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise ValueError("not valid JSON for this format: nested too deeply") from None


def _reject_constant(name: str) -> Any:
    # Python's json writes NaN/Infinity by default; they are not JSON and other readers choke on them.
    raise ValueError(f"not valid JSON: {name} is not a JSON number (write with allow_nan=False)")


def _counts(data: Any) -> tuple[int, int]:
    frames = data.get("frames") if isinstance(data, dict) else None
    if not isinstance(frames, list):
        return 0, 0
    objects = sum(
        len(frame["tracked_objects"])
        for frame in frames
        if isinstance(frame, dict) and isinstance(frame.get("tracked_objects"), list)
    )
    return len(frames), objects


def _cap(problems: list[str], max_problems: int) -> list[str]:
    if len(problems) <= max_problems:
        return problems
    hidden = len(problems) - max_problems
    return [*problems[:max_problems], f"... and {hidden} more problem(s) not listed"]


# --- layer 1: JSON Schema ---------------------------------------------------------------------


def _schema_problems(data: Any) -> Iterator[str]:
    for error in _validator().iter_errors(data):
        for cause in _causes(error):
            yield f"{cause.json_path}: {_message(cause)}"


def _causes(error: ValidationError) -> Iterator[ValidationError]:
    """The errors that explain one: for an `anyOf` (a nullable field, `X | None` in the models),
    why the branch of the value's type refused it, e.g. `head_pose: 'yaw' is a required property`
    rather than `{...} is not valid under any of the given schemas`."""
    if error.validator != "anyOf":
        yield error
        return
    # A branch of another type only says "is not of type": not the reason.
    reasons = [cause for cause in error.context or [] if cause.validator != "type" or cause.relative_path]
    if not reasons:
        yield error
    for cause in reasons:
        yield from _causes(cause)


def _message(error: ValidationError) -> str:
    # A `not` failure prints the whole instance; the schema's description says what is wrong.
    if error.validator == "not" and isinstance(error.schema, dict) and "description" in error.schema:
        return str(error.schema["description"])
    message = error.message
    return message if len(message) <= _MESSAGE_CHARS else message[: _MESSAGE_CHARS - 3] + "..."


# --- layer 2: semantic checks on a schema-valid document --------------------------------------


def _semantic_problems(data: dict[str, Any]) -> Iterator[str]:
    frames: list[dict[str, Any]] = data["frames"]
    metadata: dict[str, Any] = data["metadata"]
    yield from _frame_numbering_problems(frames, metadata["total_frames"])
    labels: dict[str, tuple[str, int]] = {}  # id -> (label, index of the frame where first seen)
    for index, frame in enumerate(frames):
        yield from _frame_object_problems(index, frame["tracked_objects"], labels)
    yield from _stats_problems(frames, metadata)
    yield from _seed_problems(frames, metadata)


def _frame_numbering_problems(frames: list[dict[str, Any]], total_frames: int) -> Iterator[str]:
    if len(frames) != total_frames:
        yield f"$.frames: {len(frames)} entries but metadata.total_frames is {total_frames} (must be dense)"
    misplaced = [index for index, frame in enumerate(frames) if frame["frame"] != index + 1]
    if misplaced:
        first = misplaced[0]
        yield (
            f"$.frames[{first}].frame: is {frames[first]['frame']}, expected {first + 1} "
            f"(frames must be numbered 1..N in order; {len(misplaced)} entries out of place)"
        )


def _frame_object_problems(
    index: int, objects: list[dict[str, Any]], labels: dict[str, tuple[str, int]]
) -> Iterator[str]:
    has_face = any(obj["label"] == "face" for obj in objects)
    seen: set[str] = set()
    for position, obj in enumerate(objects):
        where = f"$.frames[{index}].tracked_objects[{position}]"
        yield from _box_problems(where, obj)
        object_id = obj["id"]
        if object_id in seen:
            yield f"{where}.id: {object_id} appears twice in this frame"
        seen.add(object_id)
        first_label, first_index = labels.setdefault(object_id, (obj["label"], index))
        if first_label != obj["label"]:
            yield (
                f"{where}.label: {object_id} is {obj['label']!r} here but was {first_label!r} "
                f"in $.frames[{first_index}]"
            )
        if has_face and obj["label"] != "face":
            yield f"{where}: fallback object {obj['label']!r} in a frame that has a face"


def _box_problems(where: str, obj: dict[str, Any]) -> Iterator[str]:
    for axis, size in (("x", "width"), ("y", "height")):
        low, high = obj[f"bbox_{axis}min"], obj[f"bbox_{axis}max"]
        if low > high:
            yield f"{where}: bbox_{axis}min {low} > bbox_{axis}max {high}"
        extent = obj[f"bbox_{size}"]
        if not math.isclose(extent, high - low, abs_tol=BOX_TOLERANCE_PX):
            yield f"{where}.bbox_{size}: is {extent}, bbox_{axis}max - bbox_{axis}min = {high - low}"
        centre = obj[f"centroid_{axis}"]
        if not low - BOX_TOLERANCE_PX <= centre <= high + BOX_TOLERANCE_PX:
            yield f"{where}.centroid_{axis}: {centre} lies outside the box [{low}, {high}]"


def _stats_problems(frames: list[dict[str, Any]], metadata: dict[str, Any]) -> Iterator[str]:
    stats = metadata["detection_stats"]
    total = metadata["total_frames"]
    face_counts = [sum(obj["label"] == "face" for obj in frame["tracked_objects"]) for frame in frames]
    expected = {
        "face_detection_rate": sum(count > 0 for count in face_counts) / total if total else 0.0,
        "avg_faces_per_frame": sum(face_counts) / total if total else 0.0,
    }
    for key, value in expected.items():
        if not math.isclose(stats[key], value, abs_tol=STATS_TOLERANCE):
            yield f"$.metadata.detection_stats.{key}: is {stats[key]}, the frames give {value:.4f}"
    fallback_objects = any(obj["label"] != "face" for frame in frames for obj in frame["tracked_objects"])
    if fallback_objects and not stats["object_detection_fallback_used"]:
        yield (
            "$.metadata.detection_stats.object_detection_fallback_used: is false "
            "but the frames contain non-face (fallback) objects"
        )


# --- layer 3: the seed's own rules -------------------------------------------------------------


def known_engine_names() -> frozenset[str]:
    """`tracking_engine` values a STEP5 reader may meet: the seed's names and Vigil's engines."""
    seed = {"mediapipe_landmarker", "opencv_haar", "opencv_yunet", "opencv_yunet_pyfeat", "openseeface"}
    return frozenset(
        seed | set(SEED_ENGINE_NAMES) | set(SEED_ONLY_ENGINES) | set(OUTPUT_ENGINE_NAMES.values())
    ) | frozenset(supported_engines())


def _seed_problems(frames: list[dict[str, Any]], metadata: dict[str, Any]) -> Iterator[str]:
    engine = metadata["tracking_engine"]
    if engine not in known_engine_names():
        yield (
            f"$.metadata.tracking_engine: {engine!r} is not an engine name of the seed "
            f"({', '.join(sorted(known_engine_names()))})"
        )
    profile = metadata.get("blendshapes_profile")
    previous_time: float | None = None
    for index, frame in enumerate(frames):
        time_ms = frame.get("timestamp_ms")
        if time_ms is not None:
            if previous_time is not None and time_ms <= previous_time:
                yield f"$.frames[{index}].timestamp_ms: {time_ms} does not follow {previous_time}"
            previous_time = time_ms
        for position, obj in enumerate(frame["tracked_objects"]):
            if obj["label"] == FACE_LABEL:
                where = f"$.frames[{index}].tracked_objects[{position}].blendshapes"
                yield from _blendshape_problems(where, obj["blendshapes"], profile)


def _blendshape_problems(where: str, values: dict[str, float] | None, profile: Any) -> Iterator[str]:
    if values is None:
        return
    if profile == "none":
        yield f"{where}: must be null with blendshapes_profile 'none'"
        return
    unknown = unknown_blendshape_keys(list(values))
    if unknown:
        yield f"{where}: {', '.join(unknown)} not ARKit blendshape names"
    if profile == "mouth":
        other = sorted(k for k in values if not k.startswith(("mouth", "jaw")) and k != "tongueOut")
        if other:
            yield f"{where}: {', '.join(other)} not exported by blendshapes_profile 'mouth'"
    elif profile == "mediapipe" and ("tongueOut" in values or "_neutral" not in values):
        yield f"{where}: blendshapes_profile 'mediapipe' drops tongueOut and has _neutral"
