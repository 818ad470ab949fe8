"""Active-speaker detection per face track: the audio says *when* someone speaks, each face's
mouth motion says *who*.

Audio (per video frame, from `AudioActivity`):
    voice     in [0,1]: Silero VAD on the video's own track (speech and sung/rapped vocals, not
              music or noise), or the STEP4 `<stem>_audio.json` where it gives a value;
    envelope  log energy of the 1-4 kHz band (dB), the syllable rhythm.

Mouth (per face, per frame): `mouth_opening` = inner-lip gap / outer-eye-corner distance.

    activity = std(opening over the track's last ACTIVITY_SECONDS)
    level    = clip((activity - ACTIVITY_LOW) / (ACTIVITY_HIGH - ACTIVITY_LOW), 0, 1)
    sync     = max over lags 0..SYNC_LAG_SECONDS of corr(|d opening/dt|, envelope shifted by the lag)
               over the track's last SYNC_SECONDS (the lips move slightly before the sound)
    agree    = clip((sync - SYNC_LOW) / (SYNC_HIGH - SYNC_LOW), 0, 1); 0 before MIN_SYNC_SECONDS
               of history, 1 without any envelope (no audio track)
    visual   = level * (SYNC_FLOOR + (1 - SYNC_FLOOR) * agree)

Decision (both sources must agree; a weight of 0 disables a source):
    audio and mouth known:  confidence = voice * visual           method "audio_primary"
    mouth only (no audio):  confidence = visual * VISUAL_ONLY_FACTOR  method "blendshapes"
    no mouth (no landmarks): confidence 0, never speaking          method "no_blendshapes"
    is_speaking = confidence >= threshold

Decisions are causal in the mouth (the trailing windows), so a video gives the same flags whatever
its chunking. See docs/speaking.md for the measurements behind the constants.
"""

from __future__ import annotations

import json
import logging
import math
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vigil.batch.audio_voice import VoiceTrack, voice_from_video
from vigil.errors import ConfigError, VigilError

log = logging.getLogger(__name__)

# Mouth activity: std of the opening ratio (lip gap / nose-bridge-to-chin) over the trailing window.
# Measured (docs/speaking.md): a rapping performer 0.02-0.04 median depending on the landmark engine,
# listening or laughing audience faces 0.004-0.011 median, up to 0.03 at their 90th percentile.
ACTIVITY_SECONDS = 0.5
ACTIVITY_LOW = 0.005
ACTIVITY_HIGH = 0.02
MIN_MOTION_SAMPLES = 4
# Audio-visual synchrony.
SYNC_SECONDS = 1.5
SYNC_LAG_SECONDS = 0.15
MIN_SYNC_SECONDS = 0.5  # shorter shared histories correlate by chance (small faces' jitter)
EARLY_WEIGHT = 0.4  # the share of `level` kept before MIN_SYNC_SECONDS of history
SYNC_LOW = 0.0
SYNC_HIGH = 0.4
SYNC_FLOOR = 0.2  # the share of `level` kept when the mouth moves against the sound
VOICE_HANGOVER_SECONDS = 0.25  # a voice value holds this long each side: short pauses stay in a turn
VISUAL_ONLY_FACTOR = 0.7  # no audio: a moving mouth is weaker evidence (laughing, chewing)
WINDOW_SECONDS = SYNC_SECONDS
DEFAULT_WINDOW = 45  # frames: 1.5 s at 30 fps; use window_for_fps() for other rates

# Defaults of the settings (seed 000 names kept; see docs/speaking.md for their new meaning).
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
    """Per-video-frame audio for one video; NaN = unknown. Small and picklable."""

    speech: np.ndarray  # float32 voice value in [0,1], index 0 = frame 1
    source: str  # "audio_json", "silero_vad", "webrtcvad" or "audio_json+silero_vad"...
    envelope: np.ndarray | None = None  # float32 voice-band log energy (dB), same indexing
    warnings: tuple[str, ...] = ()  # what went wrong on the way (reported in the metadata)

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


# ---------------------------------------------------------------- audio: choosing the source


def audio_from_video(path: Path, fps: float, total_frames: int) -> AudioActivity | None:
    """Voice and envelope per frame from the video's own audio track; None without audio."""
    _check_timing(fps, total_frames)
    track = voice_from_video(path, fps, total_frames)
    return None if track is None else _from_track(track)


