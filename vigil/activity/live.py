"""Activity of a live camera, drawn from the frames the camera pipeline already decodes.

The pipeline's analysis thread offers each frame (`offer`, a few microseconds); one is kept every
`live_interval_s` and analysed on this camera's own activity thread, so the face pipeline never
waits for it and frames are never decoded twice. Audio samples (the camera's stream or a
microphone) are fed by time with `feed_audio`. Every `hop_s` the last `window_s` of cues are
classified, the online timeline (online.py) keeps the current state, and each closed segment
goes to the sink (the store), as does the state still going on, every few seconds."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vigil.activity.cues import AudioSample, VisualSample
from vigil.activity.features import window_features
from vigil.activity.labels import Activity
from vigil.activity.online import OnlineSegment, OnlineTimeline
from vigil.activity.result import CueSummary, cue_summary
from vigil.activity.settings import ActivitySettings
from vigil.live.queues import DropOldestQueue
from vigil.types import Frame

if TYPE_CHECKING:  # the classifier module imports scikit-learn: only when a camera uses it
    from vigil.activity.classify import WindowClassifier
    from vigil.activity.vision import VisualCueExtractor

__all__ = ["LiveActivity", "LiveSegment", "LiveState"]

log = logging.getLogger(__name__)
_KEEP_S = 120.0  # cues kept for the windows (and a little history)
# The state still going on is sent this often, so an hour asleep is in the history (and in the
# 5-minute reports) while it lasts, not only when it ends.
_UPDATE_EVERY_S = 10.0


@dataclass(frozen=True)
class LiveState:
    camera: str
    activity: Activity | None  # None until the first window is full
    confidence: float
    since: float | None  # wall-clock start of the current activity
    updated: float | None  # wall clock of the last decision
    cues: CueSummary | None


@dataclass(frozen=True)
class LiveSegment:
    camera: str
    activity: Activity
    start: float  # wall clock
    end: float
    confidence: float
    cues: CueSummary
    final: bool = False  # the camera stopped: nothing follows this segment


SegmentSink = Callable[[LiveSegment], None]


class LiveActivity:
    def __init__(
        self,
        camera: str,
        options: ActivitySettings,
        model_dirs: Sequence[Path],
        classifier: WindowClassifier,
        sink: SegmentSink | None = None,
    ) -> None:
        self.camera, self.options, self.classifier, self.sink = camera, options, classifier, sink
        self._model_dirs = list(model_dirs)
        self._frames: DropOldestQueue[Frame | None] = DropOldestQueue(1)
        self._visual: deque[VisualSample] = deque()
        self._audio: deque[AudioSample] = deque()
        self._lock = threading.Lock()
        self._timeline = OnlineTimeline(options)
        self._origin: float | None = None  # wall clock of t = 0 (the extractor wants growing times)
        self._next_frame = 0.0
        self._next_decision: float | None = None
        self._last_update = float("-inf")
        self._state = LiveState(camera, None, 0.0, None, None, None)
        self._thread = threading.Thread(target=self._run, name=f"{camera}-activity", daemon=True)
        self.samples = 0
        self.busy_s = 0.0  # time spent analysing (the cost per camera)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._frames.put(None, droppable=False)

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    @property
    def state(self) -> LiveState:
        return self._state

    def due(self, frame: Frame) -> bool:
        """Whether `frame` is the next one to analyse (and books the one after it)."""
        if frame.wall_ts < self._next_frame:
            return False
        self._next_frame = frame.wall_ts + self.options.live_interval_s
        return True

    def offer(self, frame: Frame) -> None:
        """From the pipeline's analysis thread: keeps the frame when a sample is due."""
        if self.due(frame):
            self._frames.put(frame)

    def analyse(self, extractor: VisualCueExtractor, frame: Frame) -> None:
        """Analyses one frame on the caller's thread (the activity thread; tests, benchmarks)."""
        started = time.perf_counter()
        self._sample(extractor, frame)
        self.busy_s += time.perf_counter() - started

    def finish(self) -> None:
        """Closes the open segment (sent to the sink)."""
        self._close_open_segment()

    def feed_audio(self, samples: Sequence[AudioSample], origin_wall: float) -> None:
        """Audio samples whose `t` counts from the wall-clock time `origin_wall`."""
        with self._lock:
            base = self._origin_for(origin_wall)
            self._audio.extend(
                AudioSample(s.t + origin_wall - base, s.duration, s.voice, s.loudness_db, s.events)
                for s in samples
            )

    def _origin_for(self, wall: float) -> float:
        if self._origin is None:
            self._origin = wall
        return self._origin

    def _run(self) -> None:
        from vigil.activity.vision import VisualCueExtractor  # heavy; on this thread only

        try:
            extractor = VisualCueExtractor(self._model_dirs)
        except Exception:
            log.exception("%s: activity analysis cannot start", self.camera)
            return
        try:
            while (frame := self._frames.get()) is not None:
                self.analyse(extractor, frame)
        finally:
            extractor.close()
            self.finish()

    def _sample(self, extractor: VisualCueExtractor, frame: Frame) -> None:
        with self._lock:
            t = frame.wall_ts - self._origin_for(frame.wall_ts)
        sample = extractor.sample(frame.image, t)
        self.samples += 1
        with self._lock:
            self._visual.append(sample)
            while self._visual and self._visual[0].t < t - _KEEP_S:
                self._visual.popleft()
            while self._audio and self._audio[0].t < t - _KEEP_S:
                self._audio.popleft()
            if self._next_decision is None:
                self._next_decision = t + self.options.window_s  # the first window must fill up
            if t < self._next_decision:
                return
            self._next_decision = t + self.options.hop_s
            start = t - self.options.window_s
            features = window_features(start, t + 1e-6, list(self._visual), list(self._audio))
        decision = self.classifier.decide([features])[0]
        closed = self._timeline.push(decision, t)
        current = self._timeline.current
        assert current is not None and self._origin is not None
        self._state = LiveState(
            self.camera,
            current.activity,
            current.confidence,
            self._origin + current.start,
            frame.wall_ts,
            cue_summary([features]),
        )
        if closed is not None:
            self._emit(closed)
        if closed is not None or t - self._last_update >= _UPDATE_EVERY_S:
            self._last_update = t
            self._emit(current)

    def _emit(self, segment: OnlineSegment, final: bool = False) -> None:
        if self.sink is None or self._origin is None:
            return
        with self._lock:
            inside = [s for s in self._visual if segment.start <= s.t <= segment.end]
            audio = list(self._audio)
        features = window_features(segment.start, segment.end + 1e-6, inside, audio)
        live = LiveSegment(
            self.camera,
            segment.activity,
            self._origin + segment.start,
            self._origin + segment.end,
            segment.confidence,
            cue_summary([features]),
            final,
        )
        try:
            self.sink(live)
        except Exception:  # the store being down must not stop the analysis
            log.exception("%s: cannot record an activity segment", self.camera)

    def _close_open_segment(self) -> None:
        current = self._timeline.current
        if current is not None and current.end > current.start:
            self._emit(current, final=True)
