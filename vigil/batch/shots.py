"""Shot boundaries (hard cuts): every track ends at a cut, so no id can cover two shots.

The score of frame k is PySceneDetect's "content" value — the mean absolute difference of hue,
saturation and value between frames k-1 and k — computed on a 48x27 HSV thumbnail. It is split
in two because the frames live in the workers and the decision needs the whole history:

- a worker computes each frame's thumbnail (`FrameSignature`, 3.9 kB) and forces a detection on
  any frame whose score reaches `FORCE_DETECT_SCORE` (the lowest score a cut can have: without
  it, faces followed by their landmarks would be carried into the new shot).
  That only depends on two consecutive frames the worker decodes, so chunked output stays
  identical to a single-worker run;
- the parent (`ShotDetector`, fed in frame order across chunk boundaries) declares a cut when the
  score reaches `min_score` *and* `ratio` times the mean of the previous `window` scores (adaptive:
  a hand-held or fast-moving shot raises its own bar). The seed's STEP3 scene CSV
  (`<stem>.csv`, "No,Timecode In,Timecode Out,Frame In,Frame Out") adds its scene starts.

PySceneDetect itself is not used: its detectors take whole frames in one process and keep their
state per stream, while here the pixels are in the workers and the decision in the parent.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterable
from pathlib import Path

from vigil.cuts import (
    CUT_RATIO,
    CUT_WINDOW,
    MIN_CUT_SCORE,
    THUMB_SIZE,
    CutDetector,
    FrameSignature,
    content_score,
    signature,
)
from vigil.errors import VigilError

log = logging.getLogger(__name__)

# Worker: detect again on such a frame. Not above MIN_CUT_SCORE, so every cut is a detection frame;
# not below either: each forced detection costs a detector call and landmarks for every face.
FORCE_DETECT_SCORE = MIN_CUT_SCORE
__all__ = ["THUMB_SIZE", "FrameSignature", "ShotDetector", "content_score", "signature"]


class SceneCsvError(VigilError, ValueError):
    """A STEP3 scene CSV that cannot be read."""


class ShotDetector:
    """Feed `update(frame, signature)` every frame in order; True when the frame starts a shot
    (frame 1 starts the first shot but is not a cut: it returns False). Live's rule
    (`vigil.cuts.CutDetector`) plus the scene CSV's cuts and undecodable frames."""

    def __init__(
        self,
        external_cuts: Iterable[int] = (),
        min_score: float = MIN_CUT_SCORE,
        ratio: float = CUT_RATIO,
        window: int = CUT_WINDOW,
        warning: str | None = None,
    ) -> None:
        self.warning = warning  # why the scene CSV was set aside (output metadata)
        self._external = {int(f) for f in external_cuts if int(f) > 1}
        self._rule = CutDetector(min_score, ratio, window)
        self.cuts: list[int] = []  # first frames of the shots after the first

    def update(self, frame: int, current: FrameSignature | None) -> bool:
        cut = frame in self._external
        if current is not None:  # undecodable frames: compare with the last decoded one
            cut = self._rule.update(current) or cut
        if cut and frame > 1:
            self.cuts.append(frame)
            return True
        return False


def scene_csv_for(video: Path) -> Path | None:
    """The seed's STEP3 output next to a video (`video1.mp4` -> `video1.csv`), if there is one."""
    path = video.with_suffix(".csv")
    return path if path.is_file() else None


def read_scene_csv(path: Path) -> list[int]:
    """First frames (1-based) of every scene after the first, from a STEP3 CSV.

    The header is "No,Timecode In,Timecode Out,Frame In,Frame Out"; frame numbers are taken as
    0-based when the first scene starts at 0 (PySceneDetect's numbering), else 1-based.
    """
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SceneCsvError(f"cannot read scene CSV {path.name}: {exc}") from exc
    starts: list[int] = []
    for number, row in enumerate(rows, start=2):
        value = (row.get("Frame In") or "").strip()
        try:
            starts.append(int(float(value)))
        except ValueError:
            raise SceneCsvError(
                f"{path.name} line {number}: 'Frame In' is not a frame number: {value!r}"
            ) from None
    if not starts:
        return []
    offset = 1 if min(starts) == 0 else 0
    return sorted({s + offset for s in starts if s + offset > 1})


def scene_cuts(video: Path) -> tuple[list[int], str | None]:
    """(cuts, warning) from the video's STEP3 CSV: a CSV that cannot be read gives no cuts and a
    warning (the detector still runs), never a failed video."""
    path = scene_csv_for(video)
    if path is None:
        return [], None
    try:
        return read_scene_csv(path), None
    except SceneCsvError as exc:
        log.warning("%s", exc)
        return [], str(exc)
