"""Audio cues (vigil/activity/audio.py, yamnet.py) on real media and on generated signals.

Per-clip expectations are what YAMNet and Silero hear on the shared clips (listened to through
the numbers, see the printed tables with `pytest -s`); they check the extractor, not the classifier.
"""

from __future__ import annotations

import csv
import wave
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import shared_file
from vigil.activity.audio import (
    HOP_SAMPLES,
    SILENCE_DB,
    WINDOW_S,
    AudioAnalyzer,
    audio_samples,
    loudness_db,
    pcm_of,
)
from vigil.activity.cues import AudioSample, SoundEvents
from vigil.activity.yamnet import EVENT_CLASSES, WINDOW_SAMPLES, YamNet, load_yamnet
from vigil.errors import ModelError, SourceUnsupported
from vigil.models import MODELS, YAMNET, fetch, is_installed, sha256_of

RATE = 16000
HOP_S = HOP_SAMPLES / RATE


@pytest.fixture(scope="module")
def yamnet() -> YamNet:
    return load_yamnet([shared_file("models/yamnet.tflite").parent])


def _activity(relative: str) -> Path:
    return shared_file(f"media/activity/{relative}")


def _print_table(name: str, samples: list[AudioSample], yamnet: YamNet, path: Path) -> None:
    """Per window: voice, level, the grouped events above 0.1 and YAMNet's top 3 classes."""
    chunks = list(pcm_of(path))
    pcm = np.concatenate([c for _, c in chunks])
    print(f"\n{name}")
    for sample in samples:
        at = round((sample.t - chunks[0][0]) * RATE)
        window = pcm[at : at + WINDOW_SAMPLES]
        top = yamnet.top(np.asarray(yamnet.scores(np.pad(window, (0, WINDOW_SAMPLES - len(window))))), 3)
        events = {f.name: getattr(sample.events, f.name) for f in fields(SoundEvents)}
        loud = " ".join(f"{k}={v:.2f}" for k, v in events.items() if v >= 0.1)
        print(
            f"  {sample.t:5.2f}s voice={sample.voice:.2f} {sample.loudness_db:6.1f} dB  {loud:28s} | "
            + "; ".join(f"{label} {score:.2f}" for label, score in top)
        )


def _during(samples: list[AudioSample], start: float, end: float) -> list[AudioSample]:
    """The windows lying wholly inside [start, end)."""
    return [s for s in samples if s.t >= start - 1e-6 and s.t + s.duration <= end + 1e-6]


def test_every_sound_event_field_has_classes_of_the_model(yamnet: YamNet) -> None:
    assert set(EVENT_CLASSES) == {f.name for f in fields(SoundEvents)}
    names = [n for group in EVENT_CLASSES.values() for n in group]
    assert len(names) == len(set(names)), "a class counted in two groups"
    assert set(names) <= set(yamnet.labels) and len(yamnet.labels) == 521
    assert yamnet.labels[0] == "Speech" and yamnet.labels[132] == "Music"


def test_hamilton_speech_then_music_on_the_right_seconds(yamnet: YamNet, hamilton: Path) -> None:
    """A spoken intro and a spoken line (0-1.7 s, 3.4-4.2 s: voice formants without piano chords on
    the spectrogram), then rap over the piano from 4.9 s on. The audio starts 0.84 s before the
    first video frame: that pre-roll is dropped, times are video times."""
    samples = audio_samples(hamilton, yamnet)
    _print_table("hamilton", samples, yamnet, hamilton)
    assert samples[0].t == 0.0
    steps = np.diff([s.t for s in samples])
    assert np.allclose(steps[:-1], HOP_S, atol=1e-6)
    assert 0.24 <= steps[-1] <= HOP_S  # the last window ends with the audio
    assert all(s.duration == pytest.approx(WINDOW_S) for s in samples)
    assert samples[-1].t + samples[-1].duration == pytest.approx(10.0158 - 0.852, abs=0.05)
    assert max(s.events.speech for s in _during(samples, 0.0, 1.7)) >= 0.4
    assert max(s.events.speech for s in _during(samples, 3.3, 4.9)) >= 0.5
    piano = _during(samples, 4.85, 10.0)
    assert len(piano) >= 8
    assert min(s.events.music for s in piano) >= 0.8
    assert max(s.events.speech for s in piano) < 0.1
    assert np.mean([s.voice for s in samples]) > 0.8  # Silero hears the vocals throughout


