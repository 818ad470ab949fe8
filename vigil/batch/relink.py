"""The batch tracker: ids that start on the frame a face is detected, end at every cut, and
re-link fragments of one person within a shot.

The live tracker (ByteTrack, `vigil/live/tracking.py`) suits a camera: it withholds an id until a
track is confirmed and matches by box overlap only. Offline, with a detector that runs every N
frames and landmarks followed in between, that gave frame 1 no face, new faces one frame late,
and one fast-moving person a new id on every detection frame (the landmarks lose them, their box
is held, the next detection is too far to overlap). Here, per frame:

1. **Continuity**: detections are matched to tracks seen in the last `lost_track_buffer` frames by
   overlap with the track's box or its constant-velocity prediction (greedy, best overlap first).
2. **Re-linking**: detections left over are matched to tracks of the same shot lost for up to
   `RELINK_GAP` frames when the distance from the track's last *fresh* box (detected or followed,
   not held) fits the time since, the sizes agree, and the colours agree (`appearance.py`).
3. **New tracks**: what is left and scores at least `activation_threshold` gets a new id at once
   (no confirmation frames: the detector's own threshold already filters).

`cut=True` ends every track first, so no id survives a shot boundary.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from vigil.batch.appearance import similarity
from vigil.live.tracking_config import TrackerConfig
from vigil.types import FloatArray

log = logging.getLogger(__name__)

RELINK_GAP = 60  # frames: a person hidden or missed for up to ~2 s keeps their id
RELINK_BASE = 0.6  # allowed centre distance, in face sizes, right after the loss...
RELINK_PER_FRAME = 0.3  # ...growing by this per frame of gap (fast walkers: ~0.35/frame at 25 fps)
RELINK_MAX = 2.0
# Bhattacharyya coefficient of the colour histograms. Measured on the labelled clips: the same person
# 0.75-0.99 (0.75: hamilton's performer, profile under stage light), other people 0.42-0.75, but
# those were also too far (> 2 face sizes) to be re-linked.
RELINK_MIN_SIMILARITY = 0.72
SIZE_RATIO_MAX = 1.6  # between a track's box and a detection (followed boxes change gradually)
APPEARANCE_RATE = 0.3  # weight of a new descriptor in the track's running appearance
VELOCITY_RATE = 0.5


@dataclass(frozen=True)
class Observation:
    box: FloatArray  # xyxy
    score: float
    appearance: FloatArray | None = None  # on detection frames
    held: bool = False  # the worker held the box (landmarks lost): no new position information


@dataclass
class _Track:
    track_id: int
    box: FloatArray
    last: int  # last frame matched
    fresh_box: FloatArray
    fresh: int  # last frame matched with a non-held box
    appearance: FloatArray | None
    velocity: FloatArray = field(default_factory=lambda: np.zeros(2, np.float32))

    def predicted(self, frame: int) -> FloatArray:
        shift = self.velocity * float(frame - self.fresh)
        moved: FloatArray = (self.fresh_box + np.concatenate([shift, shift])).astype(np.float32)
        return moved

    def update(self, frame: int, obs: Observation) -> None:
        self.box, self.last = obs.box, frame
        if not obs.held:
            gap = max(frame - self.fresh, 1)
            step = (_centre(obs.box) - _centre(self.fresh_box)) / gap
            limit = 0.5 * _size(obs.box)
            step = np.clip(step, -limit, limit)
            self.velocity = (VELOCITY_RATE * step + (1 - VELOCITY_RATE) * self.velocity).astype(np.float32)
            self.fresh_box, self.fresh = obs.box, frame
        if obs.appearance is not None:
            if self.appearance is None:
                self.appearance = obs.appearance
            else:
                mixed = APPEARANCE_RATE * obs.appearance + (1 - APPEARANCE_RATE) * self.appearance
                self.appearance = mixed.astype(np.float32)


@dataclass
class TrackStep:
    pairs: list[tuple[int, int]]  # (row, track id), in row order
    ended: list[int]
    relinked: list[int] = field(default_factory=list)


class BatchTracker:
    """Feed `update` every frame of one video in order. Not thread-safe."""

    def __init__(self, config: TrackerConfig, relink_gap: int = RELINK_GAP) -> None:
        self._buffer = config.lost_track_buffer
        self._min_iou = config.min_iou
        self._activation = config.activation_threshold
        self._relink_gap = max(relink_gap, config.lost_track_buffer)
        self._tracks: list[_Track] = []
        self._next_id = 1

    def update(self, frame: int, found: list[Observation], cut: bool = False) -> TrackStep:
        ended: list[int] = []
        if cut:
            ended = [t.track_id for t in self._tracks]
            self._tracks = []
        matched: dict[int, _Track] = {}  # row -> track
        recent = [t for t in self._tracks if frame - t.last <= self._buffer + 1]
        for row, track in self._match_overlap(frame, found, recent):
            matched[row] = track
        left_rows = [r for r in range(len(found)) if r not in matched]
        taken = {id(t) for t in matched.values()}
        lost = [t for t in self._tracks if id(t) not in taken and frame - t.fresh <= self._relink_gap]
        relinked = []
        for row, track in self._match_relink(frame, found, left_rows, lost):
            matched[row] = track
            relinked.append(track.track_id)
        for row, obs in enumerate(found):
            if row in matched or obs.score < self._activation:
                continue
            track = _Track(self._next_id, obs.box, frame, obs.box, frame, None)
            self._next_id += 1
            self._tracks.append(track)
            matched[row] = track
        for row, track in matched.items():
            track.update(frame, found[row])
        alive = []
        for track in self._tracks:
            if frame - track.last > self._relink_gap:
                ended.append(track.track_id)
            else:
                alive.append(track)
        self._tracks = alive
        pairs = sorted((row, track.track_id) for row, track in matched.items())
        return TrackStep(pairs, sorted(ended), sorted(relinked))

    def finish(self) -> list[int]:
        """End every track (end of the video)."""
        ended = sorted(t.track_id for t in self._tracks)
        self._tracks = []
        return ended

    def _match_overlap(
        self, frame: int, found: list[Observation], tracks: list[_Track]
    ) -> list[tuple[int, _Track]]:
        candidates = []
        for ti, track in enumerate(tracks):
            predicted = track.predicted(frame)
            for row, obs in enumerate(found):
                if not _similar_size(track.box, obs.box):
                    continue  # a small face swallowed by a near one (hamilton: audience -> performer)
                overlap = max(_iou(track.box, obs.box), _iou(predicted, obs.box))
                if overlap >= self._min_iou:
                    candidates.append((-overlap, ti, row))
        return [(row, tracks[ti]) for ti, row in _greedy(candidates)]

    def _match_relink(
        self, frame: int, found: list[Observation], rows: list[int], tracks: list[_Track]
    ) -> list[tuple[int, _Track]]:
        candidates = []
        for ti, track in enumerate(tracks):
            gap = frame - track.fresh
            limit = min(RELINK_BASE + RELINK_PER_FRAME * gap, RELINK_MAX)
            for row in rows:
                obs = found[row]
                if obs.held:
                    continue
                if not _similar_size(track.fresh_box, obs.box):
                    continue
                size_t, size_d = _size(track.fresh_box), _size(obs.box)
                centre = _centre(obs.box)
                distance = min(
                    float(np.linalg.norm(centre - _centre(track.predicted(frame)))),
                    float(np.linalg.norm(centre - _centre(track.fresh_box))),
                ) / max(size_t, size_d)
                if distance > limit:
                    continue
                alike = 0.5
                if track.appearance is not None and obs.appearance is not None:
                    alike = similarity(track.appearance, obs.appearance)
                    if alike < RELINK_MIN_SIMILARITY:
                        continue
                log.debug(
                    "relink candidate: track %d -> row %d at frame %d: gap %d, distance %.2f of %.2f, "
                    "similarity %.2f",
                    track.track_id,
                    row,
                    frame,
                    gap,
                    distance,
                    limit,
                    alike,
                )
                candidates.append((distance / limit + (1.0 - alike), ti, row))
        return [(row, tracks[ti]) for ti, row in _greedy(candidates)]


def _greedy(candidates: list[tuple[float, int, int]]) -> list[tuple[int, int]]:
    """(track index, row) pairs, cheapest first, each used once."""
    used_t: set[int] = set()
    used_r: set[int] = set()
    pairs = []
    for _, ti, row in sorted(candidates):
        if ti in used_t or row in used_r:
            continue
        used_t.add(ti)
        used_r.add(row)
        pairs.append((ti, row))
    return pairs


def _similar_size(a: FloatArray, b: FloatArray) -> bool:
    size_a, size_b = _size(a), _size(b)
    return max(size_a, size_b) <= SIZE_RATIO_MAX * min(size_a, size_b)


def _centre(box: FloatArray) -> FloatArray:
    return ((box[:2] + box[2:]) / 2).astype(np.float32)


def _size(box: FloatArray) -> float:
    return float(max(box[2] - box[0], box[3] - box[1], 1e-3))


def _iou(a: FloatArray, b: FloatArray) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = float(w * h)
    union = float((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])) - inter
    return inter / union if union > 0 else 0.0
