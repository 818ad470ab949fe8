"""Microphones for live activity (issue 18 item 3; the seed's PyAudio capture and sync manager):
the input devices PortAudio sees, and a capture that keeps the last seconds of a device's sound as
16 kHz mono float32 stamped with wall-clock time, so audio lines up with video frames by time.

PortAudio (sounddevice) is loaded on first use: a machine without it, without a sound card or
without a sound server gets an empty device list with the reason, never a crash. On Linux,
PortAudio 19.6 reaches PulseAudio/PipeWire through ALSA's `pulse` and `default` devices (and any
PCM named in ~/.asoundrc, e.g. `pcm.room { type pulse; device "some_source" }`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import av
import numpy as np

from vigil.activity.audio import HOP_SAMPLES, AudioAnalyzer
from vigil.activity.cues import AudioSample
from vigil.activity.yamnet import RATE, YamNet
from vigil.errors import ConflictError, NotFoundError, SourceError, UnavailableError

__all__ = [
    "AudioDevice",
    "AudioDevices",
    "Chunk",
    "DeviceBusy",
    "DeviceNotFound",
    "DeviceSelector",
    "MicrophoneCapture",
    "MicrophoneError",
    "PortAudioUnavailable",
    "find_device",
    "list_input_devices",
]

log = logging.getLogger(__name__)

DeviceSelector = int | str | None  # a PortAudio index, an exact device name, or None: the default
RESYNC_S = 0.1  # the ADC clock and the sample count disagree by more: a lost block, re-anchor
MAX_FILL_S = 2.0  # the reader fills shorter gaps with silence; longer ones restart the analysis
PA_DEVICE_UNAVAILABLE = -9985  # paDeviceUnavailable: opened elsewhere, or gone
EBUSY_HOST_ERRORS = (-16,)  # ALSA's -EBUSY as PortAudio's host error


class MicrophoneError(SourceError):
    """A microphone could not be listed, opened or read."""


class PortAudioUnavailable(MicrophoneError, UnavailableError):
    """The PortAudio library cannot be loaded (libportaudio2 missing)."""


class DeviceNotFound(MicrophoneError, NotFoundError):
    """No input device has this index or name (or there is no default one)."""


class DeviceBusy(MicrophoneError, ConflictError):
    """The device exists but cannot be opened now (held by another program, or unplugged)."""


@dataclass(frozen=True)
class AudioDevice:
    """One input device as PortAudio lists it."""

    index: int
    name: str
    host_api: str  # ALSA, OSS, JACK, ... (PulseAudio/PipeWire appear through ALSA)
    channels: int  # input channels
    default_rate: float  # Hz
    is_default: bool


@dataclass(frozen=True)
class AudioDevices:
    """The input devices, or none with the reason."""

    devices: tuple[AudioDevice, ...]
    reason: str | None = None  # why the list is empty


@dataclass(frozen=True)
class Chunk:
    """Contiguous 16 kHz mono float32 samples; `t` is the wall-clock time (epoch seconds) of the
    first one, `seq` its place in the capture (readers resume after a seq)."""

    seq: int
    t: float
    pcm: np.ndarray

    @property
    def end(self) -> float:
        return self.t + len(self.pcm) / RATE


_streams_lock = threading.Lock()
_open_streams = 0  # PortAudio must not be re-initialised (device rescan) while a stream is open


def _portaudio() -> ModuleType:
    try:
        import sounddevice  # type: ignore[import-untyped]
    except (OSError, ImportError) as exc:  # OSError: "PortAudio library not found"
        raise PortAudioUnavailable(f"PortAudio cannot be loaded ({exc}): install libportaudio2") from exc
    module: ModuleType = sounddevice
    return module


def list_input_devices(rescan: bool = True) -> AudioDevices:
    """The devices that can record, in PortAudio's order. `rescan` re-reads the system's devices
    (plugged in or servers started since) unless a capture is open in this process."""
    try:
        sd = _portaudio()
    except PortAudioUnavailable as exc:
        return AudioDevices((), str(exc))
    with _streams_lock:
        if rescan and _open_streams == 0:
            sd._terminate()  # sounddevice's documented way to rescan
            sd._initialize()
        try:
            raw = list(sd.query_devices())
            apis = [str(api["name"]) for api in sd.query_hostapis()]
            default = int(sd.default.device[0])
        except sd.PortAudioError as exc:
            return AudioDevices((), f"PortAudio cannot list devices: {exc}")
    devices = tuple(
        AudioDevice(
            index=int(d["index"]),
            name=str(d["name"]),
            host_api=apis[int(d["hostapi"])],
            channels=int(d["max_input_channels"]),
            default_rate=float(d["default_samplerate"]),
            is_default=int(d["index"]) == default,
        )
        for d in raw
        if int(d["max_input_channels"]) > 0
    )
    if not devices:
        return AudioDevices(
            (), "no input device: no sound card, or no sound server (PulseAudio/PipeWire) reachable"
        )
    return AudioDevices(devices)


def find_device(devices: AudioDevices, selector: DeviceSelector) -> AudioDevice:
    """The device an index or exact name names; None: the default input device."""
    for device in devices.devices:
        if device.is_default if selector is None else selector in (device.index, device.name):
            return device
    if selector is None:
        raise DeviceNotFound(f"no default input device ({devices.reason or 'none is marked default'})")
    known = ", ".join(f"{d.index}: {d.name}" for d in devices.devices) or devices.reason
    raise DeviceNotFound(f"no input device {selector!r} (devices: {known})")


class _Ring:
    """The last `seconds` of chunks; readers wait for chunks after the seq they have."""

    def __init__(self, seconds: float) -> None:
        self.limit = round(seconds * RATE)
        self._chunks: deque[Chunk] = deque()
        self._samples = 0
        self._seq = 0
        self._closed = False
        self._cond = threading.Condition()

    def push(self, t: float, pcm: np.ndarray) -> None:
        with self._cond:
            self._chunks.append(Chunk(self._seq, t, pcm))
            self._seq += 1
            self._samples += len(pcm)
            while self._samples - len(self._chunks[0].pcm) >= self.limit:
                self._samples -= len(self._chunks.popleft().pcm)
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def reopen(self) -> None:
        with self._cond:
            self._closed = False

    def after(self, seq: int, timeout: float) -> list[Chunk] | None:
        """Chunks after `seq` (from the oldest kept when the reader fell behind), waiting up to
        `timeout` for one; None once closed and read out."""
        with self._cond:
            self._cond.wait_for(lambda: self._closed or (self._seq - 1 > seq), timeout)
            newer = [c for c in self._chunks if c.seq > seq]
            return None if not newer and self._closed else newer

    def between(self, start: float, end: float) -> np.ndarray:
        """The samples from `start` to `end` (wall clock), silence where none was captured."""
        out = np.zeros(max(round((end - start) * RATE), 0), np.float32)
        with self._cond:
            chunks = list(self._chunks)
        for chunk in chunks:
            at = round((chunk.t - start) * RATE)
            lo, hi = max(at, 0), min(at + len(chunk.pcm), len(out))
            if lo < hi:
                out[lo:hi] = chunk.pcm[lo - at : hi - at]
        return out

    def span(self) -> tuple[float, float] | None:
        with self._cond:
            return (self._chunks[0].t, self._chunks[-1].end) if self._chunks else None


class MicrophoneCapture:
    """Records one input device into a ring buffer of the last `seconds`.

    PortAudio's callback only stamps and queues each block; a pump thread averages the channels,
    resamples to 16 kHz (libswresample through PyAV, stateful so blocks join without clicks) and
    stamps samples with wall-clock time: the block's ADC time (PortAudio's stream clock) mapped to
    `time.time()`, then the sample count, re-anchored when the two drift apart by RESYNC_S
    (a lost block). Use `samples()` for audio cues, `between()` for a clip's audio."""

    def __init__(self, device: DeviceSelector = None, seconds: float = 30.0, block_s: float = 0.05) -> None:
        if seconds <= 0 or block_s <= 0:
            raise ValueError("seconds and block_s must be positive")
        self.selector = device
        self.block_s = block_s
        self.device: AudioDevice | None = None
        self.overflows = 0  # blocks PortAudio reported as overflowed (samples lost)
        self._ring = _Ring(seconds)
        self._blocks: queue.SimpleQueue[tuple[float, np.ndarray] | None] = queue.SimpleQueue()
        self._stream: Any = None
        self._pump: threading.Thread | None = None

    # ---------------------------------------------------------------- start / stop
    def start(self) -> AudioDevice:
        """Opens and starts the stream. DeviceNotFound, DeviceBusy, PortAudioUnavailable."""
        global _open_streams
        if self._stream is not None:
            raise MicrophoneError("this capture is already started")
        sd = _portaudio()
        device = find_device(list_input_devices(), self.selector)
        rate = device.default_rate
        try:
            stream = sd.InputStream(
                device=device.index,
                channels=min(device.channels, 2),
                samplerate=rate,
                dtype="float32",
                blocksize=max(round(rate * self.block_s), 1),
                callback=self._callback,
            )
        except sd.PortAudioError as exc:
            raise _open_error(device, exc) from exc
        with _streams_lock:
            _open_streams += 1
        self._ring.reopen()
        self._pump = threading.Thread(target=self._run_pump, args=(rate,), name="mic-pump", daemon=True)
        self._pump.start()
        try:
            stream.start()
        except sd.PortAudioError as exc:
            self._stream = stream
            self.stop()
            raise _open_error(device, exc) from exc
        self._stream, self.device = stream, device
        log.info("microphone %d (%s) recording at %.0f Hz", device.index, device.name, rate)
        return device

    def stop(self) -> None:
        """Stops the stream; readers get what was captured, then their iteration ends."""
        global _open_streams
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.stop()
                stream.close()
            finally:
                with _streams_lock:
                    _open_streams -= 1
        if self._pump is not None:
            self._blocks.put(None)
            self._pump.join()
            self._pump = None
        self._ring.close()

    def __enter__(self) -> MicrophoneCapture:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def active(self) -> bool:
        return self._stream is not None and bool(self._stream.active)

    # ---------------------------------------------------------------- capture threads
    def _callback(self, indata: np.ndarray, frames: int, when: Any, status: Any) -> None:
        now = time.time()
        if status.input_overflow:
            self.overflows += 1
        stream = self._stream
        rate, latency = (
            (float(stream.samplerate), float(stream.latency)) if stream is not None else (0.0, 0.0)
        )
        lag = float(when.currentTime) - float(when.inputBufferAdcTime)
        block = frames / rate if rate else 0.0
        # The block's first sample was recorded at least a block ago. PortAudio's ALSA host API
        # (so PulseAudio too) reports the ADC time as about now: then trust its input latency.
        if not block <= lag < 1.0:
            lag = block + latency
        self._blocks.put((now - lag, indata.copy()))

    def _run_pump(self, rate: float) -> None:
        resampler = None if rate == RATE else av.AudioResampler(format="flt", layout="mono", rate=RATE)
        next_t: float | None = None  # wall time of the next 16 kHz sample
        expected: float | None = None  # wall time the next input block should start at
        while (item := self._blocks.get()) is not None:
            wall, block = item
            if expected is None or abs(wall - expected) > RESYNC_S:
                next_t = expected = wall  # first block, or a lost one: trust the clock again
            expected += len(block) / rate
            mono = block.mean(axis=1, dtype=np.float32) if block.ndim == 2 else block.astype(np.float32)
            for pcm in _resample(resampler, mono, rate):
                assert next_t is not None
                self._ring.push(next_t, pcm)
                next_t += len(pcm) / RATE

    # ---------------------------------------------------------------- readers
    def chunks(self, after: int = -1, timeout: float = 0.5) -> list[Chunk] | None:
        """Chunks captured after seq `after`, waiting up to `timeout`; None once stopped."""
        return self._ring.after(after, timeout)

    def between(self, start: float, end: float) -> np.ndarray:
        """16 kHz mono samples from `start` to `end` (wall clock), silence where none is kept."""
        return self._ring.between(start, end)

    def span(self) -> tuple[float, float] | None:
        """Wall-clock times of the first and past-the-last samples kept."""
        return self._ring.span()

    def samples(self, yamnet: YamNet, hop_samples: int = HOP_SAMPLES) -> Iterator[AudioSample]:
        """Audio cues as windows complete, `t` in wall-clock seconds, until the capture stops.
        Short gaps (lost blocks) are heard as silence so later windows keep their time; longer
        ones start a new analysis. Starts from the oldest sample kept."""
        analyzer: AudioAnalyzer | None = None
        seq, next_t = -1, 0.0
        while (got := self._ring.after(seq, 0.5)) is not None:
            for chunk in got:
                seq = chunk.seq
                gap = chunk.t - next_t
                if analyzer is None or gap > MAX_FILL_S or gap < -RESYNC_S:
                    if analyzer is not None:
                        yield from analyzer.finish()
                    analyzer = AudioAnalyzer(yamnet, start_t=chunk.t, hop_samples=hop_samples)
                elif gap * RATE >= 1:
                    yield from analyzer.feed(np.zeros(round(gap * RATE), np.float32))
                yield from analyzer.feed(chunk.pcm)
                next_t = chunk.end
        if analyzer is not None:
            yield from analyzer.finish()


def _resample(resampler: Any, mono: np.ndarray, rate: float) -> Iterator[np.ndarray]:
    if resampler is None:
        yield mono
        return
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(mono[None, :]), format="flt", layout="mono")
    frame.sample_rate = round(rate)
    for out in resampler.resample(frame):
        yield out.to_ndarray()[0].astype(np.float32, copy=False)


def _open_error(device: AudioDevice, exc: Exception) -> MicrophoneError:
    code = exc.args[1] if len(exc.args) > 1 else None
    host = exc.args[2] if len(exc.args) > 2 else None
    host_code = host[1] if isinstance(host, tuple) and len(host) > 1 else None
    where = f"input device {device.index} ({device.name})"
    if code == PA_DEVICE_UNAVAILABLE or host_code in EBUSY_HOST_ERRORS:
        return DeviceBusy(f"{where} is busy or gone: {exc}")
    return MicrophoneError(f"cannot record from {where}: {exc}")
