"""The microphone path of live activity (vigil/activity/microphone.py) with a REAL PulseAudio server
started by the test: a null sink plays the hamilton clip's audio (paplay), PortAudio records the
sink's monitor through ALSA's pulse plugin (a PCM named in the test's own ~/.asoundrc), and what
YAMNet, Silero and the levels hear matches the same clip read from the file. Also: the list without
a server or without PortAudio is empty with a reason; unknown devices are refused by type.

Needs `scripts/install-system-deps.sh` (libportaudio2, libasound2-plugins, pulseaudio,
pulseaudio-utils)."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import correlate  # type: ignore[import-untyped]

from tests.conftest import shared_file
from vigil.activity.audio import audio_samples, loudness_db, pcm_of
from vigil.activity.cues import AudioSample
from vigil.activity.microphone import (
    DeviceNotFound,
    MicrophoneCapture,
    find_device,
    list_input_devices,
)
from vigil.activity.yamnet import RATE, YamNet, load_yamnet

SINK = "vigil_null"
MONITOR_PCM = "vigil_null_monitor"  # the ALSA name PortAudio lists for the sink's monitor
PIPE_PCM = "vigil_pipe"  # a source fed through a FIFO, and its ALSA name
PIPE_RATE = 44100
CLIP = "media/video/hamilton_640x360.mp4"
REPO = Path(__file__).resolve().parents[1]
LEAD_MS = 1500


@dataclass(frozen=True)
class Pulse:
    server: str  # PULSE_SERVER
    env: dict[str, str]  # what a child process needs to reach this server only
    fifo: Path  # what is written here is recorded by the source PIPE_PCM, as it comes


def _tools_missing() -> str | None:
    missing = [tool for tool in ("pulseaudio", "paplay", "pactl") if shutil.which(tool) is None]
    if not missing:
        return None
    subprocess.run(["bash", str(REPO / "scripts/install-system-deps.sh")], capture_output=True, timeout=600)
    missing = [tool for tool in ("pulseaudio", "paplay", "pactl") if shutil.which(tool) is None]
    return (
        f"{', '.join(missing)} missing and scripts/install-system-deps.sh could not install them"
        if missing
        else None
    )


@pytest.fixture(scope="module")
def pulse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pulse]:
    """A private PulseAudio daemon (own runtime dir, socket, HOME) with a null sink, and an
    ~/.asoundrc naming the sink's monitor for PortAudio; this process's environment points at it."""
    reason = _tools_missing()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("pulse")
    home, runtime = root / "home", root / "run"
    home.mkdir()
    runtime.mkdir(mode=0o700)
    socket = runtime / "native"
    (home / ".asoundrc").write_text(
        f'pcm.{MONITOR_PCM} {{ type pulse; device "{SINK}.monitor" }}\n'
        f'pcm.{PIPE_PCM} {{ type pulse; device "{PIPE_PCM}" }}\n'
    )
    fifo = root / "source.fifo"
    env = {**os.environ, "HOME": str(home), "XDG_RUNTIME_DIR": str(runtime), "PULSE_SERVER": f"unix:{socket}"}
    daemon = subprocess.Popen(
        [
            "pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no",
            "--disable-shm=yes", "--log-target=stderr",
            "-L", f"module-native-protocol-unix socket={socket} auth-anonymous=1",
            "-L", f"module-null-sink sink_name={SINK} rate=44100 channels=2",
            "-L", f"module-pipe-source source_name={PIPE_PCM} file={fifo} format=float32le "
                  f"rate={PIPE_RATE} channels=1",
        ],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode != 0:
            if daemon.poll() is not None or time.monotonic() > deadline:
                err = daemon.stderr.read().decode() if daemon.stderr and daemon.poll() is not None else ""
                pytest.fail(f"pulseaudio did not start: {err[-2000:]}")
            time.sleep(0.1)
        with pytest.MonkeyPatch.context() as patch:
            for key in ("HOME", "XDG_RUNTIME_DIR", "PULSE_SERVER"):
                patch.setenv(key, env[key])
            # Ready when PortAudio (through ALSA's pulse plugin) lists the monitor.
            while MONITOR_PCM not in {d.name for d in list_input_devices().devices}:
                if time.monotonic() > deadline + 10:
                    pytest.fail(f"PortAudio does not list {MONITOR_PCM}: {list_input_devices()}")
                time.sleep(0.2)
            yield Pulse(env["PULSE_SERVER"], env, fifo)
    finally:
        daemon.terminate()
        daemon.wait(10)
    list_input_devices()  # PortAudio forgets this server's devices


@pytest.fixture(scope="module")
def yamnet() -> YamNet:
    return load_yamnet([shared_file("models/yamnet.tflite").parent])


@pytest.fixture(scope="module")
def clip_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The clip's audio as the WAV paplay plays (44.1 kHz stereo, like the sink), after LEAD_MS of
    silence: a null sink's monitor only delivers sound while something plays into the sink."""
    wav = tmp_path_factory.mktemp("clip") / "hamilton.wav"
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(shared_file(CLIP)),
            "-vn",
            "-ac",
            "2",
            "-ar",
            "44100",
            "-af",
            f"adelay={LEAD_MS}|{LEAD_MS}",
            str(wav),
        ],
        check=True,
    )
    return wav