def test_which_activity_clips_have_audio_matches_labels_csv(yamnet: YamNet) -> None:
    labels = shared_file("media/activity/labels.csv")
    with labels.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) >= 10
    for row in rows:
        samples = audio_samples(labels.parent / row["path"], yamnet)
        assert bool(samples) == (row["has_audio"] == "yes"), row["path"]
        if samples:
            starts = [s.t for s in samples]
            assert np.all(np.diff(starts) >= 0.24), row["path"]  # no window (nearly) twice
            end = max(s.t + s.duration for s in samples)
            assert samples[0].t >= 0.0 and end <= float(row["duration_s"]) + 0.05, row["path"]


def test_reading_clip_child_speaking_no_music(yamnet: YamNet) -> None:
    path = _activity("reading/videollava_sample_demo_1.mp4")
    samples = audio_samples(path, yamnet)
    _print_table("reading/videollava_sample_demo_1", samples, yamnet, path)
    speaking = _during(samples, 0.4, 6.3)
    assert np.median([s.events.speech for s in speaking]) >= 0.5
    assert max(s.voice for s in speaking) >= 0.6
    assert max(s.events.music for s in samples) < 0.15


def test_eating_clip_is_speech_without_table_sounds(yamnet: YamNet) -> None:
    """The restaurant clip's track is mostly talk; YAMNet hears no chewing or cutlery in it."""
    path = _activity("eating/videoqa_nto_eating_spaghetti.mp4")
    samples = audio_samples(path, yamnet)
    _print_table("eating/videoqa_nto_eating_spaghetti", samples, yamnet, path)
    assert np.median([s.events.speech for s in samples]) >= 0.8
    assert max(max(s.events.chewing, s.events.cutlery) for s in samples) < 0.1


@pytest.mark.parametrize(
    "clip", ["asleep/akshint_test_video_sleep.mp4", "inactive/akshint_test_file_awake.mp4"]
)
def test_quiet_webcam_clips_are_quiet(yamnet: YamNet, clip: str) -> None:
    """A still room: about -60 dBFS, no voice, no speech. The audio starts late (0.73 s and
    0.33 s after the first frame) and the samples say so."""
    path = _activity(clip)
    samples = audio_samples(path, yamnet)
    _print_table(clip, samples, yamnet, path)
    assert samples[0].t == pytest.approx(0.731 if "sleep" in clip else 0.331, abs=0.01)
    assert max(s.loudness_db for s in samples) < -50
    assert max(s.voice for s in samples) < 0.1
    assert max(s.events.speech for s in samples) < 0.2


def test_talking_clip_audio_is_a_music_track_not_speech(yamnet: YamNet) -> None:
    """labels.csv presumes speech on liveportrait_d12; its track is dance music over which the
    man's voice is not heard (Silero fades to ~0 after 1.5 s)."""
    path = _activity("talking/liveportrait_d12.mp4")
    samples = audio_samples(path, yamnet)
    _print_table("talking/liveportrait_d12", samples, yamnet, path)
    assert min(s.events.music for s in samples) >= 0.85
    assert max(s.events.speech for s in samples) < 0.05
    assert np.mean([s.voice for s in _during(samples, 3.0, 10.0)]) < 0.15


def test_a_video_without_audio_gives_no_samples(yamnet: YamNet) -> None:
    path = _activity("busy/askanything_yoga.mp4")
    assert audio_samples(path, yamnet) == []
    assert list(pcm_of(path)) == []


