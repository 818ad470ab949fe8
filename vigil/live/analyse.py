"""Analysis thread: shot change -> motion gate -> detect -> dead zones -> track -> quality -> gating."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from vigil.config import QualityConfig
from vigil.detect import FaceDetector
from vigil.embed import FaceCrop
from vigil.live.counters import StageCounters
from vigil.live.dead_zones import DeadZones
from vigil.live.events import SourceFrame, TrackEnded, TrackStarted
from vigil.live.gating import RecognitionGate
from vigil.live.health import SourceHealth
from vigil.live.motion import MotionGate
from vigil.live.quality import face_quality
from vigil.live.queues import DropOldestQueue, TwoLaneQueue
from vigil.live.tracking import FaceTracker
from vigil.types import Detections, Frame


@dataclass
class EmbedRequest:
    camera: str
    track_id: int
    ts: float
    pts: float
    quality: float
    crop: FaceCrop
    first: bool = True  # the track's first face (urgent lane) or a better one (bulk lane)
    # The frame itself (a reference: no copy) for an alert's snapshot; held only while the request
    # waits, so at most the queue's bound of frames per camera (faces of one frame share it).
    source: SourceFrame | None = None


WorkItem = EmbedRequest | TrackStarted | TrackEnded | None  # None: end of stream
WorkQueue = TwoLaneQueue[WorkItem]


@dataclass
class LatestResult:
    """The newest analysed frame's tracked faces (for live overlays; no second decode) and every
    face the detector found on it, dead zones and not-yet-tracked ones included (what the live
    privacy mode covers); `faces` is None when this frame's faces were not searched."""

    frame: Frame
    detections: Detections
    faces: Detections | None = None