def _from_track(track: VoiceTrack) -> AudioActivity:
    return AudioActivity(track.voice, track.source, track.envelope, track.warnings)


def find_audio_activity(video: Path, fps: float, total_frames: int) -> AudioActivity | None:
    """The sibling STEP4 `<stem>_audio.json` where it gives a value, the video's own track for the
    envelope and the frames it leaves out. A malformed STEP4 file never fails the video: it is
    set aside with a warning (in the returned `warnings`) and the video's own track is used."""
    _check_timing(fps, total_frames)
    own = audio_from_video(video, fps, total_frames)
    sibling = video.with_name(video.stem + AUDIO_JSON_SUFFIX)
    if not sibling.is_file():
        return own
    try:
        step4 = load_audio_json(sibling, fps, total_frames)
    except AudioJsonError as exc:
        message = f"{sibling.name} ignored: {exc}"
        log.warning("%s: %s", video.name, message)
        if own is None:
            return AudioActivity(np.full(total_frames, np.nan, np.float32), "none", None, (message,))
        return AudioActivity(own.speech, own.source, own.envelope, (*own.warnings, message))
    if own is None:
        return step4
    known = ~np.isnan(step4.speech)
    speech = np.where(known, step4.speech, own.speech).astype(np.float32)
    source = step4.source if known.all() else f"{step4.source}+{own.source}"
    return AudioActivity(speech, source, own.envelope, own.warnings)


# ---------------------------------------------------------------- mouth and fusion


def window_for_fps(fps: float, seconds: float = WINDOW_SECONDS) -> int:
    """History kept per track, in frames (at least MIN_MOTION_SAMPLES)."""
    return max(MIN_MOTION_SAMPLES, round(seconds * fps))


@dataclass(frozen=True)
class MouthEvidence:
    """How a face's mouth moves over its trailing windows (docs/speaking.md)."""

    activity: float  # std of the opening ratio
    sync: float | None  # best lagged correlation with the voice envelope; None without enough data
    visual: float  # in [0,1]


def mouth_evidence(
    openings: np.ndarray, frames: np.ndarray, envelope: np.ndarray | None, fps: float
) -> MouthEvidence:
    """Evidence at the last frame of `frames` (1-based, increasing) from the track's openings there."""
    recent = frames > frames[-1] - max(MIN_MOTION_SAMPLES, round(ACTIVITY_SECONDS * fps))
    activity = float(np.std(openings[recent])) if int(recent.sum()) >= MIN_MOTION_SAMPLES else 0.0
    level = min(max((activity - ACTIVITY_LOW) / (ACTIVITY_HIGH - ACTIVITY_LOW), 0.0), 1.0)
    sync = _sync(openings, frames, envelope, fps)
    # With a soundtrack but too little shared history yet, the mouth alone is weak evidence.
    weight = 1.0 if envelope is None else EARLY_WEIGHT
    if sync is not None:
        agreement = min(max((sync - SYNC_LOW) / (SYNC_HIGH - SYNC_LOW), 0.0), 1.0)
        weight = SYNC_FLOOR + (1.0 - SYNC_FLOOR) * agreement
    return MouthEvidence(activity, sync, level * weight)


def _sync(openings: np.ndarray, frames: np.ndarray, envelope: np.ndarray | None, fps: float) -> float | None:
    if envelope is None or len(frames) < max(2 * MIN_MOTION_SAMPLES, round(MIN_SYNC_SECONDS * fps)):
        return None
    speed = np.abs(np.diff(openings))  # per consecutive sample pair, at the later frame
    at = frames[1:]
    best: float | None = None
    for lag in range(max(1, round(SYNC_LAG_SECONDS * fps)) + 1):
        index = at - 1 + lag
        inside = index < len(envelope)
        if int(inside.sum()) < 2 * MIN_MOTION_SAMPLES:
            continue
        sound = envelope[index[inside]]
        motion = speed[inside]
        keep = ~np.isnan(sound)
        if int(keep.sum()) < 2 * MIN_MOTION_SAMPLES:
            continue
        sound, motion = sound[keep], motion[keep]
        if float(np.std(sound)) < 1e-6 or float(np.std(motion)) < 1e-9:
            continue
        value = float(np.corrcoef(motion, sound)[0, 1])
        best = value if best is None else max(best, value)
    return best


