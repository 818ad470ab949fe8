"""Decode thread: open the source, score every frame for hard cuts, sample frames by timestamp,
reconnect with backoff."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Protocol

from vigil.config import CameraConfig, RuntimeConfig
from vigil.errors import SourceError, SourceUnavailable, SourceUnsupported
from vigil.live.counters import StageCounters
from vigil.live.cuts import ShotCounter
from vigil.live.health import SourceHealth, SourceState
from vigil.live.queues import DropOldestQueue
from vigil.live.sampling import FrameSampler, Pacer
from vigil.redact import redact
from vigil.sources import FrameSource, PacketTap, RawFrame, open_source
from vigil.types import Frame

log = logging.getLogger(__name__)

END = None  # end-of-stream marker on the frame queue


class MediaTap(PacketTap, Protocol):
    """A packet tap that also learns when the pipeline says each sampled frame was seen, so the
    stream's audio gets wall-clock times on the video's own timeline (live activity)."""

    def frame_time(self, source_pts: float, wall: float) -> None:
        """A sampled frame: its pts as the source gave it (seconds) and its `Frame.wall_ts`."""

    @property
    def wants_frames(self) -> bool:
        """Whether `decoded` is to see every decoded frame (a USB camera's clip encoder)."""

    def decoded(self, raw: RawFrame, wall: float) -> None:
        """Every decoded frame, sampled or not, with its wall-clock time."""


class DecodeWorker:
    def __init__(
        self,
        camera: CameraConfig,
        name: str,
        fps: float,
        realtime: bool,
        runtime: RuntimeConfig,
        retry_backoff_s: float,
        frames: DropOldestQueue[Frame | None],
        counters: StageCounters,
        health: SourceHealth,
        stop: threading.Event,
        clock: Callable[[], float] = time.time,
        tap: MediaTap | None = None,
    ) -> None:
        self.camera, self.name, self.runtime = camera, name, runtime
        self.tap = tap  # a clip's packets and the stream's audio (live activity)
        self.realtime, self.retry_backoff_s = realtime, retry_backoff_s
        self.frames, self.counters, self.health, self.stop = frames, counters, health, stop
        self.clock = clock
        self.sampler = FrameSampler(fps)
        self.pacer = Pacer()
        self.shots = ShotCounter()  # kept across reconnects: a changed picture after one is a cut
        self.duration_s: float | None = None
        self._index = 0
        self._pts_offset = 0.0
        self._stream_pts_start: float | None = None
        self._wall_origin: float | None = None

    def run(self) -> None:
        attempt = 0
        try:
            while not self.stop.is_set():
                source = open_source(self.camera.url, self.runtime, 1.0 / self.sampler.interval, self.tap)
                decoded_before = self.counters.frames_decoded
                try:
                    if self._play(source):
                        continue  # looped file: play again
                    break
                except SourceUnsupported as exc:
                    self._fail(exc)
                    break
                except SourceUnavailable as exc:
                    if not source.is_live:
                        self._fail(exc)
                        break
                    # Back off from the start again once a connection delivered frames; a server
                    # that accepts and drops at once keeps backing off.
                    attempt = 1 if self.counters.frames_decoded > decoded_before else attempt + 1
                    self._wait_before_retry(exc, attempt)
                finally:
                    source.close()
                    self.counters.corrupt_packets += getattr(source, "corrupt_packets", 0)
        finally:
            if self.health.state not in (SourceState.FAILED, SourceState.FINISHED):
                self.health.state = SourceState.STOPPED
            self.frames.put(END, droppable=False)

    def _play(self, source: FrameSource) -> bool:
        """Read until end or error; True when the caller should play the source again."""
        self.health.state = SourceState.CONNECTING
        source.open()
        self.duration_s = source.duration_s
        self.health.state = SourceState.RUNNING
        self.sampler.reset()
        self.pacer.reset()
        # Keep pts increasing across reconnects and loops: tracks and motion use it.
        if self.counters.frames_decoded:
            self._pts_offset = self.counters.stream_s + self.sampler.interval
        self._stream_pts_start = None
        for raw in self._timed(source):
            if self.stop.is_set():
                return False
            if self.health.last_error and self.health.state == SourceState.RUNNING:
                self.health.last_error = None  # recovered: frames flow again
            self._on_frame(raw, source.is_live)
        if source.is_live:
            raise SourceUnavailable(f"{self.name}: stream ended")
        if self.camera.loop and not self.stop.is_set():
            self.shots.force()  # the end joined to the start: even a still picture is a new shot
            return True
        self.health.state = SourceState.FINISHED
        return False

    def _timed(self, source: FrameSource) -> Iterator[RawFrame]:
        iterator = iter(source.frames())
        while True:
            start = time.perf_counter()
            raw = next(iterator, None)
            self.counters.ms_decode += (time.perf_counter() - start) * 1000
            if raw is None:
                return
            yield raw

    def _on_frame(self, raw: RawFrame, live: bool) -> None:
        if self._stream_pts_start is None:
            self._stream_pts_start = raw.pts
        pts = self._pts_offset + raw.pts - self._stream_pts_start
        self.counters.stream_s = pts
        self.counters.frames_decoded += 1
        self.health.decoded.tick()
        start = time.perf_counter()
        if self.shots.observe(raw):  # every decoded frame, sampled or not
            self.counters.shot_cuts += 1
        self.counters.ms_decode += (time.perf_counter() - start) * 1000
        if self.realtime and not live:
            self.pacer.wait(pts, self.stop)
        wall: float | None = None
        if self.tap is not None and self.tap.wants_frames:  # a USB camera's clips: every frame
            wall = self._wall_ts(pts, live)
            self.tap.decoded(raw, wall)
        if not self.sampler.take(pts):
            return
        start = time.perf_counter()
        image = raw.to_bgr()
        self.counters.ms_decode += (time.perf_counter() - start) * 1000
        if wall is None:
            wall = self._wall_ts(pts, live)
        if self.tap is not None:
            self.tap.frame_time(raw.pts, wall)
        self.health.last_frame_ts = wall
        frame = Frame(image=image, pts=pts, wall_ts=wall, index=self._index, shot=self.shots.shot)
        self._index += 1
        self.counters.frames_sampled += 1
        if live or self.realtime:
            if self.frames.put(frame) is not None:
                self.counters.frames_dropped += 1
        elif not self.frames.put_blocking(frame, self.stop):
            self.counters.frames_dropped += 1  # stopping: this frame will not be analysed

    def _wall_ts(self, pts: float, live: bool) -> float:
        """Live, and files played in real time: the clock when the frame was released (a looped
        file's pts gains a sample interval at each loop, so clock at start + pts would drift ahead
        of the clock). Other files: clock at start + stream time, a consistent timeline when
        analysed faster than real time."""
        if live or self.realtime:
            return self.clock()
        if self._wall_origin is None:
            self._wall_origin = self.clock() - pts
        return self._wall_origin + pts

    def _fail(self, exc: SourceError) -> None:
        self.health.state = SourceState.FAILED
        self.health.last_error = redact(str(exc))
        log.error("camera %s failed: %s", self.name, exc)

    def _wait_before_retry(self, exc: SourceError, attempt: int) -> None:
        delay = min(self.retry_backoff_s * 2 ** (attempt - 1), self.runtime.max_backoff_s)
        self.health.state = SourceState.RECONNECTING
        self.health.reconnects += 1
        self.health.last_error = redact(str(exc))
        log.warning("camera %s: %s; reconnecting in %.1f s", self.name, exc, delay)
        self.stop.wait(delay)
