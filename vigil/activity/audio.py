"""Audio cues of a media file's own track, or of a live PCM stream: one `AudioSample` per YAMNet
window (0.975 s of 16 kHz mono) with voice probability (Silero VAD, the batch tracker's), loudness
and YAMNet sound events.

Windows overlap by half (hop 0.4875 s, close to YAMNet's own 0.48 s patch hop). YAMNet's verdict
on a 0.975 s window depends on where the window falls: on hamilton, a spoken line between piano
phrases scores Speech 0.41 in the window at 0.5 s but 0.03 and 0.04 in the non-overlapping windows
at 0 and 0.975 s (Music wins both). Half-overlapping windows cost twice as much (still a few ms per
second of audio) and stop short events from being lost between two windows.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np

from vigil.activity.cues import AudioSample
from vigil.activity.yamnet import RATE, WINDOW_SAMPLES, YamNet
from vigil.batch.audio_voice import (
    SILERO_PATH_ENV,
    WEBRTC_FRAME,
    SileroVad,
    WebrtcVad,
    _stream_start,
    silero_model_path,
)
from vigil.errors import SourceUnsupported

__all__ = ["HOP_SAMPLES", "SILENCE_DB", "WINDOW_S", "AudioAnalyzer", "audio_samples", "loudness_db", "pcm_of"]

log = logging.getLogger(__name__)

WINDOW_S = WINDOW_SAMPLES / RATE
HOP_SAMPLES = WINDOW_SAMPLES // 2
SILENCE_DB = -100.0  # the level of digital silence (and the floor of every level)
# A stream shorter than this gives no window: YAMNet would mostly hear the zero padding.
MIN_TAIL_SAMPLES = WINDOW_SAMPLES // 2
# The stream's end gets one more window when at least this much of it is in no window yet (0.24 s;
# less would give a near copy of the last window).
MIN_UNCOVERED_SAMPLES = WINDOW_SAMPLES // 4


def loudness_db(samples: np.ndarray) -> float:
    """RMS level in dBFS: 20·log10(RMS), so a full-scale square wave is 0 dB and a full-scale sine
    -3 dB; floored at SILENCE_DB."""
    if len(samples) == 0:
        return SILENCE_DB
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return max(20.0 * math.log10(rms), SILENCE_DB) if rms > 0 else SILENCE_DB


def _make_vad() -> SileroVad | WebrtcVad:
    model = silero_model_path()
    if model is not None:
        return SileroVad(model)
    log.warning(
        "Silero VAD model not found (install silero-vad with --no-deps, or set %s); webrtcvad is "
        "used instead: it counts music and noise as voice",
        SILERO_PATH_ENV,
    )
    return WebrtcVad()


class AudioAnalyzer:
    """Streaming analysis: feed 16 kHz mono float32 PCM in chunks of any size; each call returns
    the windows completed so far. Live capture and file analysis both go through it, so a file and
    the same PCM streamed give the same samples.

    `start_t` is the media time of the first sample fed. YamNet is not thread-safe: one analyser
    per thread."""

    def __init__(self, yamnet: YamNet, start_t: float = 0.0, hop_samples: int = HOP_SAMPLES) -> None:
        if not 0 < hop_samples <= WINDOW_SAMPLES:
            raise ValueError(f"hop_samples must be in 1..{WINDOW_SAMPLES}, got {hop_samples}")
        self.yamnet = yamnet
        self.start_t = start_t
        self.hop = hop_samples
        self._vad = _make_vad()
        self._buffer = np.zeros(0, np.float32)
        self._buffer_start = 0  # sample index (from start_t) of _buffer[0]
        self._window_at = 0  # first sample of the next window
        self._voice: list[float] = []  # VAD probability per step, from step _voice_first on
        self._voice_first = 0
        self._fed = 0  # samples fed so far
        self._covered = 0  # end of the last window scored

    def feed(self, pcm: np.ndarray) -> list[AudioSample]:
        samples = np.clip(np.asarray(pcm, np.float32).ravel(), -1.0, 1.0)
        self._buffer = np.concatenate([self._buffer, samples])
        self._fed += len(samples)
        step = self._vad.window
        while (self._voice_first + len(self._voice) + 1) * step <= self._fed:
            at = (self._voice_first + len(self._voice)) * step - self._buffer_start
            self._voice.append(self._vad(self._buffer[at : at + step]))
        out: list[AudioSample] = []
        while self._window_at + WINDOW_SAMPLES <= self._fed:
            out.append(self._window(WINDOW_SAMPLES))
            self._window_at += self.hop
        self._forget()
        return out

    def finish(self) -> list[AudioSample]:
        """The end of the stream: one more window if at least 0.24 s of it is in none yet, the
        last 0.975 s of the stream (a stream shorter than a window: all of it, zero-padded for
        YAMNet, if it lasts at least half a window)."""
        if self._fed - self._covered < MIN_UNCOVERED_SAMPLES:
            return []
        if self._fed >= WINDOW_SAMPLES:
            self._window_at = self._fed - WINDOW_SAMPLES
            return [self._window(WINDOW_SAMPLES)]
        return [self._window(self._fed)] if self._fed >= MIN_TAIL_SAMPLES else []

    def _window(self, length: int) -> AudioSample:
        at = self._window_at - self._buffer_start
        samples = self._buffer[at : at + length]
        padded = samples if length == WINDOW_SAMPLES else np.pad(samples, (0, WINDOW_SAMPLES - length))
        scores = self.yamnet.scores(padded)
        # VAD steps that lie wholly inside the window (about 30 Silero steps of 32 ms)
        step = self._vad.window
        first = -(-self._window_at // step) - self._voice_first
        last = (self._window_at + length) // step - self._voice_first
        voices = self._voice[max(first, 0) : max(last, 0)]
        self._covered = self._window_at + length
        return AudioSample(
            t=self.start_t + self._window_at / RATE,
            duration=length / RATE,
            voice=float(np.mean(voices)) if voices else 0.0,
            loudness_db=loudness_db(samples),
            events=self.yamnet.events(scores),
        )

    def _forget(self) -> None:
        """Keep only what a window to come still needs: from the next window's start, the next
        VAD step's, and the last window's worth (the stream's last window ends with it)."""
        step = self._vad.window
        keep_from = max(
            min(self._window_at, (self._voice_first + len(self._voice)) * step, self._fed - WINDOW_SAMPLES),
            self._buffer_start,
        )
        self._buffer = self._buffer[keep_from - self._buffer_start :]
        self._buffer_start = keep_from
        drop = keep_from // step - self._voice_first
        if drop > 0:
            del self._voice[:drop]
            self._voice_first += drop


def pcm_of(path: Path) -> Iterator[tuple[float, np.ndarray]]:
    """The file's first audio track as contiguous 16 kHz mono float32 chunks, each with the media
    time of its first sample (seconds from the first video frame, or from the audio's start without
    video). Audio before the first video frame is dropped; gaps (lost packets) are filled with
    silence so later audio keeps its time. Nothing when the file has no audio track.
    Raises SourceUnsupported when the file cannot be opened."""
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise SourceUnsupported(f"cannot open {path} to read its audio: {exc}") from exc
    with container:
        if not container.streams.audio:
            return
        streams = container.streams
        origin = _stream_start(streams.video[0] if streams.video else streams.audio[0])
        position: int | None = None  # media sample index of the next sample
        for time, samples in _resampled(container):
            expected = None if time is None else round((time - origin) * RATE)
            if position is None:
                position = expected or 0
            elif expected is not None and expected - position > WEBRTC_FRAME:
                start = max(position, 0)  # no silence before the first video frame either
                if expected > start:
                    yield start / RATE, np.zeros(expected - start, np.float32)
                position = expected
            skip = min(max(-position, 0), len(samples))
            if skip < len(samples):
                yield (position + skip) / RATE, samples[skip:]
            position += len(samples)


def _resampled(container: Any) -> Iterator[tuple[float | None, np.ndarray]]:
    """16 kHz float32 chunks of the first audio track, the channels averaged: FFmpeg's own stereo
    to mono downmix adds 3 dB to a signal present in both channels, which would skew loudness."""
    resampler = av.AudioResampler(format="fltp", rate=RATE)  # the input's channel layout kept
    skipped = 0
    for packet in container.demux(container.streams.audio[0]):
        try:
            frames = packet.decode()
        except av.error.FFmpegError:
            skipped += 1
            continue
        for frame in frames:
            for chunk in resampler.resample(frame):
                yield _mono(chunk)
    for chunk in resampler.resample(None):
        yield _mono(chunk)
    if skipped:
        log.warning("%s: skipped %d undecodable audio packets", container.name, skipped)


def _mono(chunk: Any) -> tuple[float | None, np.ndarray]:
    planes = chunk.to_ndarray().astype(np.float32, copy=False)  # (channels, samples)
    return (None if chunk.time is None else float(chunk.time)), planes.mean(axis=0, dtype=np.float32)


def audio_samples(
    path: Path, yamnet: YamNet, hop_samples: int = HOP_SAMPLES, stop: threading.Event | None = None
) -> list[AudioSample]:
    """The audio cues of a media file: [] without an audio track; SourceUnsupported when the file
    cannot be read. The audio is streamed: memory stays flat whatever the file's length. `stop`
    set: returns at once what it has (the caller gave up on the analysis)."""
    analyzer: AudioAnalyzer | None = None
    out: list[AudioSample] = []
    for t, samples in pcm_of(path):
        if stop is not None and stop.is_set():
            return out
        if analyzer is None:
            analyzer = AudioAnalyzer(yamnet, start_t=t, hop_samples=hop_samples)
        out.extend(analyzer.feed(samples))
    return out + analyzer.finish() if analyzer is not None else out
