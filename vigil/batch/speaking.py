"""Speaking detection per face track: fuse an audio speech signal with a visual mouth score.

Visual score of a track at frame f (jawOpen = calibrated value in [0,1] from the blendshape estimator):

    level  = clip(jawOpen_f / JAW_OPEN_FULL, 0, 1)
    motion = clip(std(jawOpen over the track's samples in frames (f - window, f]) / MOTION_STD_FULL, 0, 1)
    visual = LEVEL_WEIGHT * level + MOTION_WEIGHT * motion

Motion dominates so that a mouth held open (surprise, yawn) is not "speaking" on its own.

Audio speech value in [0,1] per video frame (index 0 = frame 1), NaN where unknown, from either
the seed's STEP4 `<stem>_audio.json` or the video's own audio track through webrtcvad.

Fusion (seed 000: audio 0.6, visual 0.4, threshold 0.3), over the sources available at that frame:

    confidence  = sum(w_s * score_s) / sum(w_s)
    is_speaking = confidence >= threshold

See docs/speaking.md for the method/sources values and the accepted audio JSON shape.
"""

from __future__ import annotations

import json
import logging
import math
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
import webrtcvad

from vigil.errors import ConfigError, SourceUnsupported, VigilError

log = logging.getLogger(__name__)

# Visual score constants (calibrated jawOpen units).
JAW_OPEN_FULL = 0.3  # jawOpen at which the level term saturates
MOTION_STD_FULL = 0.1  # std of jawOpen over the window at which the motion term saturates
LEVEL_WEIGHT = 0.15
MOTION_WEIGHT = 0.85
MIN_MOTION_SAMPLES = 3  # fewer samples in the window -> motion term 0
WINDOW_SECONDS = 0.4
DEFAULT_WINDOW = 12  # frames, 0.4 s at 30 fps; use window_for_fps() for other rates

# Fusion (seed 000, "Détection de Parole Enrichie").
AUDIO_WEIGHT = 0.6
VISUAL_WEIGHT = 0.4
THRESHOLD = 0.3

# Values of speaking_method / speaking_sources (seed 000 field description).
SOURCE_AUDIO = "audio"
SOURCE_VISUAL = "blendshapes"
METHOD_AUDIO_PRIMARY = "audio_primary"
METHOD_VISUAL_PRIMARY = "visual_primary"
METHOD_VISUAL_ONLY = "blendshapes"
METHOD_NO_VISUAL = "no_blendshapes"

# webrtcvad input: 16 kHz mono signed 16-bit, 30 ms frames.
VAD_RATE = 16000
VAD_FRAME_MS = 30
VAD_FRAME_SAMPLES = VAD_RATE * VAD_FRAME_MS // 1000
VAD_FRAME_BYTES = VAD_FRAME_SAMPLES * 2
VAD_AGGRESSIVENESS = 2  # 0 (permissive) .. 3 (strict)
VAD_SMOOTH_FRAMES = 5  # centred moving average over 5 x 30 ms = 150 ms

AUDIO_JSON_SUFFIX = "_audio.json"
_FRAME_KEYS = ("frame", "frame_number")
_SPEAKER_LIST_KEYS = ("active_speakers", "active_speaker_labels")
_SPEAKER_COUNT_KEYS = ("num_active_speakers", "num_distinct_speakers_audio")


class AudioJsonError(VigilError):
    """A STEP4 `<stem>_audio.json` file cannot be read or has an unexpected shape."""


@dataclass(frozen=True)
class SpeakingResult:
    is_speaking: bool
    confidence: float
    method: str
    sources: list[str]


@dataclass
class AudioActivity:
    """Per-video-frame speech value in [0,1]; NaN = unknown. Small and picklable (sent to workers)."""

    speech: np.ndarray  # float32, index 0 = frame 1
    source: str  # "audio_json" or "webrtcvad"

    def at(self, frame: int) -> float | None:
        """Speech value at a 1-based frame; None when out of range or unknown there."""
        if frame < 1 or frame > len(self.speech):
            return None
        value = float(self.speech[frame - 1])
        return None if math.isnan(value) else value

    def coverage(self) -> float:
        """Fraction of frames with a known speech value."""
        return float(np.mean(~np.isnan(self.speech))) if len(self.speech) else 0.0

    def speech_fraction(self) -> float:
        """Fraction of the known frames whose speech value is >= 0.5."""
        known = self.speech[~np.isnan(self.speech)]
        return float(np.mean(known >= 0.5)) if len(known) else 0.0