@dataclass(frozen=True)
class Recording:
    played_at: float  # wall clock when paplay was started
    pcm_start: float  # wall clock of pcm[0]
    pcm: np.ndarray
    samples: list[AudioSample]
    overflows: int


@pytest.fixture(scope="module")
def recording(pulse: Pulse, clip_wav: Path, yamnet: YamNet) -> Recording:
    with MicrophoneCapture(MONITOR_PCM, seconds=30) as capture:
        time.sleep(1.0)
        played_at = time.time()
        subprocess.run(["paplay", "-d", SINK, str(clip_wav)], env=pulse.env, check=True, timeout=60)
        time.sleep(0.5)
    span = capture.span()
    assert span is not None, "nothing was captured"
    return Recording(
        played_at, span[0], capture.between(*span), list(capture.samples(yamnet)), capture.overflows
    )


def test_the_list_has_the_null_sinks_monitor(pulse: Pulse) -> None:
    devices = list_input_devices()
    assert devices.reason is None
    monitor = find_device(devices, MONITOR_PCM)
    assert monitor.host_api == "ALSA" and monitor.channels >= 1 and monitor.default_rate > 0
    assert find_device(devices, monitor.index) == monitor
    assert sum(d.is_default for d in devices.devices) <= 1
    with pytest.raises(DeviceNotFound, match="no input device 'no such mic'"):
        find_device(devices, "no such mic")
    with pytest.raises(DeviceNotFound):
        MicrophoneCapture(10_000).start()


def test_the_captured_audio_is_the_clip_at_its_level(recording: Recording) -> None:
    reference = np.concatenate([pcm for _, pcm in pcm_of(shared_file(CLIP))])
    head = reference[: 3 * RATE]
    score = correlate(recording.pcm, head, mode="valid")
    at = int(np.argmax(score))
    part = recording.pcm[at : at + len(reference)]
    similarity = float(
        np.dot(part[: len(head)], head) / np.linalg.norm(part[: len(head)]) / np.linalg.norm(head)
    )
    delay = recording.pcm_start + at / RATE - recording.played_at
    print(
        f"\nclip {at / RATE:.3f} s into the capture, {delay:.3f} s after paplay; similarity {similarity:.4f}"
    )

    assert similarity > 0.95, "the capture is the clip (resampled twice, 44.1 kHz and back)"
    assert len(part) >= len(reference) - RATE // 10, "the whole clip was captured, no block lost"
    assert abs(loudness_db(part) - loudness_db(reference[: len(part)])) < 0.5, "the level is kept (0 dB gain)"
    assert recording.overflows == 0
    # Wall-clock stamps: the clip cannot be heard before paplay started, and starts soon after.
    assert 0 <= recording.pcm_start + at / RATE - recording.played_at - LEAD_MS / 1000 < 3.0


