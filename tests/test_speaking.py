"""Speaking detection, unit level: audio sources (Silero VAD on the video's own track, the STEP4
JSON and its fallback), the mouth opening, and the fusion that says who speaks."""

from __future__ import annotations

import json
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from tests.conftest import shared_file
from vigil.batch.audio_voice import SILERO_PATH_ENV, SOURCE_SILERO, SOURCE_WEBRTC, silero_model_path
from vigil.batch.speaking import (
    SYNC_FLOOR,
    AudioActivity,
    AudioJsonError,
    SpeakingDetector,
    audio_from_video,
    find_audio_activity,
    load_audio_json,
    mouth_evidence,
    window_for_fps,
)
from vigil.batch.speaking_mouth import mouth_opening, mouth_signal
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


def silence_then_tone(seconds_silent: float, seconds_tone: float, hz: float = 2000.0) -> np.ndarray:
    rate = 16000
    t = np.arange(round((seconds_silent + seconds_tone) * rate)) / rate
    # A steady tone: energy in the voice band (the envelope), but not voice (Silero).
    return np.where(t < seconds_silent, 0.0, 0.3 * np.sin(2 * np.pi * hz * t))


def write_audio_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data))
    return path


# ---------------------------------------------------------------- the video's own audio track


def test_the_silero_model_is_installed() -> None:
    # make installs silero-vad with --no-deps (requirements-nodeps.txt): without it, webrtcvad.
    path = silero_model_path()
    assert path is not None and path.stat().st_size > 1_000_000


def test_hamilton_rap_is_voice_on_almost_every_frame(hamilton: Path) -> None:
    fps, total = video_info(hamilton)
    activity = audio_from_video(hamilton, fps, total)
    assert activity is not None and activity.source == SOURCE_SILERO and not activity.warnings
    assert activity.speech.shape == (total,) and activity.envelope is not None
    assert activity.coverage() > 0.99  # the audio track spans the video (which starts at 0.85 s)
    assert activity.speech_fraction() > 0.9  # measured 0.975: vocals over a piano


def test_music_without_voice_is_not_voice() -> None:
    video = shared_file("media/video/no_face.mp4")  # a music track, no voice
    fps, total = video_info(video)
    activity = audio_from_video(video, fps, total)
    assert activity is not None and activity.source == SOURCE_SILERO
    assert activity.speech_fraction() < 0.05  # measured 0.0; webrtcvad said 0.95


def test_webrtcvad_fallback_calls_music_voice_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SILERO_PATH_ENV, "/nonexistent/silero_vad.onnx")
    video = shared_file("media/video/no_face.mp4")
    fps, total = video_info(video)
    activity = audio_from_video(video, fps, total)
    assert activity is not None and activity.source == SOURCE_WEBRTC
    assert activity.speech_fraction() > 0.5  # why Silero is the default
    assert len(activity.warnings) == 1 and "Silero VAD model not found" in activity.warnings[0]


def test_silent_audio_track_has_no_voice() -> None:
    video = shared_file("media/video/expressions_640x360.mp4")  # its AAC track is digital silence
    fps, total = video_info(video)
    activity = audio_from_video(video, fps, total)
    assert activity is not None and len(activity.speech) == total
    assert activity.coverage() == 1.0
    assert float(np.nanmax(activity.speech)) < 0.1


def test_a_tone_is_not_voice_but_moves_the_envelope_at_the_right_frames(tmp_path: Path) -> None:
    clip = write_media(tmp_path / "tone.mp4", silence_then_tone(1.0, 1.0))  # tone from frame 26 (t = 1 s)
    activity = audio_from_video(clip, 25.0, 50)
    assert activity is not None and activity.envelope is not None
    assert activity.speech_fraction() < 0.1
    envelope = activity.envelope
    assert np.nanmax(envelope[:23]) < np.nanmin(envelope[28:48]) - 30  # dB