# ---------------------------------------------------------------- audio: STEP4 JSON


def load_audio_json(path: Path, fps: float, total_frames: int) -> AudioActivity:
    """Per-frame speech from a STEP4 audio JSON, mapped onto the video's frames (unknown = NaN)."""
    _check_timing(fps, total_frames)
    data = _read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("frames_analysis"), list):
        raise _json_error(path, 'the top level must be an object with a "frames_analysis" list')
    json_fps = _json_fps(path, data, fps)
    values: dict[int, float] = {}  # JSON frame number -> speech
    for position, entry in enumerate(data["frames_analysis"]):
        where = f"frames_analysis[{position}]"
        json_frame = _entry_frame(path, where, entry, position)  # checks that the entry is an object
        values[json_frame] = _entry_speech(path, where, entry)
    speech = np.full(total_frames, np.nan, dtype=np.float32)
    for frame in range(1, total_frames + 1):
        # Same numbering, unless the JSON was made at another frame rate: then look up by mid-frame time.
        json_frame = frame if json_fps is None else math.floor((frame - 0.5) / fps * json_fps) + 1
        speech[frame - 1] = values.get(json_frame, np.nan)
    activity = AudioActivity(speech=speech, source="audio_json")
    if activity.coverage() < 1.0:
        log.info(
            "%s covers %.0f%% of %d frames; other frames are visual-only",
            path,
            100 * activity.coverage(),
            total_frames,
        )
    return activity


