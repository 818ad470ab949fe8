"""One camera: decode thread -> frame queue -> analysis thread -> work queue -> recognition thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from vigil.activity.live import LiveActivity
from vigil.config import CameraConfig, VigilSettings
from vigil.detect import FaceDetector
from vigil.embed import FaceEmbedder
from vigil.live.analyse import AnalysisWorker, LatestResult, WorkQueue
from vigil.live.counters import CounterSnapshot, StageCounters
from vigil.live.dead_zones import DeadZones
from vigil.live.decode import DecodeWorker
from vigil.live.events import EventSink, Identifier
from vigil.live.gating import RecognitionGate
from vigil.live.health import HealthSnapshot, SourceHealth, SourceState
from vigil.live.motion import MotionGate
from vigil.live.queues import DropOldestQueue, TwoLaneQueue
from vigil.live.recognise import RecognitionWorker
from vigil.live.tracking import FaceTracker
from vigil.sources import source_kind
from vigil.types import Frame


@dataclass(frozen=True)
class CameraStatus:
    health: HealthSnapshot
    counters: CounterSnapshot
    progress: float | None  # 0..1 for files of known length


class CameraPipeline:
    def __init__(
        self,
        name: str,
        camera: CameraConfig,
        settings: VigilSettings,
        detector: FaceDetector,
        embedder: FaceEmbedder,
        sinks: Sequence[EventSink],
        clock: Callable[[], float] = time.time,
        identifier: Identifier | None = None,
        activity: LiveActivity | None = None,
    ) -> None:
        self.name = name
        self.activity = activity  # the person's activity, on its own thread (vigil/activity/live.py)
        self.stop_event = threading.Event()
        self.counters = StageCounters()
        self.health = SourceHealth(name, camera.url, source_kind(camera.url))
        frames: DropOldestQueue[Frame | None] = DropOldestQueue(settings.runtime.frame_queue)
        work: WorkQueue = TwoLaneQueue(settings.runtime.embed_queue)
        self.decoder = DecodeWorker(
            camera,
            name,
            camera.fps or settings.analysis_fps,
            settings.realtime,
            settings.runtime,
            settings.retry_backoff,
            frames,
            self.counters,
            self.health,
            self.stop_event,
            clock,
            tap=None if activity is None else activity.tap,  # clip ring, stream audio
        )
        self.analyser = AnalysisWorker(
            name,
            detector,
            FaceTracker(settings.tracker),
            RecognitionGate(settings.gating),
            MotionGate(settings.motion, ignore=[*camera.dead_zones, *camera.motion_mask]),
            DeadZones(camera.dead_zones),
            settings.quality,
            frames,
            work,
            self.counters,
            self.health,
            tap=None if activity is None else activity.offer,
        )
        if activity is not None:  # its segments name the visitor the faces were assigned to
            sinks = [*sinks, activity.visitors]
        self.recogniser = RecognitionWorker(embedder, work, sinks, self.counters, identifier)
        self._threads = [
            threading.Thread(target=self.decoder.run, name=f"{name}-decode", daemon=True),
            threading.Thread(target=self.analyser.run, name=f"{name}-analyse", daemon=True),
            threading.Thread(target=self.recogniser.run, name=f"{name}-recognise", daemon=True),
        ]

    def start(self) -> None:
        if self.activity is not None:
            self.activity.start()
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Ask the decode thread to stop; the other stages drain and finish on their own."""
        self.stop_event.set()

    def join(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(remaining)
        if self.activity is not None and not self.running:  # after the last frame was offered
            self.activity.stop()
            self.activity.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not self.running

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    @property
    def latest(self) -> LatestResult | None:
        return self.analyser.latest

    def status(self) -> CameraStatus:
        duration = self.decoder.duration_s
        progress = None
        if duration:
            progress = min(1.0, self.counters.stream_s / duration)
            if self.health.state == SourceState.FINISHED and not self.running:
                progress = 1.0
        return CameraStatus(self.health.snapshot(), self.counters.snapshot(), progress)