def _hold(values: np.ndarray, frames: int) -> np.ndarray:
    """Each value replaced by the maximum of the known values within `frames` each side."""
    if frames <= 0 or len(values) == 0:
        return values
    padded = np.pad(np.where(np.isnan(values), -np.inf, values), frames, constant_values=-np.inf)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * frames + 1)
    held = windows.max(axis=1)
    return np.where(np.isinf(held), np.nan, held).astype(np.float32)


@dataclass
class _TrackMouth:
    samples: deque[tuple[int, float]] = field(default_factory=deque)  # (frame, opening)
    last_frame: int = 0


class SpeakingDetector:
    """Per-track speaking decisions for one video; feed each track's frames in increasing order.

    A track's windows need `window` frames of history: chunks should overlap by at least `window`
    frames for chunked output to match a single-worker run.
    """

    def __init__(
        self,
        audio: AudioActivity | None,
        audio_weight: float = AUDIO_WEIGHT,
        visual_weight: float = VISUAL_WEIGHT,
        threshold: float = THRESHOLD,
        window: int = DEFAULT_WINDOW,
        fps: float | None = None,
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
        self.fps = fps if fps is not None and fps > 0 else window / WINDOW_SECONDS
        self._envelope = None if audio is None or audio_weight == 0 else audio.envelope
        self._voice = None if audio is None else _hold(audio.speech, round(VOICE_HANGOVER_SECONDS * self.fps))
        self._tracks: dict[str, _TrackMouth] = {}
        self._updates = 0

    def update(self, track_key: str, frame: int, mouth: float | None) -> SpeakingResult:
        """Decision for one face at a 1-based frame; `mouth` is its `mouth_opening` (None: no landmarks)."""
        visual = self._visual(track_key, frame, mouth)
        audio = self._voice_at(frame) if self.audio_weight > 0 else None
        self._updates += 1
        if self._updates % (8 * self.window) == 0:
            self._forget_stale(frame)
        return self._fuse(audio, visual)

    def forget(self, track_key: str) -> None:
        """Drop a finished track's history."""
        self._tracks.pop(track_key, None)

    def _voice_at(self, frame: int) -> float | None:
        if self._voice is None or frame < 1 or frame > len(self._voice):
            return None
        value = float(self._voice[frame - 1])
        return None if math.isnan(value) else value

    def _visual(self, track_key: str, frame: int, mouth: float | None) -> float | None:
        track = self._tracks.get(track_key)
        if track is None or frame < track.last_frame:  # new track, or frames went backwards: restart
            track = self._tracks[track_key] = _TrackMouth()
        if track.samples and track.samples[-1][0] == frame:  # same frame again: replace its sample
            track.samples.pop()
        track.last_frame = frame
        while track.samples and track.samples[0][0] <= frame - self.window:
            track.samples.popleft()
        if mouth is None or math.isnan(mouth):
            return None
        track.samples.append((frame, float(mouth)))
        if self.visual_weight == 0:
            return None
        frames = np.fromiter((f for f, _ in track.samples), dtype=np.int64, count=len(track.samples))
        openings = np.fromiter((m for _, m in track.samples), dtype=np.float64, count=len(track.samples))
        return mouth_evidence(openings, frames, self._envelope, self.fps).visual

    def _forget_stale(self, frame: int) -> None:
        stale = [key for key, track in self._tracks.items() if track.last_frame <= frame - self.window]
        for key in stale:
            del self._tracks[key]

    def _fuse(self, audio: float | None, visual: float | None) -> SpeakingResult:
        if self.visual_weight == 0:  # audio alone: says someone speaks, not who (every face)
            if audio is None:
                return SpeakingResult(False, 0.0, METHOD_NO_VISUAL, [])
            return self._result(audio, METHOD_NO_VISUAL, [SOURCE_AUDIO])
        if visual is None:  # no landmarks: nothing says this face is the one speaking
            return SpeakingResult(False, 0.0, METHOD_NO_VISUAL, [SOURCE_AUDIO] if audio is not None else [])
        if audio is not None:
            return self._result(audio * visual, METHOD_AUDIO_PRIMARY, [SOURCE_AUDIO, SOURCE_VISUAL])
        return self._result(visual * VISUAL_ONLY_FACTOR, METHOD_VISUAL_ONLY, [SOURCE_VISUAL])

    def _result(self, confidence: float, method: str, sources: list[str]) -> SpeakingResult:
        confidence = min(max(confidence, 0.0), 1.0)
        return SpeakingResult(confidence >= self.threshold, confidence, method, sources)