def test_a_corrupt_file_raises_the_typed_error(yamnet: YamNet, tmp_path: Path) -> None:
    garbage = tmp_path / "broken.mp4"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, np.uint8).tobytes())
    with pytest.raises(SourceUnsupported):
        audio_samples(garbage, yamnet)
    with pytest.raises(SourceUnsupported):
        audio_samples(tmp_path / "absent.mp4", yamnet)


def _write_wav(path: Path, signal: np.ndarray, rate: int = 44100) -> None:
    """16-bit stereo WAV (the same signal in both channels)."""
    pcm = np.round(np.clip(signal, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.repeat(pcm, 2).tobytes())


def test_generated_sine_noise_silence_and_dial_tone(yamnet: YamNet, tmp_path: Path) -> None:
    """3 s each at 44.1 kHz stereo, resampled to 16 kHz mono: a 440 Hz sine at -15.05 dBFS RMS,
    white noise at -30 dBFS (-34.4 dB once resampling has cut what lies above 8 kHz), digital
    silence, a telephone dial tone (350 + 440 Hz)."""
    rate, seconds = 44100, 3
    t = np.arange(rate * seconds) / rate
    sine = 0.25 * np.sin(2 * np.pi * 440 * t)  # RMS 0.25/sqrt(2): 20*log10 = -15.05 dB
    noise = np.random.default_rng(1).standard_normal(len(t)) * 10 ** (-30 / 20)
    dial = 0.2 * (np.sin(2 * np.pi * 350 * t) + np.sin(2 * np.pi * 440 * t))
    path = tmp_path / "generated.wav"
    _write_wav(path, np.concatenate([sine, noise, np.zeros_like(t), dial]), rate)
    samples = audio_samples(path, yamnet)
    assert samples[0].t == 0.0 and samples[-1].t + samples[-1].duration == pytest.approx(12.0, abs=0.01)
    parts = [_during(samples, 3 * i, 3 * (i + 1)) for i in range(4)]
    assert all(len(part) >= 4 for part in parts)
    sine_part, noise_part, silent_part, dial_part = parts
    for sample in sine_part:
        assert sample.loudness_db == pytest.approx(20 * np.log10(0.25 / np.sqrt(2)), abs=1.0)
    for sample in noise_part:
        assert sample.loudness_db == pytest.approx(-30.0 + 10 * np.log10(8000 / 22050), abs=1.0)
    assert all(s.loudness_db == SILENCE_DB for s in silent_part)
    assert min(s.events.silence for s in silent_part) >= 0.5
    assert max(s.voice for s in samples) < 0.1  # no voice anywhere
    assert max(max(s.events.speech, s.events.music) for s in sine_part + silent_part) < 0.1
    assert min(s.events.telephone for s in dial_part) >= 0.5
    assert max(s.events.telephone for s in sine_part + noise_part + silent_part) < 0.1


def test_loudness_db() -> None:
    assert loudness_db(np.zeros(100, np.float32)) == SILENCE_DB
    assert loudness_db(np.zeros(0, np.float32)) == SILENCE_DB
    assert loudness_db(np.ones(100, np.float32)) == pytest.approx(0.0)
    assert loudness_db(np.full(100, 0.1, np.float32)) == pytest.approx(-20.0, abs=1e-4)
    assert loudness_db(np.full(10, 1e-9, np.float32)) == SILENCE_DB


@pytest.mark.parametrize("hop", [HOP_SAMPLES, WINDOW_SAMPLES])
def test_streaming_gives_the_file_results_on_the_same_pcm(yamnet: YamNet, hamilton: Path, hop: int) -> None:
    """The live form, fed the decoded PCM in chunks of uneven sizes (1 sample to 1.2 s), returns
    exactly the samples of the file analysis."""
    chunks = list(pcm_of(hamilton))
    pcm = np.concatenate([c for _, c in chunks])
    analyzer = AudioAnalyzer(yamnet, start_t=chunks[0][0], hop_samples=hop)
    sizes = np.random.default_rng(7).integers(1, 20000, 400)
    streamed: list[AudioSample] = []
    at = 0
    for size in sizes:
        streamed.extend(analyzer.feed(pcm[at : at + size]))
        at += int(size)
        if at >= len(pcm):
            break
    assert at >= len(pcm)
    streamed.extend(analyzer.finish())
    assert streamed == audio_samples(hamilton, yamnet, hop)
    assert len(streamed) == (18 if hop == HOP_SAMPLES else 10)
    assert all(s.duration == pytest.approx(WINDOW_S) for s in streamed)
    assert all(type(s.loudness_db) is float and type(s.voice) is float for s in streamed)


def test_streaming_yields_windows_as_they_complete(yamnet: YamNet) -> None:
    analyzer = AudioAnalyzer(yamnet, start_t=5.0)
    assert analyzer.feed(np.zeros(WINDOW_SAMPLES - 1, np.float32)) == []
    (first,) = analyzer.feed(np.zeros(1, np.float32))
    assert first.t == 5.0 and first.duration == pytest.approx(WINDOW_S)
    (second,) = analyzer.feed(np.zeros(HOP_SAMPLES, np.float32))
    assert second.t == pytest.approx(5.0 + HOP_S)
    assert analyzer.finish() == []  # every sample is in a window already
    with pytest.raises(ValueError):
        AudioAnalyzer(yamnet, hop_samples=0)


def test_the_last_window_ends_with_the_stream(yamnet: YamNet) -> None:
    """0.24 s or more after the last full window get one more window: the stream's last 0.975 s
    (no zero padding); less is left out (the window would nearly repeat the last one). A stream
    shorter than a window gets one padded window if it lasts half a window."""
    tone = (0.1 * np.sin(2 * np.pi * 440 * np.arange(WINDOW_SAMPLES + 6000) / RATE)).astype(np.float32)
    analyzer = AudioAnalyzer(yamnet, hop_samples=WINDOW_SAMPLES)
    (first,) = analyzer.feed(tone)
    (last,) = analyzer.finish()
    assert first.t == 0.0 and last.t == pytest.approx(6000 / RATE)
    assert last.duration == pytest.approx(WINDOW_S)
    assert last.loudness_db == pytest.approx(-23.0, abs=0.1)  # real samples only
    short = AudioAnalyzer(yamnet)
    assert short.feed(tone[:9000]) == []
    (only,) = short.finish()
    assert only.duration == pytest.approx(9000 / RATE) and only.loudness_db == pytest.approx(-23.0, abs=0.1)
    too_short = AudioAnalyzer(yamnet)
    too_short.feed(tone[:5000])
    assert too_short.finish() == []
    little_left = AudioAnalyzer(yamnet, hop_samples=WINDOW_SAMPLES)
    assert len(little_left.feed(tone[: WINDOW_SAMPLES + 3000])) == 1
    assert little_left.finish() == []


def test_missing_or_wrong_model_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="vigil models fetch yamnet"):
        load_yamnet([tmp_path])
    (tmp_path / "yamnet.tflite").write_bytes(b"not a model")
    with pytest.raises(ModelError):
        load_yamnet([tmp_path])


def test_registry_accepts_both_official_yamnet_builds(tmp_path: Path) -> None:
    """`vigil models fetch yamnet` downloads the float32 v1 file; MediaPipe's test asset of the
    same model (the copy in ../shared) has other bytes and is accepted as well."""
    shared = shared_file("models/yamnet.tflite")
    assert MODELS["yamnet"] is YAMNET
    assert YAMNET.url.endswith("/audio_classifier/yamnet/float32/1/yamnet.tflite")
    assert sha256_of(shared) in YAMNET.also_sha256 and YAMNET.accepts(YAMNET.sha256)
    assert not YAMNET.accepts("0" * 64)
    assert is_installed(YAMNET, shared.parent)
    assert fetch(YAMNET, tmp_path / "m", url=shared.as_uri()) == tmp_path / "m" / "yamnet.tflite"
