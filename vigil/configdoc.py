"""Generates docs/configuration.md's settings tables from the pydantic models (single source)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel
from pydantic.fields import FieldInfo

from vigil.activity.report_settings import ReportSettings
from vigil.activity.settings import ActivitySettings
from vigil.anonymize.live_privacy import LivePrivacyConfig
from vigil.anonymize.person_options import PersonOptions
from vigil.anonymize.settings import AnonymizeSettings, FaceOptions, VideoOutputOptions
from vigil.batch.settings import BatchSettings, BatchTrackerConfig
from vigil.cluster.config import ClusterConfig
from vigil.config import (
    CameraConfig,
    CameraPolicyConfig,
    GatingConfig,
    MotionConfig,
    QualityConfig,
    RuntimeConfig,
    StoreConfig,
    VigilSettings,
    WebConfig,
)
from vigil.detect.registry import detector_configs
from vigil.embed.registry import embedder_configs
from vigil.jobs.config import JobsConfig
from vigil.live.tracking_config import TrackerConfig
from vigil.watchlist.config import Thresholds, WatchlistConfig

SECTIONS: list[tuple[str, str, type[BaseModel]]] = [
    ("Top level", "VIGIL_", VigilSettings),
    ("cameras[] (YAML)", "", CameraConfig),
    ("camera_policy: cameras added in the UI/API", "VIGIL_CAMERA_POLICY__", CameraPolicyConfig),
    *[(f"detector, type: {name}", "VIGIL_DETECTOR__", cls) for name, cls in detector_configs().items()],
    *[(f"embedder, type: {name}", "VIGIL_EMBEDDER__", cls) for name, cls in embedder_configs().items()],
    ("motion", "VIGIL_MOTION__", MotionConfig),
    ("tracker", "VIGIL_TRACKER__", TrackerConfig),
    ("quality", "VIGIL_QUALITY__", QualityConfig),
    ("gating", "VIGIL_GATING__", GatingConfig),
    ("runtime", "VIGIL_RUNTIME__", RuntimeConfig),
    ("store", "VIGIL_STORE__", StoreConfig),
    ("web (`vigil serve`)", "VIGIL_WEB__", WebConfig),
    ("track: batch tracking (`vigil track`)", "VIGIL_TRACK__", BatchSettings),
    ("track.tracker: batch tracking's tracker", "VIGIL_TRACK__TRACKER__", BatchTrackerConfig),
    (
        "anonymize: anonymisation (`vigil anonymize`, the Anonymise page)",
        "VIGIL_ANONYMIZE__",
        AnonymizeSettings,
    ),
    ("anonymize.faces: faces in `vigil anonymize`", "VIGIL_ANONYMIZE__FACES__", FaceOptions),
    ("anonymize.persons: bodies and clothes", "VIGIL_ANONYMIZE__PERSONS__", PersonOptions),
    ("anonymize.video: `vigil anonymize`'s encoding", "VIGIL_ANONYMIZE__VIDEO__", VideoOutputOptions),
    ("jobs", "VIGIL_JOBS__", JobsConfig),
    ("cluster: cameras of `vigil serve` on Ray", "VIGIL_CLUSTER__", ClusterConfig),
    ("watchlist", "VIGIL_WATCHLIST__", WatchlistConfig),
    ("watchlist.camera_thresholds.<camera> (YAML)", "", Thresholds),
    ("anonymize.live: live privacy mode (`vigil serve`)", "VIGIL_ANONYMIZE__LIVE__", LivePrivacyConfig),
    ("anonymize.live.persons: live privacy bodies", "VIGIL_ANONYMIZE__LIVE__PERSONS__", PersonOptions),
    ("activity: activity of a person (`vigil activity`)", "VIGIL_ACTIVITY__", ActivitySettings),
    ("activity.report: reports to an external service", "VIGIL_ACTIVITY__REPORT__", ReportSettings),
]


def _default(field: FieldInfo) -> str:
    extra = field.json_schema_extra
    if isinstance(extra, dict) and "doc_default" in extra:  # machine-dependent defaults
        return str(extra["doc_default"])
    if field.default_factory is not None:
        value: Any = field.default_factory()  # type: ignore[call-arg]
        return "(section below)" if isinstance(value, BaseModel) else f"`{value!r}`"
    if field.is_required():
        return "required"
    value = field.default
    return f"`{value}`" if isinstance(value, Path) else f"`{value!r}`"


def _range(field: FieldInfo) -> str:
    bounds = []
    for meta in field.metadata:
        for attr, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            if getattr(meta, attr, None) is not None:
                bounds.append(f"{sign} {getattr(meta, attr)}")
    return ", ".join(bounds)


def _env_names(prefix: str, name: str, field: FieldInfo, model: type[BaseModel]) -> str:
    if not prefix:
        return ""
    names = [f"{prefix}{name.upper()}"]
    if isinstance(field.validation_alias, AliasChoices):
        names += [c for c in field.validation_alias.choices if isinstance(c, str) and c.isupper()]
    legacy = getattr(model, "legacy_env_prefix", None)
    if isinstance(legacy, str):  # read by SectionAliasSource
        names.append(f"{legacy}{name.upper()}")
    return ", ".join(f"`{n}`" for n in names)


def settings_markdown() -> str:
    lines: list[str] = []
    for title, prefix, model in SECTIONS:
        lines += [f"### {title}", "", "| setting | env | default | range | description |", "|" + "---|" * 5]
        for name, field in model.model_fields.items():
            if name == "type":
                continue
            env = _env_names(prefix, name, field, model)
            lines.append(
                f"| `{name}` | {env} | {_default(field)} | {_range(field)} | {field.description or ''} |"
            )
        lines.append("")
    return "\n".join(lines)


BEGIN, END = "<!-- settings:begin (generated by `python -m vigil.configdoc`) -->", "<!-- settings:end -->"


def update(path: Path) -> bool:
    """Rewrite the generated block of `path`; True when it changed."""
    text = path.read_text(encoding="utf-8")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{BEGIN}\n{settings_markdown()}{END}{tail}"
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


if __name__ == "__main__":
    update(Path(__file__).resolve().parents[1] / "docs" / "configuration.md")
