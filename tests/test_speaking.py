"""Speaking detection: audio sources (STEP4 JSON, the video's own track via webrtcvad) and fusion."""

from __future__ import annotations

import json
import math
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from tests.conftest import shared_file
from vigil.batch.speaking import (
    LEVEL_WEIGHT,
    MOTION_STD_FULL,
    MOTION_WEIGHT,
    AudioActivity,
    AudioJsonError,
    SpeakingDetector,
    audio_from_video,
    find_audio_activity,
    load_audio_json,
    window_for_fps,
)
from vigil.errors import ConfigError, SourceUnsupported, VigilError

# ---------------------------------------------------------------- helpers


def video_info(path: Path) -> tuple[float, int]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.average_rate is not None
        return float(stream.average_rate), int(stream.frames)


def write_media(
    path: Path,
    audio: np.ndarray | None,
    *,
    frames: int = 50,
    fps: int = 25,
    audio_start_s: float = 0.0,
    video: bool = True,
    more_audio: Sequence[tuple[float, np.ndarray]] = (),
) -> Path:
    """A small file: grey video frames and/or mono audio in [-1,1] at 16 kHz starting at audio_start_s,
    then each (start_s, samples) of more_audio (a later start leaves a gap in the timestamps)."""
    wav = path.suffix == ".wav"
    with av.open(str(path), "w") as container:
        # Every stream is configured before the first packet is muxed (that opens the codecs).
        video_stream = audio_stream = None
        if video:
            video_stream = container.add_stream("mpeg4", rate=fps)
            video_stream.width = video_stream.height = 64
            video_stream.pix_fmt = "yuv420p"
        if audio is not None:
            audio_stream = container.add_stream("pcm_s16le" if wav else "aac", rate=16000)
            audio_stream.layout = "mono"
        if video_stream is not None:
            write_grey_video(container, video_stream, frames)
        if audio_stream is not None and audio is not None:
            for start_s, samples in ((audio_start_s, audio), *more_audio):
                write_mono_audio(container, audio_stream, samples, start_s, wav)
            container.mux(audio_stream.encode())
    return path


def write_grey_video(container: Any, stream: Any, frames: int) -> None:
    for index in range(frames):
        image = np.full((64, 64, 3), index * 4 % 256, np.uint8)
        container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
    container.mux(stream.encode())


def write_mono_audio(container: Any, stream: Any, audio: np.ndarray, start_s: float, wav: bool) -> None:
    fmt = "s16" if wav else "fltp"
    samples = (audio * 32767).astype(np.int16) if wav else audio.astype(np.float32)
    first = round(start_s * stream.rate)
    for start in range(0, len(samples), 1024):
        frame = av.AudioFrame.from_ndarray(samples[None, start : start + 1024], format=fmt, layout="mono")
        frame.sample_rate = stream.rate
        frame.pts = first + start
        container.mux(stream.encode(frame))


def silence_then_tone(seconds_silent: float, seconds_tone: float) -> np.ndarray:
    rate = 16000
    t = np.arange(round((seconds_silent + seconds_tone) * rate)) / rate
    # webrtcvad is a voice-activity detector, not a speech classifier: a loud tone counts as "voice".
    return np.where(t < seconds_silent, 0.0, 0.3 * np.sin(2 * np.pi * 440 * t))


def write_audio_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data))
    return path


# ---------------------------------------------------------------- the video's own audio track


def test_hamilton_singing_is_speech_on_almost_every_frame(hamilton: Path) -> None:
    fps, total = video_info(hamilton)
    activity = audio_from_video(hamilton, fps, total)
    assert activity is not None and activity.source == "webrtcvad"
    assert activity.speech.shape == (total,)
    assert activity.coverage() == 1.0  # the audio track spans the video (which starts at 0.85 s)
    assert activity.speech_fraction() > 0.9  # measured 0.99: singing over a piano


def test_silent_audio_track_has_no_speech() -> None:
    video = shared_file("media/video/expressions_640x360.mp4")  # its AAC track is digital silence
    fps, total = video_info(video)
    activity = audio_from_video(video, fps, total)
    assert activity is not None and len(activity.speech) == total
    assert activity.coverage() == 1.0
    assert activity.speech_fraction() == 0.0
    assert float(np.nanmax(activity.speech)) == 0.0