def test_audio_starting_late_is_aligned_and_unknown_before(tmp_path: Path) -> None:
    # Audio starts 0.6 s after the video; its tone starts 1 s into the audio, i.e. at 1.6 s = frame 41.
    clip = write_media(tmp_path / "late.mp4", silence_then_tone(1.0, 1.0), frames=75, audio_start_s=0.6)
    activity = audio_from_video(clip, 25.0, 75)
    assert activity is not None and activity.envelope is not None
    assert all(activity.at(frame) is None for frame in range(1, 14))  # before 0.6 s: no audio yet
    assert not np.any(np.isnan(activity.speech[16:64]))
    envelope = activity.envelope
    assert np.nanmax(envelope[16:37]) < np.nanmin(envelope[43:64]) - 30


def test_gap_in_audio_timestamps_keeps_later_sound_in_place(tmp_path: Path) -> None:
    # 1 s of silence, nothing for 0.5 s (lost packets), then 1 s of tone: it starts at 1.5 s = frame 38.
    tone = silence_then_tone(0.0, 1.0)
    clip = write_media(tmp_path / "gap.mkv", np.zeros(16000), frames=75, more_audio=[(1.5, tone)])
    activity = audio_from_video(clip, 25.0, 75)
    assert activity is not None and activity.envelope is not None
    envelope = activity.envelope
    assert np.nanmax(envelope[30:36]) < np.nanmin(envelope[40:60]) - 30  # frames 31..36: in the gap


def test_the_audio_is_streamed_with_a_bounded_buffer() -> None:
    from vigil.batch.audio_voice import RATE, WebrtcVad, _Analysis

    analysis = _Analysis(WebrtcVad(), 25.0, 60 * 25)
    noise = np.random.default_rng(1).uniform(-0.1, 0.1, RATE).astype(np.float32)
    largest = 0
    for _ in range(60):  # one minute, a second at a time
        analysis.feed(noise)
        largest = max(largest, len(analysis._buffer))
    assert largest < 2 * RATE  # never more than the pending second and a frame's window
    assert len(analysis.probabilities) == 60 * RATE // 480
    assert not np.isnan(analysis.envelope[1:-1]).any()


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
    assert SpeakingDetector(activity).update("t", 10, None).sources == []  # unknown audio


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
    assert find_audio_activity(video, fps, total).source == SOURCE_SILERO  # type: ignore[union-attr]
    frames = [{"frame": i, "audio_info": {"is_speech_present": i <= 10}} for i in range(1, total + 1)]
    write_audio_json(tmp_path / "show_audio.json", seed_audio_json(frames, fps))
    activity = find_audio_activity(video, fps, total)
    assert activity is not None and activity.source == "audio_json"
    assert activity.speech_fraction() == pytest.approx(10 / total)
    assert activity.envelope is not None  # still from the video's own track: it says who


def test_malformed_step4_file_falls_back_to_the_track_with_a_warning(tmp_path: Path, hamilton: Path) -> None:
    video = tmp_path / "show.mp4"
    video.symlink_to(hamilton)
    fps, total = video_info(video)
    (tmp_path / "show_audio.json").write_text('{"frames_analysis": 3}')
    activity = find_audio_activity(video, fps, total)
    assert activity is not None and activity.source == SOURCE_SILERO
    assert len(activity.warnings) == 1
    assert (
        "show_audio.json ignored" in activity.warnings[0] and '"frames_analysis" list' in activity.warnings[0]
    )
    assert activity.speech_fraction() > 0.9


def test_audio_activity_pickles() -> None:
    speech = np.array([0.0, 1.0, np.nan, 0.4], dtype=np.float32)
    activity = AudioActivity(speech=speech, source="silero_vad", envelope=np.zeros(4, np.float32))
    payload = pickle.dumps(activity)
    clone = pickle.loads(payload)
    assert clone.source == "silero_vad"
    assert np.array_equal(clone.speech, speech, equal_nan=True)
    assert [clone.at(f) for f in range(1, 5)] == [0.0, 1.0, None, pytest.approx(0.4)]
    assert len(payload) < 1000  # cheap to send to every worker


# ---------------------------------------------------------------- mouth opening


def facemesh_points(gap: float, length: float = 100.0) -> np.ndarray:
    points = np.zeros((478, 3), np.float32)
    points[168, :2], points[152, :2] = (150, 100), (150, 100 + length)  # nose bridge, chin
    points[13, :2], points[14, :2] = (150, 160), (150, 160 + gap)
    return points


