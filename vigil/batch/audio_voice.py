"""Voice activity of a video's own audio track: Silero VAD (ONNX, through onnxruntime) and a
voice-band envelope, one value per video frame.

Silero VAD tells speech (and sung/rapped vocals) from music, noise and silence; webrtcvad, the
fallback when the Silero model is not installed, calls music and noise voice too (measured on the
shared clips in docs/speaking.md). The model file ships inside the `silero-vad` wheel (MIT), which
`make` installs with --no-deps (its metadata pulls torch, which is not needed: requirements-nodeps.txt).
Its location is found without importing the package (importing it would import torch).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import onnxruntime
import webrtcvad

from vigil.errors import SourceUnsupported

log = logging.getLogger(__name__)

RATE = 16000
SILERO_WINDOW = 512  # samples per Silero step at 16 kHz (32 ms)
SILERO_CONTEXT = 64  # samples of the previous window the model sees again
SILERO_FILE = "silero_vad.onnx"
SILERO_PATH_ENV = "VIGIL_SILERO_VAD_PATH"  # a local copy of the model (offline users, tests)
WEBRTC_FRAME = 480  # 30 ms
WEBRTC_AGGRESSIVENESS = 2
ENVELOPE_BAND_HZ = (1000.0, 4000.0)  # consonant/formant band: follows syllables more than the piano
SOURCE_SILERO = "silero_vad"
SOURCE_WEBRTC = "webrtcvad"


@dataclass(frozen=True)
class VoiceTrack:
    """Per video frame (index 0 = frame 1): voice probability in [0,1] and log energy of the voice
    band (dB); NaN where the audio does not cover the frame."""

    voice: np.ndarray  # float32
    envelope: np.ndarray  # float32
    source: str
    warnings: tuple[str, ...] = ()


def silero_model_path() -> Path | None:
    """The Silero VAD ONNX file: $VIGIL_SILERO_VAD_PATH, else the one in the installed silero-vad wheel."""
    override = os.environ.get(SILERO_PATH_ENV)
    if override:
        return Path(override) if Path(override).is_file() else None
    spec = importlib.util.find_spec("silero_vad")  # locates the package without running it
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / "data" / SILERO_FILE
        if candidate.is_file():
            return candidate
    return None


class SileroVad:
    """Streaming Silero VAD v5/v6: one speech probability per 32 ms window at 16 kHz."""

    window = SILERO_WINDOW

    def __init__(self, model: Path) -> None:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # tiny model: threads cost more than they give
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            str(model), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._state = np.zeros((2, 1, 128), np.float32)
        self._context = np.zeros(SILERO_CONTEXT, np.float32)
        self._rate = np.array(RATE, np.int64)

    def __call__(self, window: np.ndarray) -> float:
        """Speech probability of the next 512 samples (mono float in [-1, 1]), in stream order."""
        batch = np.concatenate([self._context, window])[None, :].astype(np.float32, copy=False)
        prob, self._state = self._session.run(None, {"input": batch, "state": self._state, "sr": self._rate})
        self._context = window[-SILERO_CONTEXT:]
        return float(prob[0, 0])


class WebrtcVad:
    """webrtcvad (aggressiveness 2) on 30 ms windows: 0 or 1."""

    window = WEBRTC_FRAME

    def __init__(self) -> None:
        self._vad = webrtcvad.Vad(WEBRTC_AGGRESSIVENESS)

    def __call__(self, window: np.ndarray) -> float:
        return float(self._vad.is_speech((window * 32767).astype(np.int16).tobytes(), RATE))


def voice_from_video(path: Path, fps: float, total_frames: int) -> VoiceTrack | None:
    """Voice per frame of the video's first audio track; None when it has no (decodable) audio.
    The audio is streamed: memory stays flat whatever the video's length."""
    model = silero_model_path()
    warnings: tuple[str, ...] = ()
    vad: SileroVad | WebrtcVad
    if model is not None:
        vad, source = SileroVad(model), SOURCE_SILERO
    else:
        message = (
            "Silero VAD model not found (install silero-vad with --no-deps, or set "
            f"{SILERO_PATH_ENV}); webrtcvad used instead: it counts music and noise as voice"
        )
        vad, source, warnings = WebrtcVad(), SOURCE_WEBRTC, (message,)
    analysis = _Analysis(vad, fps, total_frames)
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise SourceUnsupported(f"cannot open {path} to read its audio: {exc}") from exc
    with container:
        if not container.streams.audio:
            return None
        video_start = _stream_start(container.streams.video[0]) if container.streams.video else 0.0
        start: float | None = None
        consumed = 0
        for chunk in _resampled(container):
            if start is None:
                start = float(chunk.time) if chunk.time is not None else 0.0
                analysis.offset_s = start - video_start
            elif chunk.time is not None:
                # A gap (lost packets) is filled with silence so later audio keeps its time.
                missing = round((float(chunk.time) - start) * RATE) - consumed
                if missing > WEBRTC_FRAME:
                    analysis.feed(np.zeros(missing, np.float32))
                    consumed += missing
            samples = np.clip(chunk.to_ndarray().astype(np.float32, copy=False).ravel(), -1.0, 1.0)
            analysis.feed(samples)
            consumed += len(samples)
    if start is None:
        return None  # an audio stream without a single decodable sample
    if warnings:
        log.warning("%s: %s", path.name, warnings[0])
    voice = _at_frames(
        np.asarray(analysis.probabilities, np.float32),
        vad.window / RATE,
        analysis.offset_s,
        fps,
        total_frames,
    )
    return VoiceTrack(voice=voice, envelope=analysis.envelope, source=source, warnings=warnings)


