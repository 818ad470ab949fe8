"""Per-camera face tracking with lifecycle events.

Association is `trackers.ByteTrackTracker` (Roboflow, Apache-2.0): maintained, tested against
MOT benchmarks, two-stage matching that keeps low-score faces attached to their track.
We chose it over supervision's older ByteTrack (same authors, being replaced by `trackers`)
and over a hand-written IoU tracker (no Kalman prediction, more id switches). This module only
adds what the library lacks: started/ended events and persistent per-camera ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import supervision as sv
from trackers import ByteTrackTracker

from vigil.live.tracking_config import TrackerConfig
from vigil.types import Detections


@dataclass
class TrackUpdate:
    """Tracked faces of one frame (untracked ones removed) and lifecycle changes."""

    detections: Detections
    started: list[int] = field(default_factory=list)
    ended: list[int] = field(default_factory=list)


class FaceTracker:
    """Not thread-safe: owned by one camera's analysis thread."""

    def __init__(self, config: TrackerConfig) -> None:
        # frame_rate=30 makes lost_track_buffer count detection passes one-for-one: the
        # tracker advances only on frames we detect on, whatever the analysis rate.
        self._tracker = ByteTrackTracker(
            lost_track_buffer=config.lost_track_buffer,
            frame_rate=30.0,
            track_activation_threshold=config.activation_threshold,
            minimum_consecutive_frames=config.min_consecutive,
            minimum_iou_threshold=config.min_iou,
            high_conf_det_threshold=config.activation_threshold,
        )
        self._alive: set[int] = set()

    @property
    def alive(self) -> set[int]:
        return set(self._alive)

    def update(self, found: Detections) -> TrackUpdate:
        tracked = self._tracker.update(_to_supervision(found))
        ids = np.asarray(tracked.tracker_id, dtype=np.int64)
        order = np.asarray(tracked.data.get("row", np.empty(0, np.int64)), dtype=np.int64)
        result = found[order[ids >= 0]] if len(order) else Detections.empty(_lm(found))
        result.track_id = ids[ids >= 0]
        now_alive = {int(t.tracker_id) for t in self._tracker.tracks if t.tracker_id >= 0}
        seen = {int(i) for i in result.track_id}
        started = sorted(seen - self._alive)
        ended = sorted(self._alive - now_alive - seen)
        self._alive = (self._alive | seen) - set(ended)
        return TrackUpdate(result, started, ended)

    def finish(self) -> list[int]:
        """End every live track (end of stream, a hard cut); ids stay unique: the tracker goes on
        numbering from where it was."""
        ended = sorted(self._alive)
        self._alive.clear()
        self._tracker.tracks = []
        return ended


def _lm(found: Detections) -> int | None:
    return None if found.landmarks is None else found.landmarks.shape[1]


def _to_supervision(found: Detections) -> sv.Detections:
    # Only the row index travels through the tracker; we re-index our own arrays after.
    return sv.Detections(
        xyxy=found.xyxy.astype(np.float32),
        confidence=found.score.astype(np.float32),
        data={"row": np.arange(len(found), dtype=np.int64)},
    )