def test_yamnet_and_voice_hear_what_the_file_holds(recording: Recording, yamnet: YamNet) -> None:
    """Windows of the live capture at the same place in the clip as the file's windows (the
    capture's windows fall elsewhere in the sound, so compare the clip-wide figures)."""
    file_samples = audio_samples(shared_file(CLIP), yamnet)
    reference = np.concatenate([pcm for _, pcm in pcm_of(shared_file(CLIP))])
    at = int(np.argmax(correlate(recording.pcm, reference[: 3 * RATE], mode="valid")))
    clip_start = recording.pcm_start + at / RATE
    live = [s for s in recording.samples if clip_start <= s.t and s.t + s.duration <= clip_start + 10.0]
    assert len(live) >= 15, "0.4875 s hops over 10 s"
    assert all(abs(s.t - recording.played_at) < 15 for s in recording.samples), "wall-clock times"
    for name in ("speech", "music"):
        live_max = max(getattr(s.events, name) for s in live)
        file_max = max(getattr(s.events, name) for s in file_samples)
        live_mean = float(np.mean([getattr(s.events, name) for s in live]))
        file_mean = float(np.mean([getattr(s.events, name) for s in file_samples]))
        print(f"{name}: live max {live_max:.2f} mean {live_mean:.2f}; file {file_max:.2f} {file_mean:.2f}")
        assert abs(live_max - file_max) < 0.25 and abs(live_mean - file_mean) < 0.15
    assert np.mean([s.events.music for s in live]) > np.mean([s.events.speech for s in live]), (
        "piano over speech"
    )
    voice_live = float(np.mean([s.voice for s in live]))
    voice_file = float(np.mean([s.voice for s in file_samples]))
    assert abs(voice_live - voice_file) < 0.1 and voice_live > 0.7, (voice_live, voice_file)
    level_live = float(np.mean([s.loudness_db for s in live]))
    level_file = float(np.mean([s.loudness_db for s in file_samples]))
    assert abs(level_live - level_file) < 1.5, (level_live, level_file)


def test_stamps_follow_a_real_time_source_within_40_ms(pulse: Pulse) -> None:
    """A null sink's monitor is no clock (the sink renders ahead in bursts); a pipe source fed
    10 ms at a time on the wall clock is one: each 1 kHz burst must be stamped when it was written,
    within 40 ms (a video frame at 25 fps), as audio and video are matched by these times."""
    block = PIPE_RATE // 100
    tone = (0.5 * np.sin(2 * np.pi * 1000 * np.arange(20 * block) / PIPE_RATE)).astype(np.float32)
    written: list[float] = []
    done = threading.Event()

    def write() -> None:
        with open(pulse.fifo, "wb", buffering=0) as fifo:
            start, sent, burst_at = time.time(), 0, 1.0
            while not done.is_set():
                if sent / PIPE_RATE >= burst_at:
                    written.append(time.time())
                    burst_at += 1.5
                    pieces = [tone[i : i + block] for i in range(0, len(tone), block)]
                else:
                    pieces = [np.zeros(block, np.float32)]
                for piece in pieces:
                    while time.time() - start < sent / PIPE_RATE:
                        time.sleep(0.001)
                    fifo.write(piece.tobytes())
                    sent += len(piece)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        with MicrophoneCapture(PIPE_PCM, seconds=30) as capture:
            time.sleep(6.5)
    finally:
        done.set()
        writer.join(5)
    span = capture.span()
    assert span is not None
    pcm = capture.between(*span)
    loud = np.flatnonzero(np.abs(pcm) > 0.1)
    onsets = [span[0] + loud[0] / RATE] + [
        span[0] + b / RATE for a, b in itertools.pairwise(loud) if b - a > RATE // 2
    ]
    errors = [onset - min(written, key=lambda w: abs(w - onset)) for onset in onsets]
    print("\nstamp - write (ms):", " ".join(f"{1000 * e:+.1f}" for e in errors))
    assert len(onsets) == len([w for w in written if w < span[1] - 0.3]) >= 3
    assert all(abs(e) < 0.04 for e in errors)


def _child(code: str, env: dict[str, str]) -> dict[str, object]:
    """Runs `code` in a fresh interpreter (PortAudio initialised from its environment only) and
    returns the JSON it prints."""
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert out.returncode == 0, out.stderr
    parsed: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return parsed


LIST = (
    "import json; from vigil.activity.microphone import list_input_devices as l; d = l(); "
    "print(json.dumps({'n': len(d.devices), 'reason': d.reason}))"
)


def test_no_sound_server_gives_an_empty_list_with_a_reason(tmp_path: Path) -> None:
    if Path("/proc/asound/cards").exists() and "no soundcards" not in Path("/proc/asound/cards").read_text():
        pytest.skip("this machine has a sound card: its devices are listed without any server")
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "XDG_RUNTIME_DIR": str(tmp_path),
        "PULSE_SERVER": f"unix:{tmp_path}/none",
    }
    got = _child(LIST, env)
    assert got["n"] == 0 and "no input device" in str(got["reason"])


def test_without_portaudio_the_list_is_empty_with_a_reason() -> None:
    code = "import sys; sys.modules['sounddevice'] = None\n" + LIST.replace("; ", "\n")
    got = _child(code, dict(os.environ))
    assert got["n"] == 0 and "PortAudio cannot be loaded" in str(got["reason"])