class _Analysis:
    """Voice windows and per-frame envelope over a stream of samples, keeping only what is pending."""

    def __init__(self, vad: SileroVad | WebrtcVad, fps: float, total_frames: int) -> None:
        self.vad, self.fps, self.total = vad, fps, total_frames
        self.offset_s = 0.0  # audio start minus video start
        self.probabilities: list[float] = []
        self.envelope = np.full(total_frames, np.nan, np.float32)
        self._half = max(int(RATE / fps), 32)
        self._hann = np.hanning(2 * self._half)
        freqs = np.fft.rfftfreq(2 * self._half, 1 / RATE)
        self._band = (freqs >= ENVELOPE_BAND_HZ[0]) & (freqs < ENVELOPE_BAND_HZ[1])
        self._buffer = np.zeros(0, np.float32)
        self._buffer_start = 0  # absolute sample index of _buffer[0]
        self._vad_at = 0  # next voice window's first sample
        self._frame = 0  # next frame of the envelope

    def feed(self, samples: np.ndarray) -> None:
        self._buffer = np.concatenate([self._buffer, samples])
        end = self._buffer_start + len(self._buffer)
        width = self.vad.window
        while self._vad_at + width <= end:
            at = self._vad_at - self._buffer_start
            self.probabilities.append(self.vad(self._buffer[at : at + width]))
            self._vad_at += width
        while self._frame < self.total:
            centre = round(((self._frame + 0.5) / self.fps - self.offset_s) * RATE)
            if centre + self._half > end:
                break
            if centre - self._half >= self._buffer_start:
                at = centre - self._half - self._buffer_start
                spectrum = np.abs(np.fft.rfft(self._buffer[at : at + 2 * self._half] * self._hann)) ** 2
                self.envelope[self._frame] = 10 * np.log10(float(spectrum[self._band].sum()) + 1e-10)
            self._frame += 1  # frames before the audio starts stay NaN
        next_centre = round(((self._frame + 0.5) / self.fps - self.offset_s) * RATE)
        keep_from = max(self._buffer_start, min(self._vad_at, next_centre - self._half))
        self._buffer = self._buffer[keep_from - self._buffer_start :]
        self._buffer_start = keep_from


def _stream_start(stream: Any) -> float:
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def _resampled(container: Any) -> Iterator[Any]:
    resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
    skipped = 0
    for packet in container.demux(container.streams.audio[0]):
        try:
            frames = packet.decode()
        except av.error.FFmpegError:
            skipped += 1
            continue
        for frame in frames:
            yield from resampler.resample(frame)
    yield from resampler.resample(None)
    if skipped:
        log.warning("%s: skipped %d undecodable audio packets", container.name, skipped)


def _at_frames(
    values: np.ndarray, step_s: float, offset_s: float, fps: float, total_frames: int
) -> np.ndarray:
    """The mean of the values whose window overlaps each video frame's duration; NaN outside."""
    out = np.full(total_frames, np.nan, np.float32)
    if len(values) == 0:
        return out
    starts = np.arange(total_frames) / fps - offset_s  # frame i's span, in audio time
    first = np.floor(starts / step_s).astype(np.int64)
    last = np.floor((starts + 1 / fps) / step_s).astype(np.int64)
    cumulative = np.concatenate([[0.0], np.cumsum(values, dtype=np.float64)])
    for frame in range(total_frames):
        lo, hi = max(first[frame], 0), min(last[frame], len(values) - 1)
        if lo <= hi:
            out[frame] = (cumulative[hi + 1] - cumulative[lo]) / (hi + 1 - lo)
    return out