def test_generated_silent_wav_has_no_speech(tmp_path: Path) -> None:
    wav = write_media(tmp_path / "silence.wav", np.zeros(16000 * 2), video=False)
    activity = audio_from_video(wav, 25.0, 50)
    assert activity is not None
    assert activity.coverage() == 1.0
    assert activity.speech_fraction() == 0.0


def test_speech_is_mapped_to_the_right_video_frames(tmp_path: Path) -> None:
    clip = write_media(tmp_path / "tone.mp4", silence_then_tone(1.0, 1.0))  # tone from frame 26 (t = 1 s)
    activity = audio_from_video(clip, 25.0, 50)
    assert activity is not None and len(activity.speech) == 50
    assert np.all(activity.speech[:22] < 0.5), activity.speech
    assert np.all(activity.speech[29:] >= 0.5), activity.speech


def test_audio_starting_late_is_aligned_and_unknown_before(tmp_path: Path) -> None:
    # Audio starts 0.6 s after the video; its tone starts 1 s into the audio, i.e. at 1.6 s = frame 41.
    clip = write_media(tmp_path / "late.mp4", silence_then_tone(1.0, 1.0), frames=75, audio_start_s=0.6)
    activity = audio_from_video(clip, 25.0, 75)
    assert activity is not None
    assert all(activity.at(frame) is None for frame in range(1, 13))  # before 0.5 s: no audio yet
    known = activity.speech[15:66]  # frames 16..66
    assert not np.any(np.isnan(known))
    assert np.all(activity.speech[15:37] < 0.5), activity.speech  # frames 16..37
    assert np.all(activity.speech[42:66] >= 0.5), activity.speech  # frames 43..66
    assert activity.at(75) is None  # the audio ended at 2.6 s, frame 75 is at 2.96 s


def test_gap_in_audio_timestamps_keeps_later_speech_in_place(tmp_path: Path) -> None:
    # 1 s of silence, then nothing for 0.5 s (lost packets), then 1 s of tone: it starts at 1.5 s = frame 38.
    tone = silence_then_tone(0.0, 1.0)
    clip = write_media(tmp_path / "gap.mkv", np.zeros(16000), frames=75, more_audio=[(1.5, tone)])
    activity = audio_from_video(clip, 25.0, 75)
    assert activity is not None
    assert np.all(activity.speech[31:35] < 0.5), activity.speech  # frames 32..35, inside the gap
    assert np.all(activity.speech[40:62] >= 0.5), activity.speech  # frames 41..62


def test_real_clip_whose_audio_starts_late() -> None:
    video = shared_file("media/video/face_then_noface_hevc.mov")  # audio stream starts at 2.43 s
    fps, total = video_info(video)
    activity = audio_from_video(video, fps, total)
    assert activity is not None and len(activity.speech) == total
    first_known = int(np.argmax(~np.isnan(activity.speech))) + 1
    assert activity.at(1) is None
    assert abs((first_known - 1) / fps - 2.43) < 0.1


def test_video_without_audio_track_gives_none(tmp_path: Path, hamilton: Path) -> None:
    video_only = tmp_path / "mute.mp4"
    with av.open(str(hamilton)) as source, av.open(str(video_only), "w") as target:
        in_stream = source.streams.video[0]
        out_stream = target.add_stream_from_template(in_stream)
        for packet in source.demux(in_stream):
            if packet.dts is not None:
                packet.stream = out_stream
                target.mux(packet)
    fps, total = video_info(video_only)
    assert total > 0
    assert audio_from_video(video_only, fps, total) is None
    assert find_audio_activity(video_only, fps, total) is None


# ---------------------------------------------------------------- STEP4 audio JSON


def seed_audio_json(frames: list[dict[str, Any]], fps: float = 25.0) -> dict[str, Any]:
    return {"video_filename": "clip.mp4", "total_frames": len(frames), "fps": fps, "frames_analysis": frames}


