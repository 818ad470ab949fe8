"""What a live camera with activity on pays for its clip ring and its stream audio, per second of
video (docs/activity.md, "Cost").

    python -m bench.live_audio_cost [CLIP.mp4] [--repeat 3]

Default clip: expressions_640x360.mp4 re-encoded at 1280x720 30 fps with its AAC track (a 720p
camera with sound). Each pass demuxes and decodes the whole file as the decode thread does
(every frame decoded, one thread), with: nothing more (the base), the clip ring (a copy of each
packet), the stream audio's decode-thread side (AAC decode, 16 kHz mono resampling); then the
audio analysis thread's work (VAD + YAMNet on the same PCM), a USB camera's clip encoder (x264
ultrafast on every frame, the camera's rate, and for comparison on 5 a second) with the size of
its 30 s ring, and saving a 10 s clip. CPU seconds per second of
media, best of `--repeat` passes; printed as JSON."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av

from vigil.activity.audio import AudioAnalyzer, pcm_of
from vigil.activity.clip import save_clip
from vigil.activity.frame_clips import FrameEncoder, FrameRateCap
from vigil.activity.live_audio import StreamAudio
from vigil.activity.media_tap import CameraMedia
from vigil.activity.ring import PacketRing
from vigil.activity.yamnet import load_yamnet
from vigil.config import load_settings
from vigil.sources.av_source import AvSource

SHARED = Path(os.environ.get("VIGIL_SHARED_DIR", Path(__file__).resolve().parents[1] / ".." / "shared"))


def _clip_720p(folder: Path) -> Path:
    source = SHARED / "media" / "video" / "expressions_640x360.mp4"
    out = folder / "expressions_1280x720.mp4"
    if shutil.which("ffmpeg") is None:
        raise SystemExit("ffmpeg is needed to make the 720p clip")
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(source), "-vf", "scale=1280:720,fps=30",
         "-c:v", "libx264", "-preset", "veryfast", "-g", "60", "-c:a", "copy", str(out)],
        check=True,
    )  # fmt: skip
    return out


class _TimedTap:
    """The tap's own CPU time (its calls, on this thread): more exact than the difference of two
    whole passes, whose noise (±0.3% of a core here) is larger than the ring's cost."""

    def __init__(self, tap: CameraMedia) -> None:
        self.tap, self.cpu = tap, 0.0

    def opened(self, video: Any, audio: Any | None) -> None:
        self.tap.opened(video, audio)

    def packet(self, packet: av.Packet[Any], video: bool) -> None:
        start = time.thread_time()
        self.tap.packet(packet, video)
        self.cpu += time.thread_time() - start

    def frame_time(self, source_pts: float, wall: float) -> None:
        start = time.thread_time()
        self.tap.frame_time(source_pts, wall)
        self.cpu += time.thread_time() - start


def _decode_pass(path: Path, tap: CameraMedia | None) -> tuple[float, float]:
    """CPU seconds of one demux + decode pass (only the tap's, with a tap), and the media's
    duration."""
    timed = None if tap is None else _TimedTap(tap)
    source = AvSource(str(path), "file", decode_threads=1, tap=timed)
    start = time.process_time()
    source.open()
    last = 0.0
    try:
        for raw in source.frames():
            if timed is not None:
                timed.frame_time(raw.pts, raw.pts)
            last = raw.pts
    finally:
        source.close()
    return (time.process_time() - start if timed is None else timed.cpu), last


