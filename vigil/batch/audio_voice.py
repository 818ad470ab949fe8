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

    def __init__(self, model: Path) -> None:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # tiny model: threads cost more than they give
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            str(model), sess_options=options, providers=["CPUExecutionProvider"]
        )

    def probabilities(self, samples: np.ndarray) -> np.ndarray:
        """Speech probability per 512-sample window of mono float samples in [-1, 1]."""
        state = np.zeros((2, 1, 128), np.float32)
        context = np.zeros(SILERO_CONTEXT, np.float32)
        rate = np.array(RATE, np.int64)
        count = len(samples) // SILERO_WINDOW
        out = np.empty(count, np.float32)
        for index in range(count):
            window = samples[index * SILERO_WINDOW : (index + 1) * SILERO_WINDOW]
            batch = np.concatenate([context, window])[None, :]
            prob, state = self._session.run(None, {"input": batch, "state": state, "sr": rate})
            out[index] = float(prob[0, 0])
            context = window[-SILERO_CONTEXT:]
        return out


def voice_from_video(path: Path, fps: float, total_frames: int) -> VoiceTrack | None:
    """Voice per frame of the video's first audio track; None when it has no (decodable) audio."""
    decoded = decode_audio(path)
    if decoded is None:
        return None
    samples, offset_s = decoded  # offset: audio start minus video start, seconds
    samples = np.clip(samples, -1.0, 1.0)
    model = silero_model_path()
    warnings: tuple[str, ...] = ()
    if model is not None:
        step = SILERO_WINDOW / RATE
        voice = _at_frames(SileroVad(model).probabilities(samples), step, offset_s, fps, total_frames)
        source = SOURCE_SILERO
    else:
        message = (
            "Silero VAD model not found (install silero-vad with --no-deps, or set "
            f"{SILERO_PATH_ENV}); webrtcvad used instead: it counts music and noise as voice"
        )
        log.warning("%s: %s", path.name, message)
        warnings = (message,)
        voice = _at_frames(_webrtc(samples), WEBRTC_FRAME / RATE, offset_s, fps, total_frames)
        source = SOURCE_WEBRTC
    envelope = band_envelope(samples, offset_s, fps, total_frames)
    return VoiceTrack(voice=voice, envelope=envelope, source=source, warnings=warnings)


def decode_audio(path: Path) -> tuple[np.ndarray, float] | None:
    """16 kHz mono float32 samples of the first audio stream and its start relative to the video's."""
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise SourceUnsupported(f"cannot open {path} to read its audio: {exc}") from exc
    with container:
        if not container.streams.audio:
            return None
        video_start = _stream_start(container.streams.video[0]) if container.streams.video else 0.0
        parts: list[np.ndarray] = []
        start: float | None = None
        consumed = 0
        for chunk in _resampled(container):
            if start is None:
                start = float(chunk.time) if chunk.time is not None else 0.0
            elif chunk.time is not None:
                # A gap (lost packets) is filled with silence so later audio keeps its time.
                missing = round((float(chunk.time) - start) * RATE) - consumed
                if missing > WEBRTC_FRAME:
                    parts.append(np.zeros(missing, np.float32))
                    consumed += missing
            samples = chunk.to_ndarray().astype(np.float32, copy=False).ravel()
            parts.append(samples)
            consumed += len(samples)
    if start is None or not parts:
        return None
    return np.concatenate(parts), start - video_start


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


def _webrtc(samples: np.ndarray) -> np.ndarray:
    vad = webrtcvad.Vad(WEBRTC_AGGRESSIVENESS)
    pcm = (samples * 32767).astype(np.int16)
    count = len(pcm) // WEBRTC_FRAME
    return np.array(
        [vad.is_speech(pcm[i * WEBRTC_FRAME : (i + 1) * WEBRTC_FRAME].tobytes(), RATE) for i in range(count)],
        dtype=np.float32,
    )


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


def band_envelope(samples: np.ndarray, offset_s: float, fps: float, total_frames: int) -> np.ndarray:
    """Log energy (dB) of the voice band over two frame durations centred on each frame."""
    out = np.full(total_frames, np.nan, np.float32)
    half = max(int(RATE / fps), 32)
    window = np.hanning(2 * half)
    freqs = np.fft.rfftfreq(2 * half, 1 / RATE)
    band = (freqs >= ENVELOPE_BAND_HZ[0]) & (freqs < ENVELOPE_BAND_HZ[1])
    for frame in range(total_frames):
        centre = round(((frame + 0.5) / fps - offset_s) * RATE)
        if centre - half < 0 or centre + half > len(samples):
            continue
        spectrum = np.abs(np.fft.rfft(samples[centre - half : centre + half] * window)) ** 2
        out[frame] = 10 * np.log10(float(spectrum[band].sum()) + 1e-10)
    return out