def test_audio_json_nested_and_flat_entries(tmp_path: Path) -> None:
    frames: list[dict[str, Any]] = [
        {"frame": 1, "audio_info": {"is_speech_present": False, "active_speaker_labels": []}},
        {"frame": 2, "audio_info": {"is_speech_present": True, "active_speaker_labels": ["SPEAKER_00"]}},
        {"frame": 3, "is_speech_present": True},
        {"frame": 4, "active_speakers": []},
        {"frame_number": 5, "active_speakers": ["SPEAKER_01"]},
        {"frame": 6, "audio_info": {"num_distinct_speakers_audio": 2}},
    ]
    activity = load_audio_json(write_audio_json(tmp_path / "a.json", seed_audio_json(frames)), 25.0, 8)
    assert activity.source == "audio_json"
    assert [activity.at(frame) for frame in range(1, 9)] == [0.0, 1.0, 1.0, 0.0, 1.0, 1.0, None, None]
    assert activity.at(0) is None and activity.at(9) is None


def test_audio_json_without_frame_numbers_uses_positions(tmp_path: Path) -> None:
    frames: list[dict[str, Any]] = [{"is_speech_present": flag} for flag in (False, True, True)]
    activity = load_audio_json(write_audio_json(tmp_path / "a.json", seed_audio_json(frames)), 25.0, 3)
    assert activity.speech.tolist() == [0.0, 1.0, 1.0]


def test_audio_json_made_at_another_frame_rate_is_mapped_by_time(tmp_path: Path) -> None:
    # 10 fps JSON, speech during its frames 3-4 (0.2 s - 0.4 s); the video runs at 20 fps.
    frames = [{"frame": i, "is_speech_present": i in (3, 4)} for i in range(1, 11)]
    data = seed_audio_json(frames, fps=10.0)
    activity = load_audio_json(write_audio_json(tmp_path / "a.json", data), 20.0, 20)
    speaking_frames = [frame for frame in range(1, 21) if activity.at(frame) == 1.0]
    assert speaking_frames == [5, 6, 7, 8]  # video frames whose mid-time lies in [0.2 s, 0.4 s)