class AnalysisWorker:
    def __init__(
        self,
        name: str,
        detector: FaceDetector,
        tracker: FaceTracker,
        gate: RecognitionGate,
        motion: MotionGate,
        dead_zones: DeadZones,
        quality: QualityConfig,
        frames: DropOldestQueue[Frame | None],
        work: WorkQueue,
        counters: StageCounters,
        health: SourceHealth,
        tap: Callable[[Frame], None] | None = None,
    ) -> None:
        self.name, self.detector, self.tracker, self.gate = name, detector, tracker, gate
        self.tap = tap  # sees every frame before the motion gate (live activity: stillness counts)
        self.motion, self.dead_zones, self.quality = motion, dead_zones, quality
        self.frames, self.work, self.counters, self.health = frames, work, counters, health
        self.latest: LatestResult | None = None
        self._last: Frame | None = None
        self._shot = 0  # the decoder's shot number of the last analysed frame

    def run(self) -> None:
        try:
            while (frame := self.frames.get()) is not None:
                self._analyse(frame)
        finally:
            last_ts = self._last.wall_ts if self._last else time.time()
            last_pts = self._last.pts if self._last else 0.0
            for track_id in self.tracker.finish():
                self._end(track_id, last_ts, last_pts)
            self.work.put_barrier(None, before=lambda _: True)  # end of stream after every request

    def _analyse(self, frame: Frame) -> None:
        if frame.shot != self._shot:
            self._end_shot(frame.shot)
            if self.latest is not None:  # the overlay must not show the ended tracks
                self.latest = LatestResult(frame, Detections.empty())
        self._last = frame
        self.health.analysed.tick()
        if self.tap is not None:
            self.tap(frame)
        start = time.perf_counter()
        # A cut changes the whole picture, so the motion gate lets it through unless the change
        # is all in masked areas, where there is nothing to detect anyway.
        gate = self.motion.check(frame.image, frame.pts)
        self.counters.ms_motion += (time.perf_counter() - start) * 1000
        if not gate.run_detection:
            self.counters.motion_skipped += 1  # nothing moved: tracks stay as they are
            return
        start = time.perf_counter()
        found = self.detector.detect(frame.image)
        height, width = frame.image.shape[:2]
        kept = self.dead_zones.filter(found, height, width)
        self.counters.ms_detect += (time.perf_counter() - start) * 1000
        self.counters.frames_detected += 1
        self.counters.faces_detected += len(kept)
        self.counters.faces_in_dead_zones += len(found) - len(kept)
        start = time.perf_counter()
        update = self.tracker.update(kept)
        self.counters.ms_track += (time.perf_counter() - start) * 1000
        tracked = update.detections
        for track_id in update.started:
            row = int((tracked.track_id == track_id).argmax())
            self._start(frame, track_id, tracked.xyxy[row].tolist())
        self._score_and_gate(frame, tracked)
        for track_id in update.ended:
            self._end(track_id, frame.wall_ts, frame.pts)
        self.latest = LatestResult(frame, tracked, found)

    def _end_shot(self, shot: int) -> None:
        """A hard cut (or a file's loop point) since the last analysed frame: no face can be
        followed across it, however well its box overlaps one of the new shot. Every track ends
        at the last frame it could have been seen in; the next faces get new ids."""
        self._shot = shot
        if self._last is None:
            return
        for track_id in self.tracker.finish():
            self._end(track_id, self._last.wall_ts, self._last.pts)

    def _score_and_gate(self, frame: Frame, tracked: Detections) -> None:
        start = time.perf_counter()
        for row in range(len(tracked)):
            box = tracked.xyxy[row]
            landmarks = None if tracked.landmarks is None else tracked.landmarks[row]
            quality = face_quality(frame.image, box, landmarks, float(tracked.score[row]), self.quality).total
            tracked.quality[row] = quality
            track_id = int(tracked.track_id[row])
            observation = self.gate.observe(track_id, quality, frame.wall_ts)
            if not (observation.best or observation.embed):
                continue
            crop = FaceCrop.cut(frame.image, box, landmarks)
            if observation.best:
                self.gate.keep_crop(track_id, crop.image)
            if observation.embed:
                first, source = observation.first, SourceFrame(frame.image, box.copy())
                self._request(
                    EmbedRequest(self.name, track_id, frame.wall_ts, frame.pts, quality, crop, first, source)
                )
        self.counters.ms_quality += (time.perf_counter() - start) * 1000

    def _request(self, request: EmbedRequest) -> None:
        """First faces go in the urgent lane: under load they pass improvements and are dropped last."""
        self.counters.embed_requests += 1
        victim = self.work.put(request) if request.first else self.work.put_bulk(request)
        if isinstance(victim, EmbedRequest):  # only requests are droppable
            self._count_drop(victim)

    def _count_drop(self, victim: EmbedRequest) -> None:
        self.counters.embed_dropped += 1
        if victim.first:
            self.counters.embed_dropped_first += 1
        else:
            self.counters.embed_dropped_improvement += 1
        self.gate.withdraw(victim.track_id)  # a dropped first face: the track asks again

    def _start(self, frame: Frame, track_id: int, box: list[float]) -> None:
        self.counters.tracks_started += 1
        self.gate.start(track_id, frame.wall_ts)
        event = TrackStarted(camera=self.name, track_id=track_id, ts=frame.wall_ts, pts=frame.pts, box=box)
        self.work.put(event, droppable=False)

    def _end(self, track_id: int, ts: float, pts: float) -> None:
        state = self.gate.end(track_id)
        if state is None:
            return
        self.counters.tracks_ended += 1
        event = TrackEnded(
            camera=self.name,
            track_id=track_id,
            ts=ts,
            pts=pts,
            frames=state.frames,
            best_quality=state.best_quality,
            duration_s=max(0.0, ts - state.started_ts),
            best_crop=state.best_crop,
        )
        # The track's queued improvements are served before its end (per-track event order).
        self.work.put_barrier(event, before=lambda item: _requested_by(item, track_id))


def _requested_by(item: WorkItem, track_id: int) -> bool:
    return isinstance(item, EmbedRequest) and item.track_id == track_id