def _encode_pass(path: Path, fps: float | None, rings: list[PacketRing]) -> tuple[float, float]:
    """CPU seconds a USB camera's clip encoder spends on the frames of `path` (every frame: the
    camera's rate; or `fps` of them), on this thread as on its own, and the media's duration.
    The ring it filled is appended to `rings` (its size is the memory a clip costs)."""
    ring = PacketRing(30.0)
    encoder, cap = FrameEncoder(ring, "bench"), FrameRateCap(fps or 0.0)  # the encoder's own cap
    cpu, last = 0.0, float("-inf")
    with av.open(str(path)) as container:
        for decoded in container.decode(video=0):  # decoded here, not counted
            t = float(decoded.time or 0.0)
            if not cap.take(t):
                continue
            image, last = decoded.to_ndarray(format="bgr24"), t
            start = time.process_time()
            encoder.encode(image, t)
            cpu += time.process_time() - start
    rings.append(ring)
    return cpu, last


def _best(repeat: int, run: Callable[[], tuple[float, float]]) -> tuple[float, float]:
    results = [run() for _ in range(repeat)]
    return min(r[0] for r in results), results[0][1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("clip", nargs="?", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    dirs = load_settings(shared_dir=SHARED).model_search_dirs()
    with tempfile.TemporaryDirectory() as tmp:
        clip = args.clip or _clip_720p(Path(tmp))
        base, duration = _best(args.repeat, lambda: _decode_pass(clip, None))
        rings: list[PacketRing] = []

        def with_ring() -> tuple[float, float]:
            rings.append(PacketRing(30.0))
            return _decode_pass(clip, CameraMedia(rings[-1], None))

        ring_cpu, _ = _best(args.repeat, with_ring)

        def with_audio() -> tuple[float, float]:
            # The analysis thread is not started: its queue drops what it cannot hold.
            audio = StreamAudio("bench", lambda samples, origin: None, dirs)
            return _decode_pass(clip, CameraMedia(None, audio))

        audio_cpu, _ = _best(args.repeat, with_audio)
        yamnet = load_yamnet(dirs)

        def analysis() -> tuple[float, float]:
            chunks = list(pcm_of(clip))
            start = time.process_time()
            analyzer = AudioAnalyzer(yamnet)
            for _, pcm in chunks:
                analyzer.feed(pcm)
            analyzer.finish()
            return time.process_time() - start, sum(len(p) for _, p in chunks) / 16000

        analysis_cpu, audio_s = _best(args.repeat, analysis)
        encoded: list[PacketRing] = []
        encode_5fps = _best(args.repeat, lambda: _encode_pass(clip, 5.0, encoded))[0]
        encode_15fps = _best(args.repeat, lambda: _encode_pass(clip, 15.0, encoded))[0]
        encode_all = _best(args.repeat, lambda: _encode_pass(clip, None, encoded))[0]
        usb_ring = encoded[-1]
        started, cpu = time.perf_counter(), time.process_time()
        saved = save_clip(rings[-1], 10.0, Path(tmp) / "clips", "bench")
        save_wall, save_cpu = time.perf_counter() - started, time.process_time() - cpu
    per_s = {
        "decode_base": base / duration,
        "clip_ring": ring_cpu / duration,
        "stream_audio_decode": audio_cpu / duration,
        "audio_analysis": analysis_cpu / audio_s,
        "usb_frames_encoding_5fps": encode_5fps / duration,
        "usb_frames_encoding_15fps_default_cap": encode_15fps / duration,
        "usb_frames_encoding_every_frame": encode_all / duration,
    }
    print(
        json.dumps(
            {
                "clip": str(args.clip or "expressions 1280x720 30 fps + AAC"),
                "duration_s": round(duration, 2),
                "load": os.getloadavg(),
                "cpu_percent_of_one_core": {k: round(v * 100, 2) for k, v in per_s.items()},
                "ring_bytes_per_s": round(rings[-1].bytes / max(rings[-1].span_s, 1e-6)),
                # A USB camera's ring, every frame encoded: its size for clip_buffer_s (30 s).
                "usb_ring_mb_30s": round(usb_ring.bytes / max(usb_ring.span_s, 1e-6) * 30 / 1e6, 1),
                "save_10s_clip": {
                    "wall_s": round(save_wall, 3),
                    "cpu_s": round(save_cpu, 3),
                    "bytes": saved.size,
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
