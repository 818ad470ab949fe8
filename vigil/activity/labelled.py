"""Labelled clips for `vigil activity train` / `eval`: a CSV with `path` and `label` columns, and
optional `start`/`end` (seconds) for a label that covers only part of a clip (rows of one clip
may cut it into spans). Other columns are ignored, so ../shared/media/activity/labels.csv reads
as it is. Paths are relative to the CSV's folder or to `--media-root`. The seed's "talking" (one
person speaking) is `conversation`; a label `-` marks a span left out of training and scoring."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from vigil.activity.labels import Activity
from vigil.errors import InputError

__all__ = ["LabelledSpan", "label_at", "read_labels"]

ALIASES = {"talking": Activity.CONVERSATION, "phone": Activity.ON_PHONE, "sleeping": Activity.ASLEEP}
SKIP = "-"


@dataclass(frozen=True)
class LabelledSpan:
    path: Path
    label: Activity | None  # None: not scored (an ambiguous stretch)
    start: float = 0.0
    end: float = float("inf")


def _activity(text: str, where: str) -> Activity | None:
    text = text.strip().lower()
    if text == SKIP:
        return None
    if text in ALIASES:
        return ALIASES[text]
    try:
        return Activity(text)
    except ValueError:
        names = ", ".join(a.value for a in Activity)
        raise InputError(f"{where}: unknown activity {text!r}; expected one of {names} (or '-')") from None


def read_labels(csv_path: Path, media_root: Path | None = None) -> list[LabelledSpan]:
    """Paths resolve against `media_root` (default: the CSV's folder)."""
    try:
        with csv_path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise InputError(f"cannot read {csv_path}: {exc.strerror or exc}") from exc
    if not rows or not {"path", "label"} <= set(rows[0]):
        raise InputError(f"{csv_path}: needs a header with at least `path` and `label` columns")
    spans = []
    for number, row in enumerate(rows, start=2):
        where = f"{csv_path}:{number}"
        path = (media_root or csv_path.parent) / row["path"].strip()
        if not path.is_file():
            raise InputError(f"{where}: no such file {path}")
        try:
            start = float(row.get("start") or 0.0)
            end = float(row.get("end") or "inf")
        except ValueError as exc:
            raise InputError(f"{where}: start/end must be seconds ({exc})") from None
        if end <= start:
            raise InputError(f"{where}: end ({end}) must be after start ({start})")
        spans.append(LabelledSpan(path, _activity(row["label"], where), start, end))
    return spans


def label_at(spans: list[LabelledSpan], path: Path, t: float) -> Activity | None:
    """The label of `path` at `t` seconds; None where no span covers it or it is marked `-`."""
    for span in spans:
        if span.path == path and span.start <= t < span.end:
            return span.label
    return None
