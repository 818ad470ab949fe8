"""Sound for a live camera's activity: the camera stream's own audio track, or a microphone.

Stream audio (`StreamAudio`) is decoded on the camera's decode thread from the packets its source
demuxes anyway (same connection, PyAV), averaged to mono and resampled to 16 kHz; each chunk gets
the wall-clock time of the video frames around it (the pipeline's own pts -> wall mapping of its
sampled frames, so sound and picture share one timeline). The audio cues (VAD, loudness, YAMNet:
a few ms per second of sound) run on a thread of their own, fed through a bounded queue that
drops the oldest chunk when it falls behind, so the decode thread never waits for them.

A microphone (`MicrophoneFeed`) is recorded by microphone.py, whose samples are already stamped
with wall-clock time."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import av
import av.error
import numpy as np

from vigil.activity.audio import AudioAnalyzer
from vigil.activity.cues import AudioSample
from vigil.activity.microphone import (
    DeviceNotFound,
    DeviceSelector,
    MicrophoneCapture,
    MicrophoneError,
    PortAudioUnavailable,
)
from vigil.activity.settings import AudioSource
from vigil.activity.yamnet import RATE, YamNet, load_yamnet
from vigil.errors import ModelError
from vigil.live.queues import DropOldestQueue
from vigil.redact import redact

__all__ = ["AudioFeed", "AudioSource", "AudioStatus", "MicrophoneFeed", "SoundProblem", "StreamAudio"]

log = logging.getLogger(__name__)

AudioFeed = Callable[[Sequence[AudioSample], float], None]  # LiveActivity.feed_audio
QUEUE_CHUNKS = 400  # ~8 s of AAC frames: the analysis thread may lag this much before drops
MAX_FILL_S = 2.0  # shorter holes in the sound are heard as silence; longer ones restart the analysis
REANCHOR_S = 0.5  # the wall clock drifted this far from the sample count: restart from a new anchor
PENDING_CHUNKS = 200  # audio decoded before the first video frame gave the pts -> wall mapping
HOLD_S = 0.5  # sound waits at most this far ahead of the latest frame for that frame's mapping


# Why a camera that asked for sound hears none (the UI words each one; `AudioStatus.error` has the
# detail): the stream has no audio track, the microphone is not there (or PortAudio is not), the
# microphone failed (busy, or stopped while read), YAMNet is missing, or the analysis stopped.
SoundProblem = Literal["no_audio_track", "microphone_missing", "microphone_failed", "no_model", "failed"]


@dataclass(frozen=True)
class AudioStatus:
    """The sound a camera's live activity asked for and what it hears now. Its texts come from
    `redact` (an error may quote a URL with credentials). Travels with the activity's state
    (LiveState, a cluster actor's report) to GET /api/activity/live."""

    source: AudioSource  # what was asked: the camera's choice, or activity.live_audio
    active: bool  # sound is being analysed
    samples: int  # audio windows analysed
    dropped: int  # chunks the analysis could not keep up with
    error: str | None  # why there is no sound (no audio track, no microphone, no model), redacted
    problem: SoundProblem | None = None  # `error`'s kind
    heard: str | None = None  # what is heard now: "stream AAC 48 kHz", "microphone <name>"; None: nothing
    codec: str | None = None  # the stream's audio codec as FFmpeg names it ("aac")
    sample_rate: int | None = None  # the stream's audio rate (Hz), before resampling to 16 kHz
    device: str | None = None  # the microphone: its name once open, else the selector asked


def _khz(rate: int) -> str:
    return f"{rate / 1000:g} kHz"


def _asked(selector: DeviceSelector) -> str:
    return "the default input" if selector is None else str(selector)


@dataclass(frozen=True)
class _Pcm:
    generation: int  # bumped at each new connection
    pts: float  # stream time of the first sample (seconds)
    wall: float  # its wall-clock time
    pcm: np.ndarray  # 16 kHz mono float32


class StreamAudio:
    """The camera stream's first audio track, for live activity. `opened`/`packet`/`frame_time`
    are called on the decode thread (see vigil/live/decode.py's MediaTap); `start`/`stop` own
    the analysis thread."""

    def __init__(self, camera: str, feed: AudioFeed, model_dirs: Sequence[Path]) -> None:
        self.camera, self._feed, self._model_dirs = camera, feed, list(model_dirs)
        self._queue: DropOldestQueue[_Pcm | None] = DropOldestQueue(QUEUE_CHUNKS)
        self._thread = threading.Thread(target=self._run, name=f"{camera}-audio", daemon=True)
        self._generation = 0
        self._resampler: Any = None
        self._offset: float | None = None  # wall = stream time + offset
        self._pending: list[tuple[float, np.ndarray]] = []
        self.has_track: bool | None = None  # None until the source opened
        self.codec: str | None = None  # the audio track's, once opened
        self.sample_rate: int | None = None
        self.corrupt_packets = 0
        self.samples = 0
        self.error: str | None = None
        self.problem: SoundProblem | None = None  # set with `error`
        self._running = False

    # ------------------------------------------------------------ decode thread
    def opened(self, audio: Any | None) -> None:
        self._generation += 1
        self._offset = None
        self._pending.clear()
        self.has_track = audio is not None
        self.codec, self.sample_rate = None, None  # a reconnect may bring another track, or none
        if audio is not None:
            context = audio.codec_context  # the codec's own name ("mp3"), not its decoder's ("mp3float")
            self.codec = str(getattr(context.codec, "canonical_name", "") or context.name)
            self.sample_rate = int(context.sample_rate or 0) or None
        # The input's channel layout is kept; channels are averaged here (as for files: FFmpeg's
        # own downmix adds 3 dB to a sound present in both channels).
        self._resampler = av.AudioResampler(format="fltp", rate=RATE) if audio is not None else None

    def packet(self, packet: av.Packet[Any]) -> None:
        if self._resampler is None:
            return
        try:
            frames = packet.decode()
        except av.error.FFmpegError:
            self.corrupt_packets += 1
            return
        for frame in frames:
            for chunk in self._resampler.resample(frame):
                if chunk.time is None:
                    continue
                pcm = chunk.to_ndarray().astype(np.float32, copy=False).mean(axis=0, dtype=np.float32)
                self._emit(float(chunk.time), pcm)

    def frame_time(self, source_pts: float, wall: float) -> None:
        self._offset = wall - source_pts
        self._release(source_pts)

    def _emit(self, pts: float, pcm: np.ndarray) -> None:
        """Sound is held until a frame at or after its time gives the mapping: frames arrive in
        bursts (a connection's start, a loaded machine), and an earlier frame's mapping is then a
        frame interval late. Video that lags more than HOLD_S behind the sound stops the wait."""
        if len(self._pending) >= PENDING_CHUNKS:
            if self._offset is None:
                return  # no frame yet: the newest sound is dropped, the oldest kept
            self._send(*self._pending.pop(0))
        self._pending.append((pts, pcm))
        self._release(pts - HOLD_S)

    def _release(self, until: float) -> None:
        if self._offset is None:
            return
        ready = 0
        while ready < len(self._pending) and self._pending[ready][0] <= until:
            ready += 1
        released, self._pending = self._pending[:ready], self._pending[ready:]
        for pts, pcm in released:
            self._send(pts, pcm)

    def _send(self, pts: float, pcm: np.ndarray) -> None:
        assert self._offset is not None
        self._queue.put(_Pcm(self._generation, pts, pts + self._offset, pcm))

    # ------------------------------------------------------------ analysis thread
    def start(self) -> None:
        self._running = True
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None, droppable=False)

    def join(self, timeout: float | None = None) -> None:
        if self._running:
            self._thread.join(timeout)

    def status(self) -> AudioStatus:
        error, problem = self.error, self.problem
        if error is None and self.has_track is False:
            error, problem = "the camera's stream has no audio track", "no_audio_track"
        elif error is not None and problem is None:
            problem = "failed"  # turned off by the media tap (media_tap.py)
        active = self._thread.is_alive() and bool(self.has_track) and self.error is None
        heard = None
        if active and self.codec is not None:
            rate = f" {_khz(self.sample_rate)}" if self.sample_rate else ""
            heard = f"stream {self.codec.upper()}{rate}"
        return AudioStatus(
            "stream",
            active,
            self.samples,
            self._queue.dropped,
            None if error is None else redact(error),
            problem,
            heard,
            self.codec,
            self.sample_rate,
        )

    def _run(self) -> None:
        try:
            yamnet = load_yamnet(self._model_dirs)
        except ModelError as exc:
            self.error, self.problem = str(exc), "no_model"
            log.error("%s: no sound for the activity: %s", self.camera, exc)
            while self._queue.get() is not None:  # drain until stopped
                pass
            return
        try:
            self._analyse(yamnet)
        except Exception as exc:  # the picture's activity goes on without sound
            self.error, self.problem = f"audio analysis stopped: {exc}", "failed"
            log.exception("%s: audio analysis stopped", self.camera)

    def _analyse(self, yamnet: YamNet) -> None:
        analyzer: AudioAnalyzer | None = None
        generation, origin_wall, origin_index, next_index = -1, 0.0, 0, 0
        while (item := self._queue.get()) is not None:
            index = round(item.pts * RATE)
            pcm = item.pcm
            expected_wall = origin_wall + (index - origin_index) / RATE
            restart = (
                analyzer is None
                or item.generation != generation
                or index - next_index > MAX_FILL_S * RATE
                or index < next_index - RATE // 10
                or abs(item.wall - expected_wall) > REANCHOR_S
            )
            if restart:
                if analyzer is not None:
                    self._deliver(analyzer.finish(), origin_wall)
                analyzer = AudioAnalyzer(yamnet)
                generation, origin_wall, origin_index, next_index = item.generation, item.wall, index, index
            assert analyzer is not None
            if index > next_index:  # a short hole (lost packets, dropped chunks): silence
                self._deliver(analyzer.feed(np.zeros(index - next_index, np.float32)), origin_wall)
            elif index < next_index:  # rounding overlap
                pcm = pcm[next_index - index :]
            self._deliver(analyzer.feed(pcm), origin_wall)
            next_index = max(next_index, index + len(item.pcm))
        if analyzer is not None:
            self._deliver(analyzer.finish(), origin_wall)

    def _deliver(self, samples: list[AudioSample], origin_wall: float) -> None:
        if samples:
            self.samples += len(samples)
            self._feed(samples, origin_wall)


