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
import sys
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
STALL_S = 1.0  # a block this much later than its samples' count says: the source stalled (a gap)
DRIFT = 2e-4  # how fast the stamps may follow a sound card slower than the system clock (200 ppm)
RESYNC_S = 0.02  # after an overflow, a later bound by more is lost samples
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
    """Contiguous 16 kHz mono float32 samples. `index` is the first one's place in the capture
    (in samples; lost samples leave a gap); `t` its wall-clock time (epoch seconds) as known when
    read; `seq` orders chunks (readers resume after a seq)."""

    seq: int
    index: int
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
    fresh = "sounddevice" not in sys.modules  # importing it scans the devices
    try:
        sd = _portaudio()
    except PortAudioUnavailable as exc:
        return AudioDevices((), str(exc))
    with _streams_lock:
        # Not right after the import's own scan: each scan opens every ALSA device (with a
        # sound server, a connection each).
        if rescan and not fresh and _open_streams == 0:
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
    """The last `seconds` of chunks, placed by sample index; `origin` (the wall time of index 0)
    is refined while recording, so times are computed when read. Readers wait for new chunks."""

    def __init__(self, seconds: float) -> None:
        self.limit = round(seconds * RATE)
        self._chunks: deque[tuple[int, int, np.ndarray]] = deque()  # seq, index, pcm
        self._samples = 0
        self._seq = 0
        self._origin = 0.0
        self._closed = False
        self._cond = threading.Condition()

    def set_origin(self, origin: float) -> None:
        with self._cond:
            self._origin = origin

    def push(self, index: int, pcm: np.ndarray) -> None:
        with self._cond:
            self._chunks.append((self._seq, index, pcm))
            self._seq += 1
            self._samples += len(pcm)
            while self._samples - len(self._chunks[0][2]) >= self.limit:
                self._samples -= len(self._chunks.popleft()[2])
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
            newer = [Chunk(s, i, self._origin + i / RATE, pcm) for s, i, pcm in self._chunks if s > seq]
            return None if not newer and self._closed else newer

    def between(self, start: float, end: float) -> np.ndarray:
        """The samples from `start` to `end` (wall clock), silence where none was captured."""
        out = np.zeros(max(round((end - start) * RATE), 0), np.float32)
        with self._cond:
            chunks, origin = list(self._chunks), self._origin
        first = round((start - origin) * RATE)  # index of out[0]
        for _, index, pcm in chunks:
            at = index - first
            lo, hi = max(at, 0), min(at + len(pcm), len(out))
            if lo < hi:
                out[lo:hi] = pcm[lo - at : hi - at]
        return out

    def span(self) -> tuple[float, float] | None:
        with self._cond:
            if not self._chunks:
                return None
            first, last = self._chunks[0], self._chunks[-1]
            return self._origin + first[1] / RATE, self._origin + (last[1] + len(last[2])) / RATE


class MicrophoneCapture:
    """Records one input device into a ring buffer of the last `seconds`.

    PortAudio's callback only stamps and queues each block; a pump thread averages the channels,
    resamples to 16 kHz (libswresample through PyAV, stateful so blocks join without clicks) and
    places samples by count from an estimated start time (see `_run_pump`): the block's ADC time
    (PortAudio's stream clock) mapped to `time.time()`, or, where the host API reports none, its
    arrival less its length. That assumes a source that runs in real time, as a microphone does:
    on a PulseAudio pipe source fed on the wall clock, bursts were stamped within 15 ms of when
    they were written. A null sink's monitor is no clock (the sink renders ahead in bursts): its stamps
    can be hundreds of ms early. Use `samples()` for audio cues, `between()` for a clip's audio."""

    def __init__(self, device: DeviceSelector = None, seconds: float = 30.0, block_s: float = 0.05) -> None:
        if seconds <= 0 or block_s <= 0:
            raise ValueError("seconds and block_s must be positive")
        self.selector = device
        self.block_s = block_s
        self.device: AudioDevice | None = None
        self.overflows = 0  # blocks PortAudio reported as overflowed (samples lost)
        self._ring = _Ring(seconds)
        self._blocks: queue.SimpleQueue[tuple[float, bool, np.ndarray] | None] = queue.SimpleQueue()
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
        overflow = bool(status.input_overflow)
        self.overflows += overflow
        stream = self._stream
        rate = float(stream.samplerate) if stream is not None else 0.0
        lag = float(when.currentTime) - float(when.inputBufferAdcTime)
        # How long ago the block's first sample was recorded. Some host APIs report no ADC time
        # (ALSA's pulse plugin: about now); then the block's length is the least it can be.
        if not 0.001 < lag < 1.0:
            lag = frames / rate if rate else 0.0
        self._blocks.put((now - lag, overflow, indata.copy()))

    def _run_pump(self, rate: float) -> None:
        """Places samples by count from the stream's start, whose wall time (`origin`) is
        estimated from arrivals: blocks can arrive late and in bursts (ALSA's pulse plugin does),
        never early, so each block bounds the origin from above; the lowest bound seen is kept
        (all kept samples move with it), creeping up by DRIFT (the sound card's clock against the
        system's). A bound above it by RESYNC_S after an overflow (or STALL_S without: a source
        that delivered nothing for a while) means samples were lost: a gap in the indexes."""
        resampler = None if rate == RATE else av.AudioResampler(format="flt", layout="mono", rate=RATE)
        origin: float | None = None  # wall time of index 0
        count = 0  # input samples received
        lost = 0.0  # seconds of input lost (overflows)
        index = 0  # 16 kHz index of the next output sample
        while (item := self._blocks.get()) is not None:
            wall, overflow, block = item
            bound = wall - count / rate - lost
            if origin is None:
                origin = bound
            elif bound > origin + (RESYNC_S if overflow else STALL_S):
                lost += bound - origin
                index += round((bound - origin) * RATE)
            else:
                origin = min(origin + DRIFT * len(block) / rate, bound)
            self._ring.set_origin(origin)
            count += len(block)
            mono = block.mean(axis=1, dtype=np.float32) if block.ndim == 2 else block.astype(np.float32)
            for pcm in _resample(resampler, mono, rate):
                self._ring.push(index, pcm)
                index += len(pcm)

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
        seq, next_index = -1, 0
        while (got := self._ring.after(seq, 0.5)) is not None:
            for chunk in got:
                seq = chunk.seq
                gap = chunk.index - next_index
                if analyzer is None or gap > MAX_FILL_S * RATE or gap < 0:
                    if analyzer is not None:
                        yield from analyzer.finish()
                    analyzer = AudioAnalyzer(yamnet, start_t=chunk.t, hop_samples=hop_samples)
                elif gap > 0:
                    yield from analyzer.feed(np.zeros(gap, np.float32))
                yield from analyzer.feed(chunk.pcm)
                next_index = chunk.index + len(chunk.pcm)
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