def test_seed_empty_audio_json_means_unknown_everywhere(tmp_path: Path) -> None:
    # The seed's own test fixture (its section "Test de Fonctionnement Basique").
    data = {"video_filename": "test_face.mp4", "total_frames": 125, "fps": 25.0, "frames_analysis": []}
    activity = load_audio_json(write_audio_json(tmp_path / "a.json", data), 25.0, 125)
    assert len(activity.speech) == 125 and activity.coverage() == 0.0
    assert SpeakingDetector(activity).update("t", 10, None).sources == []


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("{not json", "not valid UTF-8 JSON"),
        ("[]", '"frames_analysis" list'),
        ('{"frames_analysis": {}}', '"frames_analysis" list'),
        ('{"fps": 0, "frames_analysis": []}', '"fps" must be a positive number'),
        ('{"frames_analysis": [{"frame": 1, "is_speech_present": "yes"}]}', "must be true/false"),
        ('{"frames_analysis": [{"frame": 0, "is_speech_present": true}]}', "frames_analysis[0].frame"),
        ('{"frames_analysis": [{"frame": 1}]}', "has none of is_speech_present"),
        ('{"frames_analysis": [{"frame": 1, "active_speakers": "A"}]}', "must be a list"),
        ('{"frames_analysis": [7]}', "must be an object"),
        ('{"frames_analysis": [{"audio_info": 3}]}', "audio_info must be an object"),
    ],
)
def test_malformed_audio_json_raises_actionable_error(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "clip_audio.json"
    path.write_text(content)
    with pytest.raises(AudioJsonError) as caught:
        load_audio_json(path, 25.0, 10)
    assert isinstance(caught.value, VigilError)
    message = str(caught.value)
    assert fragment in message and str(path) in message and "docs/speaking.md" in message


def test_missing_audio_json_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(AudioJsonError, match="cannot read"):
        load_audio_json(tmp_path / "absent_audio.json", 25.0, 10)


def test_sibling_audio_json_takes_precedence_over_the_track(tmp_path: Path, hamilton: Path) -> None:
    video = tmp_path / "show.mp4"
    video.symlink_to(hamilton)
    fps, total = video_info(video)
    assert find_audio_activity(video, fps, total).source == "webrtcvad"  # type: ignore[union-attr]
    frames = [{"frame": i, "audio_info": {"is_speech_present": i <= 10}} for i in range(1, total + 1)]
    write_audio_json(tmp_path / "show_audio.json", seed_audio_json(frames, fps))
    activity = find_audio_activity(video, fps, total)
    assert activity is not None and activity.source == "audio_json"
    assert activity.speech_fraction() == pytest.approx(10 / total)
    (tmp_path / "show_audio.json").write_text('{"frames_analysis": 3}')
    with pytest.raises(AudioJsonError):
        find_audio_activity(video, fps, total)


def test_audio_activity_pickles() -> None:
    speech = np.array([0.0, 1.0, np.nan, 0.4], dtype=np.float32)
    activity = AudioActivity(speech=speech, source="webrtcvad")
    payload = pickle.dumps(activity)
    clone = pickle.loads(payload)
    assert clone.source == "webrtcvad"
    assert np.array_equal(clone.speech, speech, equal_nan=True)
    assert [clone.at(f) for f in range(1, 5)] == [0.0, 1.0, None, pytest.approx(0.4)]
    assert len(payload) < 1000  # cheap to send to every worker


# ---------------------------------------------------------------- fusion


def constant_audio(value: float, frames: int = 100) -> AudioActivity:
    return AudioActivity(speech=np.full(frames, value, dtype=np.float32), source="audio_json")


def feed(
    detector: SpeakingDetector, jaws: Sequence[float | None], track: str = "obj_1", first: int = 1
) -> Any:
    result = None
    for offset, jaw in enumerate(jaws):
        result = detector.update(track, first + offset, jaw)
    return result


CHATTER = [0.0, 0.3] * 8  # jaw opening and closing every frame: std 0.15, strong motion
STILL_OPEN = [0.5] * 16  # mouth held wide open
STILL_SHUT = [0.0] * 16


@pytest.mark.parametrize(
    ("audio", "jaws", "speaking", "confidence", "method", "sources"),
    [
        # audio only (no blendshapes for this face)
        (1.0, [None], True, 1.0, "no_blendshapes", ["audio"]),
        (0.0, [None], False, 0.0, "no_blendshapes", ["audio"]),
        # visual only (no audio for this video)
        (None, STILL_SHUT, False, 0.0, "blendshapes", ["blendshapes"]),
        (None, STILL_OPEN, False, LEVEL_WEIGHT, "blendshapes", ["blendshapes"]),
        (None, CHATTER, True, LEVEL_WEIGHT + MOTION_WEIGHT, "blendshapes", ["blendshapes"]),
        # both: audio 0.6, visual 0.4
        (1.0, STILL_SHUT, True, 0.6, "audio_primary", ["audio", "blendshapes"]),
        (0.0, STILL_SHUT, False, 0.0, "audio_primary", ["audio", "blendshapes"]),
        (0.0, CHATTER, True, 0.4, "visual_primary", ["audio", "blendshapes"]),
        (0.0, STILL_OPEN, False, 0.4 * LEVEL_WEIGHT, "visual_primary", ["audio", "blendshapes"]),
        (0.45, STILL_SHUT, False, 0.27, "audio_primary", ["audio", "blendshapes"]),
        (0.45, STILL_OPEN, True, 0.27 + 0.4 * LEVEL_WEIGHT, "audio_primary", ["audio", "blendshapes"]),
        # nothing
        (None, [None], False, 0.0, "no_blendshapes", []),
    ],
)
def test_fusion_truth_table(
    audio: float | None,
    jaws: list[float | None],
    speaking: bool,
    confidence: float,
    method: str,
    sources: list[str],
) -> None:
    detector = SpeakingDetector(None if audio is None else constant_audio(audio))
    result = feed(detector, jaws)
    assert result.is_speaking is speaking
    assert result.confidence == pytest.approx(confidence, abs=1e-6)
    assert result.method == method
    assert result.sources == sources


def test_motion_term_scales_with_the_jaw_standard_deviation() -> None:
    wobble = [0.0, 0.04] * 8  # std 0.02, level ~0.13
    result = feed(SpeakingDetector(None), wobble)
    expected = LEVEL_WEIGHT * 0.04 / 0.3 + MOTION_WEIGHT * 0.02 / MOTION_STD_FULL
    assert result.confidence == pytest.approx(expected)


def test_threshold_is_inclusive_and_configurable() -> None:
    at_threshold = SpeakingDetector(constant_audio(0.5), threshold=0.3)
    assert feed(at_threshold, [0.0] * 5).confidence == pytest.approx(0.3)
    assert feed(at_threshold, [0.0] * 5).is_speaking
    stricter = SpeakingDetector(constant_audio(0.5), threshold=0.31)
    assert not feed(stricter, [0.0] * 5).is_speaking


def test_custom_weights_and_disabled_source() -> None:
    visual_heavy = SpeakingDetector(constant_audio(1.0), audio_weight=1.0, visual_weight=3.0)
    assert feed(visual_heavy, STILL_SHUT).confidence == pytest.approx(0.25)
    audio_off = SpeakingDetector(constant_audio(1.0), audio_weight=0.0, visual_weight=1.0)
    result = feed(audio_off, STILL_SHUT)
    assert result.sources == ["blendshapes"] and not result.is_speaking


def test_frames_without_audio_fall_back_to_visual() -> None:
    audio = AudioActivity(speech=np.array([1.0, np.nan], dtype=np.float32), source="webrtcvad")
    detector = SpeakingDetector(audio)
    assert detector.update("t", 1, 0.0).sources == ["audio", "blendshapes"]
    assert detector.update("t", 2, 0.0).sources == ["blendshapes"]  # unknown audio here
    assert detector.update("t", 3, 0.0).sources == ["blendshapes"]  # past the audio's end


def test_motion_only_counts_the_recent_window() -> None:
    detector = SpeakingDetector(None, window=10)
    assert feed(detector, CHATTER).is_speaking
    settled = feed(detector, [0.0] * 10, first=len(CHATTER) + 1)
    assert settled.is_speaking is False and settled.confidence == 0.0


def test_tracks_are_independent_and_restart_after_a_gap() -> None:
    detector = SpeakingDetector(None, window=10)
    for frame in range(1, 17):
        detector.update("talker", frame, CHATTER[frame - 1])
        quiet = detector.update("listener", frame, 0.0)
    assert quiet.confidence == 0.0
    assert detector.update("talker", 17, 0.3).is_speaking
    # Seen again long after: the old chatter is out of the window.
    assert detector.update("talker", 60, 0.0).confidence == 0.0


def test_chunked_run_with_window_overlap_matches_single_run() -> None:
    rng = np.random.default_rng(3)
    jaws = np.clip(rng.normal(0.1, 0.08, 120), 0.0, 1.0).tolist()
    audio = AudioActivity(speech=(rng.random(120) > 0.5).astype(np.float32), source="webrtcvad")
    single = SpeakingDetector(audio, window=12)
    expected = [single.update("obj_1", frame, jaws[frame - 1]) for frame in range(1, 121)]
    chunk = SpeakingDetector(audio, window=12)
    for frame in range(61 - 12, 61):  # warm-up on the overlap frames, output discarded
        chunk.update("obj_1", frame, jaws[frame - 1])
    second_half = [chunk.update("obj_1", frame, jaws[frame - 1]) for frame in range(61, 121)]
    assert second_half == expected[60:]


def test_window_for_fps() -> None:
    assert window_for_fps(29.97) == 12
    assert window_for_fps(24.0) == 10
    assert window_for_fps(2.0) == 3


@pytest.mark.parametrize(
    "kwargs",
    [{"audio_weight": -0.1}, {"audio_weight": 0.0, "visual_weight": 0.0}, {"threshold": 1.5}, {"window": 2}],
)
def test_invalid_detector_settings(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        SpeakingDetector(None, **kwargs)


def test_nan_jaw_is_treated_as_missing() -> None:
    result = SpeakingDetector(constant_audio(1.0)).update("t", 1, math.nan)
    assert result.sources == ["audio"]


def test_unreadable_media_is_a_typed_error(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.mp4"
    bogus.write_bytes(b"not a video at all" * 10)
    with pytest.raises(SourceUnsupported, match="cannot open"):
        audio_from_video(bogus, 25.0, 10)


def test_invalid_timing_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="fps > 0"):
        audio_from_video(tmp_path / "any.mp4", 0.0, 10)
    with pytest.raises(ValueError, match="fps > 0"):
        load_audio_json(tmp_path / "any_audio.json", float("nan"), 10)
