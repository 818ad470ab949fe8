"""Activity of a live camera, drawn from the frames the camera pipeline already decodes.

The pipeline's analysis thread offers each frame (`offer`, a few microseconds); one is kept every
`live_interval_s` and analysed on this camera's own activity thread, so the face pipeline never
waits for it and frames are never decoded twice. Audio samples (the camera's stream or a
microphone) are fed by time with `feed_audio`. Every `hop_s` the last `window_s` of cues are
classified, the online timeline (online.py) keeps the current state, and each closed segment
goes to the sink (the store), as does the state still going on, every few seconds.

The camera's sound (live_audio.py: the stream's own audio track, decoded from the packets its
decode thread demuxes, or a microphone) is analysed on a thread of its own and fed here; the
decode thread's packets also fill the clip ring of `/api/save-clip` (ring.py, clip.py). `tap` is
what the camera pipeline hands to its decode thread for both."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from vigil.activity.clip import MicrophoneSound
from vigil.activity.cues import AudioSample, VisualSample
from vigil.activity.features import window_features
from vigil.activity.frame_clips import FrameEncoder
from vigil.activity.labels import Activity
from vigil.activity.live_audio import AudioStatus, MicrophoneFeed, StreamAudio
from vigil.activity.media_tap import CameraMedia
from vigil.activity.microphone import DeviceSelector
from vigil.activity.online import OnlineSegment, OnlineTimeline
from vigil.activity.result import CueSummary, cue_summary
from vigil.activity.ring import PacketRing
from vigil.activity.settings import ActivitySettings, AudioSource
from vigil.activity.visitors import SegmentVisitors
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
    sound: AudioStatus | None = None  # the sound asked and heard now (None: not known here)


@dataclass(frozen=True)
class LiveSegment:
    camera: str
    activity: Activity
    start: float  # wall clock
    end: float
    confidence: float
    cues: CueSummary
    final: bool = False  # the camera stopped: nothing follows this segment
    visitor_id: uuid.UUID | None = None  # the recognised person, when clear (visitors.py)


SegmentSink = Callable[[LiveSegment], None]


class LiveActivity:
    def __init__(
        self,
        camera: str,
        options: ActivitySettings,
        model_dirs: Sequence[Path],
        classifier: WindowClassifier,
        sink: SegmentSink | None = None,
        audio: AudioSource = "none",
        microphone: DeviceSelector = None,
        encode_frames: bool = False,
    ) -> None:
        """`audio`: where the sound comes from (`microphone`: the device `microphone` selects).
        The clip ring is kept when `options.clip_buffer_s` > 0: from the source's packets, or with
        `encode_frames` (a source without packets: USB) from the frames the decode thread hands
        to `tap`, encoded at the camera's rate up to `options.clip_max_fps`."""
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
        self.visitors = SegmentVisitors()  # fed by the camera's face pipeline (an event sink)
        self.clips = PacketRing(options.clip_buffer_s) if options.clip_buffer_s > 0 else None
        self._sound: StreamAudio | MicrophoneFeed | None = None
        stream_audio = None
        if audio == "stream":
            self._sound = stream_audio = StreamAudio(camera, self.feed_audio, self._model_dirs)
        elif audio == "microphone":
            keep = max(30.0, options.clip_buffer_s + 5.0)  # a clip's sound too
            self._sound = MicrophoneFeed(camera, self.feed_audio, self._model_dirs, microphone, keep)
        self._encoder: FrameEncoder | None = None
        if self.clips is not None and encode_frames:
            self._encoder = FrameEncoder(self.clips, camera, options.clip_max_fps)
        wanted = self.clips is not None or stream_audio is not None
        self.tap = CameraMedia(self.clips, stream_audio, camera, self._encoder) if wanted else None

    def start(self) -> None:
        if self._encoder is not None:
            self._encoder.start()
        if self._sound is not None:
            self._sound.start()
        self._thread.start()

    def stop(self) -> None:
        self._frames.put(None, droppable=False)
        if self._encoder is not None:
            self._encoder.stop()
        if self._sound is not None:
            self._sound.stop()

    def join(self, timeout: float | None = None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        self._thread.join(timeout)
        for part in (self._sound, self._encoder):
            if part is not None:
                part.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        if self.clips is not None:
            self.clips.close()

    @property
    def clip_sound(self) -> MicrophoneSound | None:
        """A clip's sound when it is not the stream's: the microphone's, by wall clock."""
        return self._sound.between if isinstance(self._sound, MicrophoneFeed) else None

    def audio_samples(self) -> list[AudioSample]:
        """The sound cues kept for the windows, `t` in wall-clock seconds."""
        with self._lock:
            origin = self._origin or 0.0
            return [
                AudioSample(s.t + origin, s.duration, s.voice, s.loudness_db, s.events) for s in self._audio
            ]

    @property
    def audio(self) -> AudioStatus:
        """Where the sound comes from and whether it is heard."""
        if self._sound is None:
            return AudioStatus("none", False, 0, 0, None)
        return self._sound.status()

    @property
    def state(self) -> LiveState:
        """The last decision, with the sound as it is now (heard before the first decision too)."""
        return replace(self._state, sound=self.audio)

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
        """Audio samples whose `t` counts from the wall-clock time `origin_wall` (0: `t` is
        wall-clock time, as a microphone's)."""
        if not samples:
            return
        with self._lock:
            base = self._origin_for(origin_wall + samples[0].t)
            self._audio.extend(
                AudioSample(s.t + origin_wall - base, s.duration, s.voice, s.loudness_db, s.events)
                for s in samples
            )
            newest = self._audio[-1].t
            while self._audio and self._audio[0].t < newest - _KEEP_S:  # also without frames
                self._audio.popleft()

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
        start, end = self._origin + segment.start, self._origin + segment.end
        live = LiveSegment(
            self.camera,
            segment.activity,
            start,
            end,
            segment.confidence,
            cue_summary([features]),
            final,
            self.visitors.during(start, end),
        )
        try:
            self.sink(live)
        except Exception:  # the store being down must not stop the analysis
            log.exception("%s: cannot record an activity segment", self.camera)

    def _close_open_segment(self) -> None:
        current = self._timeline.current
        if current is not None and current.end > current.start:
            self._emit(current, final=True)
