"""The activity job's result as CSV for download: one row per segment of every analysed file, with
the segment's cue summary (why it got its activity). The JSON download is the result itself."""

from __future__ import annotations

import csv
import io
from pathlib import PurePath

from vigil.activity.job import ActivityResult

__all__ = ["CSV_COLUMNS", "result_csv"]

CSV_COLUMNS = (
    "file", "start", "end", "activity", "confidence",
    "present", "motion", "eyes_closed", "head_down", "hand_at_ear", "hand_at_mouth", "hands_in_front",
    "voice", "objects", "sounds",
)  # fmt: skip


def result_csv(result: ActivityResult) -> str:
    """`file` is the input's file name (no server folders); lists are joined with `;`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for analysis in result.analyses:
        name = PurePath(analysis.input).name
        for segment in analysis.segments:
            cues = segment.cues
            means = (cues.present, cues.motion, cues.eyes_closed, cues.head_down, cues.hand_at_ear,
                     cues.hand_at_mouth, cues.hands_in_front, cues.voice)  # fmt: skip
            times = (f"{segment.start:.3f}", f"{segment.end:.3f}")
            confidence = f"{segment.confidence:.3f}"
            lists = (";".join(cues.objects), ";".join(cues.sounds))
            writer.writerow((name, *times, segment.activity.value, confidence, *means, *lists))
    return out.getvalue()
