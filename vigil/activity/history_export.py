"""The activity history as CSV for download (the History page's export): one row per stored
segment, newest first, with its cue summary. Text a spreadsheet could run as a formula (a camera
or visitor name starting with = + - @) is quoted with a leading apostrophe."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterable, Mapping

from vigil.activity.history import StoredSegment
from vigil.activity.labels import display_name

__all__ = ["HISTORY_CSV_COLUMNS", "history_csv"]

HISTORY_CSV_COLUMNS = (
    "id", "camera", "visitor_id", "visitor_name", "activity", "activity_name", "start", "end",
    "duration_s", "confidence", "source", "open",
    "present", "motion", "eyes_closed", "head_down", "hand_at_ear", "hand_at_mouth", "hands_in_front",
    "voice", "objects", "sounds",
)  # fmt: skip
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def history_csv(
    segments: Iterable[StoredSegment], visitor_names: Mapping[uuid.UUID, str | None], language: str = "en"
) -> str:
    """Times are ISO-8601 UTC; `activity` is the API id, `activity_name` its name in `language`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HISTORY_CSV_COLUMNS)
    for s in segments:
        cues = s.cues
        visitor = s.visitor_id
        name = (visitor_names.get(visitor) if visitor else None) or ""
        means = (cues.present, cues.motion, cues.eyes_closed, cues.head_down, cues.hand_at_ear,
                 cues.hand_at_mouth, cues.hands_in_front, cues.voice)  # fmt: skip
        writer.writerow((
            s.id, _cell(s.camera), visitor or "", _cell(name),
            s.activity.value, display_name(s.activity, language), s.started_at.isoformat(),
            s.ended_at.isoformat(), f"{s.duration_s:.3f}", f"{s.confidence:.3f}", s.source,
            "true" if s.open else "false", *means, ";".join(cues.objects), ";".join(cues.sounds),
        ))  # fmt: skip
    return out.getvalue()


def _cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_STARTS) else text