def _check_timing(fps: float, total_frames: int) -> None:
    if not fps > 0 or total_frames < 0:
        raise ValueError(f"need fps > 0 and total_frames >= 0, got fps={fps}, total_frames={total_frames}")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AudioJsonError(f"cannot read audio file {path}: {exc.strerror or exc}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _json_error(path, f"not valid UTF-8 JSON ({exc})") from exc


def _json_error(path: Path, problem: str) -> AudioJsonError:
    return AudioJsonError(
        f"audio analysis file {path}: {problem}. Fix it to the shape described in docs/speaking.md, "
        "or move it away to use the video's own audio track instead."
    )


def _json_fps(path: Path, data: dict[str, Any], video_fps: float) -> float | None:
    """The JSON's frame rate when it differs from the video's by more than 1%, else None."""
    value = data.get("fps")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise _json_error(path, f'"fps" must be a positive number, got {value!r}')
    return float(value) if abs(value - video_fps) > 0.01 * video_fps else None


def _entry_frame(path: Path, where: str, entry: Any, position: int) -> int:
    if not isinstance(entry, dict):
        raise _json_error(path, f"{where} must be an object, got {type(entry).__name__}")
    for key in _FRAME_KEYS:
        if key in entry:
            value = entry[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise _json_error(
                    path, f"{where}.{key} must be a 1-based integer frame number, got {value!r}"
                )
            return int(value)
    return position + 1  # no frame key: entries are consecutive frames from frame 1


def _entry_speech(path: Path, where: str, entry: dict[str, Any]) -> float:
    """1.0/0.0 from is_speech_present, else from the active speakers; nested under audio_info or not."""
    info = entry.get("audio_info", entry)
    if not isinstance(info, dict):
        raise _json_error(path, f"{where}.audio_info must be an object")
    if "is_speech_present" in info:
        flag = info["is_speech_present"]
        if not isinstance(flag, bool) and flag not in (0, 1):
            raise _json_error(path, f"{where}.is_speech_present must be true/false, got {flag!r}")
        return float(bool(flag))
    for key in _SPEAKER_LIST_KEYS:
        if key in info:
            if not isinstance(info[key], list):
                raise _json_error(path, f"{where}.{key} must be a list of speaker labels")
            return float(len(info[key]) > 0)
    for key in _SPEAKER_COUNT_KEYS:
        if key in info:
            count = info[key]
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise _json_error(path, f"{where}.{key} must be a non-negative integer, got {count!r}")
            return float(count > 0)
    keys = ", ".join(("is_speech_present", *_SPEAKER_LIST_KEYS, *_SPEAKER_COUNT_KEYS))
    raise _json_error(path, f"{where} has none of {keys}")


# ---------------------------------------------------------------- audio: the video's own track


def audio_from_video(
    path: Path, fps: float, total_frames: int, aggressiveness: int = VAD_AGGRESSIVENESS
) -> AudioActivity | None:
    """Per-frame speech from the video's first audio track through webrtcvad; None without audio."""
    _check_timing(fps, total_frames)
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise SourceUnsupported(f"cannot open {path} to read its audio: {exc}") from exc
    with container:
        if not container.streams.audio:
            return None
        video_start = _video_start_seconds(container)
        decisions, audio_start = _vad_decisions(container, webrtcvad.Vad(aggressiveness))
    if audio_start is None:
        return None  # an audio stream without a single decodable sample
    speech = _frames_from_vad(decisions, audio_start - video_start, fps, total_frames)
    return AudioActivity(speech=speech, source="webrtcvad")


def _video_start_seconds(container: Any) -> float:
    if not container.streams.video:
        return 0.0
    stream = container.streams.video[0]
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def _vad_decisions(container: Any, vad: Any) -> tuple[np.ndarray, float | None]:
    """0/1 per 30 ms of audio (streamed: memory stays flat) and the audio's start time in seconds."""
    decisions = bytearray()
    pending = bytearray()
    start: float | None = None
    consumed = 0  # samples placed on the timeline
    for chunk in _resampled_audio(container):
        if start is None:
            start = float(chunk.time) if chunk.time is not None else 0.0
        elif chunk.time is not None:
            # A gap (lost packets) is filled with silence so later speech keeps its timestamp.
            missing = round((float(chunk.time) - start) * VAD_RATE) - consumed
            if missing > VAD_FRAME_SAMPLES:
                pending += bytes(2 * missing)
                consumed += missing
        samples = chunk.to_ndarray().astype(np.int16, copy=False).ravel()
        pending += samples.tobytes()
        consumed += len(samples)
        usable = len(pending) - len(pending) % VAD_FRAME_BYTES
        for offset in range(0, usable, VAD_FRAME_BYTES):
            decisions.append(vad.is_speech(bytes(pending[offset : offset + VAD_FRAME_BYTES]), VAD_RATE))
        del pending[:usable]
    if pending:  # the last partial 30 ms, padded with silence
        pending += bytes(VAD_FRAME_BYTES - len(pending))
        decisions.append(vad.is_speech(bytes(pending), VAD_RATE))
    return np.frombuffer(bytes(decisions), dtype=np.uint8), start


def _resampled_audio(container: Any) -> Iterator[Any]:
    """16 kHz mono s16 frames of the first audio stream; undecodable packets are skipped."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=VAD_RATE)
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


def _frames_from_vad(decisions: np.ndarray, offset_s: float, fps: float, total_frames: int) -> np.ndarray:
    """Smoothed VAD at each video frame's mid-time; NaN where the audio does not cover the frame."""
    speech = np.full(total_frames, np.nan, dtype=np.float32)
    if len(decisions) == 0 or total_frames == 0:
        return speech
    kernel = np.ones(VAD_SMOOTH_FRAMES, dtype=np.float32) / VAD_SMOOTH_FRAMES
    padded = np.pad(decisions.astype(np.float32), VAD_SMOOTH_FRAMES // 2, mode="edge")
    smoothed = np.convolve(padded, kernel, mode="valid")
    mid_times = (np.arange(total_frames) + 0.5) / fps - offset_s  # relative to the audio start
    index = np.floor(mid_times * 1000 / VAD_FRAME_MS).astype(np.int64)
    covered = (index >= 0) & (index < len(smoothed))
    speech[covered] = smoothed[index[covered]]
    return speech


def find_audio_activity(video: Path, fps: float, total_frames: int) -> AudioActivity | None:
    """The sibling `<stem>_audio.json` when present (errors if malformed), else the video's audio track."""
    sibling = video.with_name(video.stem + AUDIO_JSON_SUFFIX)
    if sibling.is_file():
        return load_audio_json(sibling, fps, total_frames)
    return audio_from_video(video, fps, total_frames)


# ---------------------------------------------------------------- visual score and fusion


def window_for_fps(fps: float, seconds: float = WINDOW_SECONDS) -> int:
    """Motion window in frames for a frame rate (at least MIN_MOTION_SAMPLES)."""
    return max(MIN_MOTION_SAMPLES, round(seconds * fps))


def visual_score(jaw_now: float, recent_jaw: np.ndarray) -> float:
    """LEVEL_WEIGHT * level + MOTION_WEIGHT * motion, in [0,1] (module docstring)."""
    level = min(max(jaw_now / JAW_OPEN_FULL, 0.0), 1.0)
    motion = 0.0
    if len(recent_jaw) >= MIN_MOTION_SAMPLES:
        motion = min(float(np.std(recent_jaw)) / MOTION_STD_FULL, 1.0)
    return LEVEL_WEIGHT * level + MOTION_WEIGHT * motion


@dataclass
class _TrackMouth:
    samples: deque[tuple[int, float]] = field(default_factory=deque)  # (frame, jawOpen)
    last_frame: int = 0


class SpeakingDetector:
    """Per-track speaking decisions for one video (or chunk); feed frames in increasing order per track.

    A track's motion term needs `window` frames of history: chunks should overlap by at least
    `window` frames for chunked output to match a single-worker run.
    """

    def __init__(
        self,
        audio: AudioActivity | None,
        audio_weight: float = AUDIO_WEIGHT,
        visual_weight: float = VISUAL_WEIGHT,
        threshold: float = THRESHOLD,
        window: int = DEFAULT_WINDOW,
    ) -> None:
        if audio_weight < 0 or visual_weight < 0 or audio_weight + visual_weight <= 0:
            raise ConfigError("speaking weights must be >= 0 with a positive sum")
        if not 0.0 <= threshold <= 1.0:
            raise ConfigError(f"speaking threshold must be in [0, 1], got {threshold}")
        if window < MIN_MOTION_SAMPLES:
            raise ConfigError(f"speaking window must be >= {MIN_MOTION_SAMPLES} frames, got {window}")
        self.audio = audio
        self.audio_weight = audio_weight
        self.visual_weight = visual_weight
        self.threshold = threshold
        self.window = window
        self._tracks: dict[str, _TrackMouth] = {}
        self._updates = 0

    def update(self, track_key: str, frame: int, jaw_open: float | None) -> SpeakingResult:
        """Decision for one face at a 1-based frame; jaw_open None when no blendshapes are available."""
        visual = self._visual(track_key, frame, jaw_open) if self.visual_weight > 0 else None
        audio = self.audio.at(frame) if self.audio is not None and self.audio_weight > 0 else None
        self._updates += 1
        if self._updates % (8 * self.window) == 0:
            self._forget_stale(frame)
        return self._fuse(audio, visual)

    def forget(self, track_key: str) -> None:
        """Drop a finished track's history."""
        self._tracks.pop(track_key, None)

    def _visual(self, track_key: str, frame: int, jaw_open: float | None) -> float | None:
        track = self._tracks.get(track_key)
        if track is None or frame < track.last_frame:  # new track, or frames went backwards: restart
            track = self._tracks[track_key] = _TrackMouth()
        if track.samples and track.samples[-1][0] == frame:  # same frame again: replace its sample
            track.samples.pop()
        track.last_frame = frame
        while track.samples and track.samples[0][0] <= frame - self.window:
            track.samples.popleft()
        if jaw_open is None or math.isnan(jaw_open):
            return None
        track.samples.append((frame, float(jaw_open)))
        recent = np.fromiter((jaw for _, jaw in track.samples), dtype=np.float64, count=len(track.samples))
        return visual_score(float(jaw_open), recent)

    def _forget_stale(self, frame: int) -> None:
        stale = [key for key, track in self._tracks.items() if track.last_frame <= frame - self.window]
        for key in stale:
            del self._tracks[key]

    def _fuse(self, audio: float | None, visual: float | None) -> SpeakingResult:
        if audio is not None and visual is not None:
            weighted_audio, weighted_visual = self.audio_weight * audio, self.visual_weight * visual
            confidence = (weighted_audio + weighted_visual) / (self.audio_weight + self.visual_weight)
            method = METHOD_AUDIO_PRIMARY if weighted_audio >= weighted_visual else METHOD_VISUAL_PRIMARY
            return self._result(confidence, method, [SOURCE_AUDIO, SOURCE_VISUAL])
        if audio is not None:
            return self._result(audio, METHOD_NO_VISUAL, [SOURCE_AUDIO])
        if visual is not None:
            return self._result(visual, METHOD_VISUAL_ONLY, [SOURCE_VISUAL])
        return SpeakingResult(is_speaking=False, confidence=0.0, method=METHOD_NO_VISUAL, sources=[])

    def _result(self, confidence: float, method: str, sources: list[str]) -> SpeakingResult:
        confidence = min(max(confidence, 0.0), 1.0)
        return SpeakingResult(confidence >= self.threshold, confidence, method, sources)