def test_mouth_opening_is_lip_gap_over_nose_bridge_to_chin() -> None:
    assert mouth_opening(facemesh_points(30.0), "facemesh478") == pytest.approx(0.3)
    assert mouth_opening(facemesh_points(15.0, length=50.0), "facemesh478") == pytest.approx(
        0.3
    )  # scale-free
    assert mouth_opening(None, "facemesh478") is None
    assert mouth_opening(facemesh_points(3.0, length=6.0), "facemesh478") is None  # too small to measure
    assert mouth_opening(facemesh_points(3.0)[:100], "facemesh478") is None  # not a full mesh
    dlib = np.zeros((68, 2), np.float32)
    dlib[27], dlib[8], dlib[62], dlib[66] = (30, 0), (30, 60), (30, 40), (30, 52)
    assert mouth_opening(dlib, "dlib68") == pytest.approx(0.2)


def test_the_learned_jaw_open_is_preferred_to_the_lips() -> None:
    points = facemesh_points(30.0)
    assert mouth_signal(points, "facemesh478", 0.42) == pytest.approx(0.42)
    assert mouth_signal(points, "facemesh478", None) == pytest.approx(0.3)
    assert mouth_signal(points, "facemesh478", float("nan")) == pytest.approx(0.3)
    assert mouth_signal(None, "facemesh478", None) is None


def test_turning_the_head_barely_changes_the_opening() -> None:
    frontal = facemesh_points(20.0)
    turned = frontal.copy()
    turned[:, 0] = 150 + (turned[:, 0] - 150) * 0.3  # yaw: horizontal distances shrink
    assert mouth_opening(turned, "facemesh478") == pytest.approx(mouth_opening(frontal, "facemesh478"))


# ---------------------------------------------------------------- fusion

FPS = 25.0
FRAMES = 100


def talking_mouth(frames: int = FRAMES) -> np.ndarray:
    """Irregular syllables: a new opening in [0, 0.35] every 2-3 frames, linearly joined."""
    rng = np.random.default_rng(7)
    knots = np.cumsum(rng.integers(2, 4, size=frames))
    values = rng.uniform(0.0, 0.35, size=frames)
    return np.interp(np.arange(frames), knots - knots[0], values)


def audio(voice: float, envelope: np.ndarray | None = None, frames: int = FRAMES) -> AudioActivity:
    return AudioActivity(np.full(frames, voice, np.float32), "silero_vad", envelope)


def synced_envelope(mouth: np.ndarray) -> np.ndarray:
    """Loud where the mouth moves fast (as speech does)."""
    speed = np.abs(np.diff(mouth, prepend=mouth[0]))
    return (40 + 400 * speed).astype(np.float32)


def feed(
    detector: SpeakingDetector, mouths: Sequence[float | None], track: str = "obj_1", first: int = 1
) -> Any:
    result = None
    for offset, mouth in enumerate(mouths):
        result = detector.update(track, first + offset, mouth)
    return result


def detector(activity: AudioActivity | None, **kwargs: Any) -> SpeakingDetector:
    return SpeakingDetector(activity, window=window_for_fps(FPS), fps=FPS, **kwargs)


def test_a_talking_mouth_with_voice_speaks() -> None:
    mouth = talking_mouth()
    result = feed(detector(audio(1.0, synced_envelope(mouth))), list(mouth))
    assert result.is_speaking and result.confidence > 0.9
    assert result.method == "audio_primary" and result.sources == ["audio", "blendshapes"]


def test_voice_alone_makes_no_face_speak() -> None:
    still = [0.02] * 40  # a listener: mouth shut
    result = feed(detector(audio(1.0)), still)
    assert not result.is_speaking and result.confidence == 0.0


def test_a_moving_mouth_without_voice_does_not_speak() -> None:
    mouth = talking_mouth()  # laughing, chewing, crying: the mouth moves, nobody speaks
    result = feed(detector(audio(0.0, synced_envelope(mouth))), list(mouth))
    assert not result.is_speaking and result.confidence == 0.0