class MicrophoneFeed:
    """A microphone's sound for one camera's activity (microphone.py's capture, stamped with
    wall-clock time), analysed on its own thread."""

    def __init__(
        self,
        camera: str,
        feed: AudioFeed,
        model_dirs: Sequence[Path],
        device: DeviceSelector,
        keep_s: float = 30.0,
    ) -> None:
        """`keep_s`: seconds of sound kept for clips (`between`)."""
        self.camera, self._feed, self._model_dirs, self.device = camera, feed, list(model_dirs), device
        self.keep_s = keep_s
        self._capture: MicrophoneCapture | None = None
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"{camera}-microphone", daemon=True)
        self.samples = 0
        self.error: str | None = None
        self.problem: SoundProblem | None = None  # set with `error`
        self.device_name: str | None = None  # once open
        self._running = False

    def start(self) -> None:
        self._running = True
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        with self._lock:
            capture = self._capture
        if capture is not None:
            # Its samples() iteration ends. Not on the caller's thread: PortAudio's stop waits for
            # the next block, which a stalled source (ALSA's pulse plugin on a source that
            # delivers nothing) may never send; the camera must still stop.
            threading.Thread(target=capture.stop, name=f"{self.camera}-microphone-stop", daemon=True).start()

    def join(self, timeout: float | None = None) -> None:
        if self._running:
            self._thread.join(timeout)

    def between(self, start: float, end: float) -> np.ndarray | None:
        """The sound from `start` to `end` (wall clock) as 16 kHz mono, silence where none was
        kept; None when the microphone is not recording (a clip then has no sound)."""
        with self._lock:
            capture = self._capture
        return None if capture is None else capture.between(start, end)

    def status(self) -> AudioStatus:
        active = self._thread.is_alive() and self._capture is not None and self.error is None
        device = redact(self.device_name or _asked(self.device))
        return AudioStatus(
            "microphone",
            active,
            self.samples,
            0,
            None if self.error is None else redact(self.error),
            self.problem,
            f"microphone {device}" if active else None,
            device=device,
        )

    def _run(self) -> None:
        try:
            yamnet = load_yamnet(self._model_dirs)
            capture = MicrophoneCapture(self.device, seconds=self.keep_s)
            device = capture.start()
        except (ModelError, MicrophoneError) as exc:
            self.error, self.problem = str(exc), _problem_of(exc)
            log.error("%s: no microphone for the activity: %s", self.camera, exc)
            return
        self.device_name = device.name
        with self._lock:
            self._capture = capture
        if self._stopped.is_set():  # stopped while opening
            capture.stop()
        log.info("%s: activity hears microphone %d (%s)", self.camera, device.index, device.name)
        try:
            for sample in capture.samples(yamnet):
                self.samples += 1
                self._feed([sample], 0.0)  # `t` is already wall-clock time
        except Exception as exc:
            self.error, self.problem = f"microphone analysis stopped: {exc}", "microphone_failed"
            log.exception("%s: microphone analysis stopped", self.camera)
        finally:
            capture.stop()


def _problem_of(exc: ModelError | MicrophoneError) -> SoundProblem:
    if isinstance(exc, ModelError):
        return "no_model"
    if isinstance(exc, DeviceNotFound | PortAudioUnavailable):
        return "microphone_missing"
    return "microphone_failed"  # busy, or it would not start