def test_a_face_without_landmarks_never_speaks() -> None:
    result = feed(detector(audio(1.0)), [None] * 10)
    assert not result.is_speaking and result.confidence == 0.0
    assert result.method == "no_blendshapes" and result.sources == ["audio"]
    assert feed(detector(None), [None]).sources == []


def test_a_mouth_moving_against_the_sound_counts_less() -> None:
    mouth = talking_mouth()
    against = (80 - 400 * np.abs(np.diff(mouth, prepend=mouth[0]))).astype(np.float32)
    evidence = mouth_evidence(mouth, np.arange(1, FRAMES + 1), against, FPS)
    assert evidence.sync is not None and evidence.sync < 0.1  # best lag: unrelated at most
    assert SYNC_FLOOR <= evidence.visual < 0.6
    synced = mouth_evidence(mouth, np.arange(1, FRAMES + 1), synced_envelope(mouth), FPS)
    assert synced.sync is not None and synced.sync > 0.9 and synced.visual == pytest.approx(1.0)


def test_without_audio_the_mouth_decides_at_a_discount() -> None:
    result = feed(detector(None), list(talking_mouth()))
    assert result.is_speaking and result.method == "blendshapes" and result.sources == ["blendshapes"]
    assert result.confidence == pytest.approx(0.7)


def test_short_pauses_in_the_voice_stay_in_the_turn() -> None:
    mouth = talking_mouth()
    voice = np.ones(FRAMES, np.float32)
    voice[50:54] = 0.0  # 160 ms breath
    activity = AudioActivity(voice, "silero_vad", synced_envelope(mouth))
    one = detector(activity)
    decisions = [one.update("a", f + 1, m).is_speaking for f, m in enumerate(mouth)]
    assert all(decisions[45:60])


def test_threshold_and_disabled_sources() -> None:
    mouth = list(talking_mouth())
    assert not feed(detector(audio(1.0), threshold=1.0), [0.1] * 20).is_speaking
    audio_only = feed(detector(audio(1.0), visual_weight=0.0), [0.1] * 5)
    assert audio_only.is_speaking and audio_only.sources == ["audio"]  # the seed's "every face" mode
    visual_only = feed(detector(audio(0.0), audio_weight=0.0), mouth)
    assert visual_only.is_speaking and visual_only.method == "blendshapes"


def test_tracks_are_independent_and_restart_after_a_gap() -> None:
    det = detector(audio(1.0))
    mouth = list(talking_mouth(40))
    assert feed(det, mouth, track="talker").is_speaking
    assert not feed(det, [0.02] * 40, track="listener").is_speaking
    later = det.update("talker", 200, 0.1)  # seen again long after: empty history
    assert not later.is_speaking


def test_chunked_run_with_window_overlap_matches_single_run() -> None:
    mouth = talking_mouth()
    mouth[40:70] = 0.02
    activity = audio(1.0, synced_envelope(mouth))
    one = detector(activity)
    single = [one.update("t", f + 1, m) for f, m in enumerate(mouth)]
    window = window_for_fps(FPS)
    warm = detector(activity)
    for frame in range(60 - window, 60):
        warm.update("t", frame + 1, float(mouth[frame]))
    chunked = [warm.update("t", f + 1, float(mouth[f])) for f in range(60, FRAMES)]
    assert chunked == single[60:]


@pytest.mark.parametrize(
    "kwargs",
    [{"audio_weight": -0.1}, {"audio_weight": 0.0, "visual_weight": 0.0}, {"threshold": 1.5}, {"window": 2}],
)
def test_invalid_detector_settings(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        SpeakingDetector(None, **kwargs)


def test_nan_mouth_is_treated_as_missing() -> None:
    result = feed(detector(audio(1.0)), [float("nan")] * 5)
    assert not result.is_speaking and result.method == "no_blendshapes"


def test_unreadable_media_is_a_typed_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video")
    with pytest.raises(SourceUnsupported):
        audio_from_video(junk, 25.0, 10)


def test_invalid_timing_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="fps"):
        audio_from_video(tmp_path / "x.mp4", 0.0, 10)
