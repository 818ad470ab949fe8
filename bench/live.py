"""Live multi-camera benchmark: CPU cost, real-time headroom, motion gate and recognition gating.

Everything in the report is measured in the same run on this machine:

1. live scenarios (5 fps analysis): N x 640x360 and M x 1080p looped files, each at real-time
   pace and as fast as possible;
2. a decode-only baseline on the same files (decode every frame, BGR-convert the sampled ones);
3. the motion gate on a static clip built here with PyAV (4 streams, gate on vs off);
4. gated recognition vs a naive "detect + embed every face on every sampled frame" loop.

CPU is `time.process_time()` around each scenario (all threads of this process, including
FFmpeg's decoder threads) plus the CPU of the embedding child processes.
Stream seconds per camera = the `stream_s` counter (stream time played, from frame timestamps).

    python -m bench.live                 # defaults: 16 x 360p, 8 x 1080p, 20 s per scenario
    python -m bench.live --quick         # smoke run: 2 streams, 4 s
    python -m bench.live --json out.json --out report.txt
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import av
import cv2

from vigil.config import CameraConfig, VigilSettings, load_settings
from vigil.detect import create_detector
from vigil.embed import FaceCrop, FaceEmbedder, create_embedder
from vigil.live.camera import CameraStatus
from vigil.live.events import MemorySink, TrackEnded
from vigil.live.sampling import FrameSampler
from vigil.live.supervisor import Supervisor
from vigil.sources import open_source
from vigil.types import Image

log = logging.getLogger("bench.live")
T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
ANALYSIS_FPS = 5.0
HAMILTON = "media/video/hamilton_640x360.mp4"
CROWD = "media/video/crowd_1080p.mp4"
OTHER_PROCS_WARN = 0.15  # cores used by other processes that make a scenario's numbers suspect
TICK_S = 0.25  # Supervisor.wait tick
KEPT_UP = 0.9  # a stream keeps up when stream seconds >= 0.9 x wall seconds
STATIC_SECONDS = 10.0
STAGES = ("ms_decode", "ms_motion", "ms_detect", "ms_track", "ms_quality", "ms_embed")


def shared_dir() -> Path:
    return Path(os.environ.get("VIGIL_SHARED_DIR") or ROOT.parent / "shared").resolve()


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ media facts
@dataclass(frozen=True)
class Clip:
    path: Path
    label: str
    fps: float
    frames: int
    duration_s: float
    width: int
    height: int

    @property
    def sample_every(self) -> int:
        """1 in N frames taken by the 5 fps sampler (6 for 29.97 fps, 5 for 25 fps)."""
        return max(1, round(self.fps / ANALYSIS_FPS))


def probe(path: Path, label: str) -> Clip:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 25)
        duration = float(container.duration or 0) / av.time_base
        frames = stream.frames or round(duration * fps)
        return Clip(path, label, fps, frames, duration, stream.width, stream.height)


# ------------------------------------------------------------------ machine header
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "cv2": cv2.__version__, "av": av.__version__}
    for module, dist in (
        ("numpy", "numpy"),
        ("onnxruntime", "onnxruntime"),
        ("dlib", "dlib-bin"),
        ("trackers", "trackers"),
        ("supervision", "supervision"),
    ):
        try:
            versions[module] = str(getattr(__import__(module), "__version__", "") or metadata.version(dist))
        except (ImportError, metadata.PackageNotFoundError):
            versions[module] = "not installed"
    return versions


def git_revision() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine_info() -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "platform": platform.platform(),
        "versions": library_versions(),
        "vigil_revision": git_revision(),
        "gil_switch_interval_ms": sys.getswitchinterval() * 1000,
    }


# ------------------------------------------------------------------ CPU accounting (Linux /proc)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
ROLES = ("decode", "analyse", "recognise")


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine (all processes), from /proc/stat."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            values = [int(v) for v in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return 0, 0
    return sum(values) - values[3] - values[4], sum(values)


def proc_stat(path: str) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) from a /proc .../stat file; None when it vanished."""
    try:
        with open(path, encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def children_cpu() -> float:
    """CPU seconds of live child processes (the embedding workers), from /proc."""
    me = os.getpid()
    stats = (proc_stat(f"/proc/{entry}/stat") for entry in os.listdir("/proc") if entry.isdigit())
    return sum(stat[1] for stat in stats if stat is not None and stat[0] == me)


def process_cpu() -> float:
    """This process's CPU (all threads) plus its embedding child processes."""
    return time.process_time() + children_cpu()


def thread_cpu_by_role() -> dict[str, float]:
    """CPU seconds of the live pipeline threads (named '<camera>-<role>'), summed per role."""
    roles = {t.native_id: t.name.rsplit("-", 1)[-1] for t in threading.enumerate()}
    totals = dict.fromkeys(ROLES, 0.0)
    for tid, role in roles.items():
        stat = proc_stat(f"/proc/self/task/{tid}/stat") if role in totals else None
        if stat is not None:
            totals[role] += stat[1]
    return totals


# ------------------------------------------------------------------ pipeline scenarios
class _StreamCost:
    """CPU per stream-second, shared by the pipeline and decode-only results."""

    cpu_s: float
    stream_s: list[float]

    @property
    def total_stream_s(self) -> float:
        return sum(self.stream_s)

    @property
    def cpu_per_stream_s(self) -> float:
        return self.cpu_s / max(self.total_stream_s, 1e-9)


@dataclass
class LiveResult(_StreamCost):
    label: str
    clip: str
    streams: int
    realtime: bool
    motion: bool
    loop: bool
    wall_s: float  # start -> stop request (or -> all cameras finished)
    drain_s: float  # stop request -> every thread joined
    cpu_s: float  # process CPU from start to joined (drain included: it is work on decoded frames)
    stream_s: list[float]
    frames_decoded: int
    frames_sampled: int
    frames_dropped: int
    motion_skipped: int
    frames_detected: int
    faces_detected: int
    tracks_started: int
    embed_requests: int
    embed_dropped: int
    embeddings: int
    stage_ms: dict[str, float]
    health_fps: list[float]  # health analysed_fps (5 s window) at the last tick before stop
    errors: list[str]
    embed_errors: int = 0
    role_cpu_s: dict[str, float] = field(default_factory=dict)  # at stop; "other" = FFmpeg + main + exited
    other_procs_cores: float = 0.0  # CPU used by other processes on the machine meanwhile
    wake_late_ms: tuple[float, float] = (0.0, 0.0)  # main thread's lateness waking from a wait: median, max

    @property
    def uncounted_frames(self) -> int:
        """Sampled frames neither analysed nor counted in frames_dropped."""
        return self.frames_sampled - self.frames_dropped - self.motion_skipped - self.frames_detected

    @property
    def uncounted_embeds(self) -> int:
        """Embedding requests neither computed, failed nor counted in embed_dropped."""
        return self.embed_requests - self.embed_dropped - self.embeddings - self.embed_errors

    @property
    def speed(self) -> list[float]:
        """Stream seconds per wall second, per stream."""
        return [s / max(self.wall_s, 1e-9) for s in self.stream_s]

    @property
    def analysed_fps(self) -> float:
        """Mean over streams of frames analysed (sampled - dropped) per wall second."""
        return (self.frames_sampled - self.frames_dropped) / max(self.wall_s, 1e-9) / max(self.streams, 1)

    @property
    def kept_up(self) -> bool:
        return all(v >= KEPT_UP for v in self.speed) and not self.errors

    @property
    def drop_pct(self) -> float:
        return 100.0 * self.frames_dropped / max(self.frames_sampled, 1)

    def summary(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "total_stream_s": self.total_stream_s,
            "cpu_per_stream_s": self.cpu_per_stream_s,
            "speed_per_stream": self.speed,
            "analysed_fps_per_stream": self.analysed_fps,
            "uncounted_frames": self.uncounted_frames,
            "uncounted_embeds": self.uncounted_embeds,
            "kept_up": self.kept_up,
            "dropped_pct": self.drop_pct,
        }


def make_settings(shared: Path, realtime: bool, motion: bool = True) -> VigilSettings:
    return load_settings(
        shared_dir=shared, realtime=realtime, analysis_fps=ANALYSIS_FPS, motion={"enabled": motion}
    )


def run_pipeline(
    label: str,
    clip: Clip,
    streams: int,
    settings: VigilSettings,
    embedder: FaceEmbedder,
    duration_s: float | None,
    loop: bool = True,
    sink: MemorySink | None = None,
) -> LiveResult:
    """`streams` cameras on `clip` for `duration_s` (None: until every file ends)."""
    cameras = [CameraConfig(url=str(clip.path), name=f"c{i}", loop=loop) for i in range(streams)]
    supervisor = Supervisor(settings, cameras, [sink or MemorySink()], embedder=embedder)
    ticks: list[tuple[float, float, dict[str, CameraStatus]]] = []  # (start, end, status)
    roles: dict[str, float] = {}

    def on_tick() -> None:
        now = time.perf_counter()
        status = supervisor.status()
        # Per-thread CPU in the last second only (reading /proc for ~50 threads costs a few ms).
        if duration_s is None or now - wall0 >= duration_s - 1.0:
            roles.update(thread_cpu_by_role(), other=process_cpu() - cpu0)
        ticks.append((now, time.perf_counter(), status))

    busy0, all0 = machine_jiffies()
    cpu0, wall0 = process_cpu(), time.perf_counter()
    supervisor.start()
    supervisor.wait(duration_s=duration_s, on_tick=on_tick, tick_s=TICK_S)
    wall_end, cpu1 = time.perf_counter(), process_cpu()
    busy1, all1 = machine_jiffies()
    machine_cores = (busy1 - busy0) / max(all1 - all0, 1) * (os.cpu_count() or 1)
    if roles:
        roles["other"] -= sum(roles[r] for r in ROLES)

    # Supervisor.wait checks its deadline right after each tick: stop is requested when the last
    # tick returns. Files that end by themselves (duration None) have no separate drain.
    stop_at = ticks[-1][1] if duration_s is not None and ticks else wall_end
    # How late the main thread wakes from a TICK_S wait: GIL + CPU run-queue latency.
    late_ms = [1000 * (b[0] - a[1] - TICK_S) for a, b in itertools.pairwise(ticks)]
    status = supervisor.status()
    total = {
        key: sum(s.counters.to_dict()[key] for s in status.values())
        for key in status["c0"].counters.to_dict()
    }
    errors = [
        f"{n}: {s.health.state} {s.health.last_error}"
        for n, s in status.items()
        if s.health.last_error or s.health.state == "failed"
    ]
    health_fps = [float(s.health.analysed_fps) for s in ticks[-1][2].values()] if ticks else []
    return LiveResult(
        label=label,
        clip=clip.label,
        streams=streams,
        realtime=settings.realtime,
        motion=settings.motion.enabled,
        loop=loop,
        wall_s=stop_at - wall0,
        drain_s=wall_end - stop_at,
        cpu_s=cpu1 - cpu0,
        stream_s=[float(s.counters.stream_s) for s in status.values()],
        frames_decoded=int(total["frames_decoded"]),
        frames_sampled=int(total["frames_sampled"]),
        frames_dropped=int(total["frames_dropped"]),
        motion_skipped=int(total["motion_skipped"]),
        frames_detected=int(total["frames_detected"]),
        faces_detected=int(total["faces_detected"]),
        tracks_started=int(total["tracks_started"]),
        embed_requests=int(total["embed_requests"]),
        embed_dropped=int(total["embed_dropped"]),
        embeddings=int(total["embeddings"]),
        stage_ms={key: float(total[key]) for key in STAGES},
        health_fps=health_fps,
        errors=errors,
        embed_errors=int(total["embed_errors"]),
        role_cpu_s=roles,
        wake_late_ms=(statistics.median(late_ms), max(late_ms)) if late_ms else (0.0, 0.0),
        other_procs_cores=max(0.0, machine_cores - (cpu1 - cpu0) / max(wall_end - wall0, 1e-9)),
    )


# ------------------------------------------------------------------ decode-only baseline
@dataclass
class DecodeResult(_StreamCost):
    clip: str
    streams: int
    sample_every: int
    wall_s: float
    cpu_s: float
    stream_s: list[float]
    converted: int

    @property
    def speed(self) -> float:
        return self.total_stream_s / max(self.wall_s, 1e-9) / max(self.streams, 1)

    def summary(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "total_stream_s": self.total_stream_s,
            "cpu_per_stream_s": self.cpu_per_stream_s,
            "speed_per_stream": self.speed,
        }


def decode_only(
    clip: Clip, streams: int, settings: VigilSettings, target_stream_s: float, max_wall_s: float
) -> DecodeResult:
    """`streams` threads decoding every frame of `clip` (looping) as fast as possible and
    converting 1 in `clip.sample_every` frames to BGR, until each thread has covered
    `target_stream_s` stream seconds or `max_wall_s` have passed."""
    stop = threading.Event()
    target_frames = max(1, round(target_stream_s * clip.fps))
    decoded = [0] * streams
    converted = [0] * streams

    def worker(index: int) -> None:
        while not stop.is_set() and decoded[index] < target_frames:
            source = open_source(str(clip.path), settings.runtime)
            source.open()
            try:
                for position, raw in enumerate(source.frames()):
                    if stop.is_set() or decoded[index] >= target_frames:
                        break
                    decoded[index] += 1
                    if position % clip.sample_every == 0:
                        raw.to_bgr()
                        converted[index] += 1
            finally:
                source.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(streams)]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for thread in threads:
        thread.start()
    deadline = wall0 + max_wall_s
    for thread in threads:
        thread.join(max(0.0, deadline - time.perf_counter()))
    stop.set()
    for thread in threads:
        thread.join()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return DecodeResult(
        clip.label, streams, clip.sample_every, wall, cpu, [n / clip.fps for n in decoded], sum(converted)
    )


# ------------------------------------------------------------------ static clip (motion gate)
def read_frame(clip: Clip, at_s: float) -> Image:
    with av.open(str(clip.path)) as container:
        for frame in container.decode(video=0):
            if frame.time is not None and frame.time >= at_s:
                return frame.to_ndarray(format="bgr24")
    raise RuntimeError(f"{clip.path}: no frame at {at_s} s")


def make_static_clip(image: Image, path: Path, seconds: float = 10.0, fps: int = 30) -> None:
    """`seconds` of one still frame, H.264 yuv420p at `fps`."""
    height, width = image.shape[:2]
    with av.open(str(path), "w") as output:
        stream = output.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = Fraction(1, fps)
        still = av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format="yuv420p")
        for index in range(round(seconds * fps)):
            still.pts = index
            still.time_base = Fraction(1, fps)
            for packet in stream.encode(still):
                output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)


# ------------------------------------------------------------------ naive vs gated
@dataclass
class NaiveResult:
    clip: str
    stream_s: float
    frames_decoded: int
    frames_sampled: int
    faces_sampled: int  # naive embeddings at 5 fps
    faces_all_frames: int  # naive embeddings at the file's frame rate
    detect_ms_mean: float
    embeds_timed: int
    embed_cpu_ms_mean: float
    embed_wall_ms_mean: float
    gated_embeddings: int
    gated_embed_requests: int
    gated_embed_ms: float
    gated_tracks: int
    per_track_embeddings: list[int] = field(default_factory=list)
    gated_cpu_s: float = 0.0

    def summary(self) -> dict[str, Any]:
        return asdict(self)


def naive_vs_gated(clip: Clip, shared: Path, embedder: FaceEmbedder, timed_embeds: int) -> NaiveResult:
    settings = make_settings(shared, realtime=False)
    sink = MemorySink()
    gated = run_pipeline("gated", clip, 1, settings, embedder, None, loop=False, sink=sink)
    per_track = sorted(e.embeddings for e in sink.events if isinstance(e, TrackEnded))

    # Naive loop (face_recognition's video example): detect and embed every face of every
    # processed frame. Detection runs on every decoded frame to count both rates.
    detector = create_detector(settings.detector, settings.model_search_dirs())
    sampler = FrameSampler(ANALYSIS_FPS)
    source = open_source(str(clip.path), settings.runtime)
    source.open()
    crops: list[FaceCrop] = []
    decoded = sampled = faces_sampled = faces_all = 0
    detect_s = 0.0
    try:
        for raw in source.frames():
            decoded += 1
            take = sampler.take(raw.pts)
            image = raw.to_bgr()
            start = time.perf_counter()
            found = detector.detect(image)
            detect_s += time.perf_counter() - start
            faces_all += len(found)
            if take:
                sampled += 1
                faces_sampled += len(found)
                for row in range(len(found)):
                    landmarks = None if found.landmarks is None else found.landmarks[row]
                    crops.append(FaceCrop.cut(image, found.xyxy[row], landmarks))
    finally:
        source.close()

    # Embedding every crop costs ~90 ms each with dlib: time an evenly spaced subset.
    subset = crops[:: max(1, len(crops) // max(timed_embeds, 1))][:timed_embeds] if crops else []
    cpu0, wall0 = process_cpu(), time.perf_counter()
    for crop in subset:
        embedder.embed(crop)
    cpu_ms = (process_cpu() - cpu0) * 1000 / max(len(subset), 1)
    wall_ms = (time.perf_counter() - wall0) * 1000 / max(len(subset), 1)
    return NaiveResult(
        clip=clip.label,
        stream_s=decoded / clip.fps,
        frames_decoded=decoded,
        frames_sampled=sampled,
        faces_sampled=faces_sampled,
        faces_all_frames=faces_all,
        detect_ms_mean=detect_s * 1000 / max(decoded, 1),
        embeds_timed=len(subset),
        embed_cpu_ms_mean=cpu_ms,
        embed_wall_ms_mean=wall_ms,
        gated_embeddings=gated.embeddings,
        gated_embed_requests=gated.embed_requests,
        gated_embed_ms=gated.stage_ms["ms_embed"],
        gated_tracks=gated.tracks_started,
        per_track_embeddings=per_track,
        gated_cpu_s=gated.cpu_s,
    )


# ------------------------------------------------------------------ GIL diagnostics
@dataclass
class GilResult:
    """How much a pure-Python thread progresses while a stage runs in another thread.

    100% = as fast as alone (the stage releases the GIL, the two use both cores); ~0% = the
    stage holds the GIL, so every other Python thread of every camera is frozen meanwhile."""

    spin_rate_alone: float
    embed_progress_pct: float
    embed_ms_alone: float
    embed_ms_with_spinner: float
    detect_progress_pct: float
    detect_ms_alone: float
    detect_ms_with_spinner: float

    def summary(self) -> dict[str, Any]:
        return asdict(self)


def _spin(stop: threading.Event, count: list[int]) -> None:
    n = 0
    while not stop.is_set():
        n += 1
    count.append(n)


def _spin_while(work: Callable[[], None]) -> tuple[float, float]:
    """(spinner iterations per second while `work` runs, `work` wall seconds)."""
    stop, count = threading.Event(), list[int]()
    spinner = threading.Thread(target=_spin, args=(stop, count), daemon=True)
    spinner.start()
    time.sleep(0.02)
    start = time.perf_counter()
    work()
    elapsed = time.perf_counter() - start
    stop.set()
    spinner.join()
    return count[0] / (elapsed + 0.02), elapsed


def gil_diagnostics(clip: Clip, settings: VigilSettings, embedder: FaceEmbedder, repeats: int) -> GilResult:
    images = [read_frame(clip, at) for at in (1.5, 8.5)]
    detector = create_detector(settings.detector, settings.model_search_dirs())
    found = detector.detect(images[1])
    landmarks = None if found.landmarks is None else found.landmarks[0]
    crop = FaceCrop.cut(images[1], found.xyxy[0], landmarks)
    embedder.embed(crop)

    stop, count = threading.Event(), list[int]()
    spinner = threading.Thread(target=_spin, args=(stop, count), daemon=True)
    spinner.start()
    time.sleep(0.5)
    stop.set()
    spinner.join()
    alone = count[0] / 0.5

    def embeds() -> None:
        for _ in range(repeats):
            embedder.embed(crop)

    def detections() -> None:
        for index in range(repeats * 6):
            detector.detect(images[index % 2])

    timings: list[float] = []
    for work in (embeds, detections):
        start = time.perf_counter()
        work()
        timings.append(time.perf_counter() - start)
    embed_rate, embed_s = _spin_while(embeds)
    detect_rate, detect_s = _spin_while(detections)
    return GilResult(
        spin_rate_alone=alone,
        embed_progress_pct=100 * embed_rate / alone,
        embed_ms_alone=timings[0] * 1000 / repeats,
        embed_ms_with_spinner=embed_s * 1000 / repeats,
        detect_progress_pct=100 * detect_rate / alone,
        detect_ms_alone=timings[1] * 1000 / (repeats * 6),
        detect_ms_with_spinner=detect_s * 1000 / (repeats * 6),
    )


# ------------------------------------------------------------------ report
def fmt_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join(
        h.rjust(w) if i else h.ljust(w) for i, (h, w) in enumerate(zip(headers, widths, strict=True))
    )
    lines = [line, "-" * len(line)]
    for row in rows:
        lines.append(
            "  ".join(
                c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    return lines


def live_rows(results: Sequence[LiveResult]) -> list[list[str]]:
    rows = []
    for r in results:
        speed = r.speed
        rows.append(
            [
                r.label,
                f"{r.streams}",
                "real-time" if r.realtime else "max speed",
                f"{r.wall_s:.1f}+{r.drain_s:.1f}",
                f"{r.cpu_s:.1f}",
                f"{r.total_stream_s:.1f}",
                f"{r.cpu_per_stream_s:.3f}",
                f"{statistics.mean(speed):.2f} ({min(speed):.2f})",
                f"{r.analysed_fps:.2f}",
                f"{r.frames_dropped} ({r.drop_pct:.0f}%)",
                f"{r.embeddings}/{r.embed_requests} ({r.embed_dropped})",
                ("yes" if r.kept_up else "NO") if r.realtime else ("(yes)" if r.kept_up else "(no)"),
            ]
        )
    return rows


def stage_rows(results: Sequence[LiveResult]) -> list[list[str]]:
    rows = []
    for r in results:
        sampled = max(r.frames_sampled - r.frames_dropped, 1)
        detected = max(r.frames_detected, 1)
        rows.append(
            [
                f"{r.label} {'rt' if r.realtime else 'fast'}",
                f"{r.stage_ms['ms_decode'] / max(r.frames_decoded, 1):.2f}",
                f"{r.stage_ms['ms_motion'] / sampled:.2f}",
                f"{r.stage_ms['ms_detect'] / detected:.1f}",
                f"{r.stage_ms['ms_quality'] / max(r.faces_detected, 1):.2f}",
                f"{r.stage_ms['ms_embed'] / max(r.embeddings, 1):.0f}",
                f"{r.faces_detected / detected:.1f}",
                f"{r.tracks_started}",
            ]
        )
    return rows


def role_rows(results: Sequence[LiveResult]) -> list[list[str]]:
    rows = []
    for r in results:
        roles = r.role_cpu_s
        total = max(sum(roles.values()), 1e-9)
        cells = [
            f"{roles.get(k, 0.0):.1f} ({100 * roles.get(k, 0.0) / total:.0f}%)" for k in (*ROLES, "other")
        ]
        rows.append(
            [
                f"{r.label} {'rt' if r.realtime else 'fast'}",
                f"{r.cpu_s / max(r.wall_s + r.drain_s, 1e-9):.2f}",
                f"{r.other_procs_cores:.2f}",
                *cells,
                f"{1000 * roles.get('analyse', 0.0) / max(r.frames_detected, 1):.1f}",
                f"{1000 * roles.get('recognise', 0.0) / max(r.embeddings, 1):.0f}",
                f"{r.wake_late_ms[0]:.0f}/{r.wake_late_ms[1]:.0f}",
                f"{r.uncounted_frames}",
                f"{r.uncounted_embeds}",
            ]
        )
    return rows


def build_report(
    info: dict[str, Any],
    args: argparse.Namespace,
    clips: dict[str, Clip],
    live: list[LiveResult],
    decode: dict[str, DecodeResult],
    motion: list[LiveResult],
    static_faces: int,
    naive: NaiveResult,
    gil: GilResult,
    total_wall_s: float,
) -> str:
    out: list[str] = []
    add = out.append
    add("=" * 100)
    add("Vigil live benchmark (bench/live.py)" + ("  [--quick]" if args.quick else ""))
    add("=" * 100)
    add(f"date           {info['date']}")
    add(f"cpu            {info['cpu']}  ({info['cores']} cores, {info['usable_cores']} usable)")
    add(f"platform       {info['platform']}")
    add("versions       " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()))
    add(
        f"vigil          {info['vigil_revision']}  "
        f"(GIL switch interval {info['gil_switch_interval_ms']:.0f} ms)"
    )
    settings = make_settings(shared_dir(), realtime=True)
    add(
        f"settings       analysis {ANALYSIS_FPS:g} fps, detector {settings.detector.type} "
        f"(max_width {settings.detector.max_width}), embedder {settings.embedder.type}, "
        f"opencv_threads {settings.runtime.opencv_threads}, "
        f"decode_threads {settings.runtime.decode_threads} (auto), "
        f"frame_queue {settings.runtime.frame_queue}, embed_queue {settings.runtime.embed_queue}"
    )
    for clip in clips.values():
        add(
            f"clip           {clip.label}: {clip.path.name} {clip.width}x{clip.height} {clip.fps:.2f} fps, "
            f"{clip.duration_s:.1f} s, {clip.frames} frames, sampler takes 1 in {clip.sample_every}"
        )
    add(
        f"run            --streams-360 {args.streams_360} --streams-1080 {args.streams_1080} "
        f"--seconds {args.seconds:g}; whole benchmark took {total_wall_s:.0f} s"
    )
    add("CPU = process_time() + embedding child processes' CPU, delta around each scenario.")
    add('Stream seconds per camera = counters["stream_s"] (stream time played).')

    add("")
    add("1. LIVE SCENARIOS (looped files as cameras, 5 fps analysis, motion gate on)")
    add("")
    headers = [
        "scenario",
        "N",
        "pace",
        "wall+drain s",
        "CPU s",
        "stream s",
        "CPU/stream-s",
        "speed mean(min)",
        "fps/stream",
        "dropped",
        "embeds/req(drop)",
        "kept up",
    ]
    out.extend(fmt_table(headers, live_rows(live)))
    add("")
    add("  CPU/stream-s: CPU seconds per second of video per camera; x N = cores needed for N live cameras.")
    add("  speed: stream seconds per wall second per camera (>= 1.0 keeps up with real time).")
    add("  fps/stream: frames analysed (sampled - dropped) per wall second per camera (target 5).")
    add("  dropped: sampled frames dropped by the frame queue because analysis lagged (real-time runs only).")
    add(
        "  embeds/req(drop): embeddings computed / requested by gating (requests dropped by the embed queue)."
    )
    add(
        f"  kept up: every stream >= {KEPT_UP} x wall time (lag bounded); for max-speed runs (in brackets) it"
    )
    add("  means the machine had headroom to run these N streams at real time with this per-frame work.")
    add("  Looping restarts each clip (hamilton every ~9.2 s, crowd every ~4.2 s): the scene jumps, tracks")
    add("  end and new ones start, so faces are re-embedded every loop, like a constant flow of new people.")
    for r in live:
        if r.health_fps:
            add(
                f"  {r.label} {'rt' if r.realtime else 'fast'}: health analysed_fps "
                f"(5 s window at stop) mean "
                f"{statistics.mean(r.health_fps):.2f}, min {min(r.health_fps):.2f}, "
                f"max {max(r.health_fps):.2f}"
            )
        for error in r.errors:
            add(f"  ERROR {r.label}: {error}")
    add("")
    add("  CPU by thread role, read from /proc/self/task at stop (s and share of the scenario's CPU):")
    out.extend(
        "  " + line
        for line in fmt_table(
            [
                "scenario",
                "cores used",
                "other procs",
                "decode thr",
                "analyse thr",
                "recognise thr",
                "FFmpeg+other",
                "analyse CPU ms/detection",
                "CPU ms/embed",
                "wake late ms",
                "lost frames",
                "lost embeds",
            ],
            role_rows(live),
        )
    )
    add("  cores used = process CPU / wall (2 = machine saturated); other procs = cores used by other")
    add("  processes meanwhile (should be ~0). wake late = median/max lateness of the main thread")
    add(f"  waking from a {TICK_S:g} s wait (time to get the GIL and a core back).")
    add("  lost = sampled frames / embedding requests that were neither processed nor counted in")
    add("  frames_dropped / embed_dropped (evicted from a queue by a")
    add("  non-droppable control item: end-of-stream, track_started/ended).")
    busy = [r for r in (*live, *motion) if r.other_procs_cores > OTHER_PROCS_WARN]
    if busy:
        worst = max(r.other_procs_cores for r in busy)
        add(f"  WARNING: other processes used up to {worst:.2f} cores during {len(busy)} scenario(s):")
        add("  their numbers are pessimistic; rerun on an idle machine.")
    add("")
    add("  Per-stage wall ms (perf_counter inside each worker; inflated by contention between threads):")
    out.extend(
        "  " + line
        for line in fmt_table(
            [
                "scenario",
                "decode/frame",
                "motion/analysed",
                "detect/detection",
                "quality/face",
                "embed/embedding",
                "faces/detection",
                "tracks",
            ],
            stage_rows(live),
        )
    )

    add("")
    add("2. DECODE-ONLY BASELINE (same files, same stream count, decode every frame, BGR-convert 1 in k,")
    add("   as fast as possible; per thread up to the mean stream time of the max-speed pipeline run)")
    add("")
    rows = []
    for label, d in decode.items():
        pipeline = next(r for r in live if r.label == label and not r.realtime)
        realtime = next(r for r in live if r.label == label and r.realtime)
        rows.append(
            [
                label,
                f"{d.streams}",
                f"1/{d.sample_every}",
                f"{d.wall_s:.1f}",
                f"{d.cpu_s:.1f}",
                f"{d.total_stream_s:.1f}",
                f"{d.cpu_per_stream_s:.4f}",
                f"{d.speed:.1f}",
                f"{pipeline.cpu_per_stream_s / max(d.cpu_per_stream_s, 1e-9):.1f}x",
                f"{realtime.cpu_per_stream_s / max(d.cpu_per_stream_s, 1e-9):.1f}x",
            ]
        )
    out.extend(
        fmt_table(
            [
                "clip",
                "N",
                "BGR",
                "wall s",
                "CPU s",
                "stream s",
                "CPU/stream-s",
                "speed",
                "pipeline/decode (fast)",
                "pipeline/decode (rt)",
            ],
            rows,
        )
    )

    add("")
    add("3. MOTION GATE ON A STATIC SCENE")
    if motion:
        on, off = motion
        add(
            f"   clip: one hamilton frame (t={args.static_at:g} s, {static_faces} faces detected) "
            f"repeated {STATIC_SECONDS:g} s,"
        )
        add(
            f"   H.264 yuv420p 30 fps, built with PyAV; {on.streams} streams, max speed, no loop, analysis "
            f"{ANALYSIS_FPS:g} fps."
        )
        add("")
        rows = [
            [
                ("motion on" if r.motion else "motion off"),
                f"{r.wall_s:.2f}",
                f"{r.cpu_s:.2f}",
                f"{r.total_stream_s:.1f}",
                f"{r.cpu_per_stream_s:.4f}",
                f"{r.frames_sampled}",
                f"{r.motion_skipped}",
                f"{r.frames_detected}",
                f"{r.embeddings}",
            ]
            for r in motion
        ]
        out.extend(
            fmt_table(
                [
                    "gate",
                    "wall s",
                    "CPU s",
                    "stream s",
                    "CPU/stream-s",
                    "sampled",
                    "motion_skipped",
                    "detections",
                    "embeddings",
                ],
                rows,
            )
        )
        add("")
        add(
            f"   CPU per stream-second, gate off / gate on: "
            f"{off.cpu_per_stream_s / max(on.cpu_per_stream_s, 1e-9):.1f}x "
            f"(detection forced every {settings.motion.force_every_s:g} s of stream time when nothing moves)"
        )
    else:
        add("   skipped (could not build the static clip, see stderr)")

    add("")
    add("4. RECOGNITION GATING vs NAIVE PER-FRAME EMBEDDING (hamilton, single file, no loop, max speed)")
    add("")
    n = naive
    per_track = n.per_track_embeddings or [0]
    embedded_tracks = sum(1 for v in per_track if v > 0)
    add(
        f"   gated pipeline   : {n.gated_embeddings} embeddings ({n.gated_embed_requests} requested) for "
        f"{n.gated_tracks} tracks ({embedded_tracks} embedded at least once); "
        f"per track median {statistics.median(per_track):g}, max {max(per_track)}; "
        f"embed time {n.gated_embed_ms / 1000:.2f} s; whole run CPU {n.gated_cpu_s:.2f} s"
    )
    add(
        f"   naive @ {ANALYSIS_FPS:g} fps     : {n.faces_sampled} embeddings "
        f"({n.frames_sampled} sampled frames, "
        f"every detected face embedded, same YuNet detector and sampler)"
    )
    add(
        f"   naive @ {clips['360p'].fps:.2f} fps : {n.faces_all_frames} embeddings "
        f"({n.frames_decoded} frames, "
        f"as face_recognition's facerec_from_video_file.py: every frame)"
    )
    add(
        f"   ratio gated/naive: {n.gated_embeddings / max(n.faces_sampled, 1):.3f} at {ANALYSIS_FPS:g} fps, "
        f"{n.gated_embeddings / max(n.faces_all_frames, 1):.4f} at every frame"
    )
    naive_s = n.faces_sampled * n.embed_cpu_ms_mean / 1000
    all_s = n.faces_all_frames * n.embed_cpu_ms_mean / 1000
    add(
        f"   naive embedding cost is ESTIMATED: counts come from running the detector on every frame "
        f"(mean {n.detect_ms_mean:.1f} ms/frame);"
    )
    add(
        f"   only {n.embeds_timed} evenly spaced crops were embedded and timed: "
        f"{n.embed_cpu_ms_mean:.0f} ms CPU "
        f"({n.embed_wall_ms_mean:.0f} ms wall) per face."
    )
    add(
        f"   => naive @ {ANALYSIS_FPS:g} fps ~ {naive_s:.1f} CPU s of embedding "
        f"for {n.stream_s:.1f} s of video "
        f"({naive_s / max(n.stream_s, 1e-9):.2f} CPU s per stream-second);"
    )
    add(
        f"      naive @ every frame ~ {all_s:.1f} CPU s "
        f"({all_s / max(n.stream_s, 1e-9):.2f} per stream-second); "
        f"gated: {n.gated_embed_ms / 1000 / max(n.stream_s, 1e-9):.3f} per stream-second."
    )
    add("")
    add("5. GIL DIAGNOSTICS (a pure-Python thread counting in a loop while a stage runs in the main thread)")
    add("")
    add(
        f"   while the embedder runs ({settings.embedder.type}): the Python thread progresses at "
        f"{gil.embed_progress_pct:.0f}% of its solo speed; embed {gil.embed_ms_alone:.0f} ms alone, "
        f"{gil.embed_ms_with_spinner:.0f} ms with it"
    )
    add(
        f"   while the detector runs ({settings.detector.type}): the Python thread progresses at "
        f"{gil.detect_progress_pct:.0f}% of its solo speed; "
        f"detect {gil.detect_ms_alone:.1f} ms alone, {gil.detect_ms_with_spinner:.1f} ms with it"
    )
    add("   ~0% means the stage holds the GIL: every other Python thread (all cameras' decode/analysis")
    add("   loops) is frozen while it runs, so a 2-core machine then behaves like a 1-core one.")
    add("=" * 100)
    return "\n".join(out)


# ------------------------------------------------------------------ main
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.live", description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams-360", type=int, default=16, help="hamilton 640x360 streams (default 16)")
    parser.add_argument("--streams-1080", type=int, default=8, help="crowd 1080p streams (default 8)")
    parser.add_argument(
        "--seconds", type=float, default=20.0, help="wall seconds per live scenario (default 20)"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 streams of each, 4 s scenarios")
    parser.add_argument("--json", type=Path, help="also write all measurements as JSON to this file")
    parser.add_argument("--out", type=Path, help="also write the text report to this file")
    parser.add_argument(
        "--static-at", type=float, default=8.5, help="hamilton frame time for the static clip (s)"
    )
    parser.add_argument(
        "--timed-embeds", type=int, default=20, help="naive crops actually embedded and timed"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.streams_360, args.streams_1080, args.seconds = 2, 2, 4.0
        args.timed_embeds = min(args.timed_embeds, 5)
    if args.streams_360 < 1 or args.streams_1080 < 1 or args.seconds <= 0:
        parser.error("stream counts must be >= 1 and --seconds > 0")
    return args


def timed(label: str, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    progress(f"{label} ...")
    start = time.perf_counter()
    result = func(*args, **kwargs)
    progress(f"{label} done in {time.perf_counter() - start:.1f} s")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    begin = time.perf_counter()
    shared = shared_dir()
    clips = {"360p": probe(shared / HAMILTON, "360p"), "1080p": probe(shared / CROWD, "1080p")}
    info = machine_info()
    base = make_settings(shared, realtime=True)
    if base.runtime.opencv_threads:
        cv2.setNumThreads(base.runtime.opencv_threads)  # as the Supervisor does, for the non-pipeline parts
    # Loaded once and shared, in child processes as `vigil watch` does (runtime.embed_processes).
    embedder: FaceEmbedder = create_embedder(base.embedder, base.use_gpu, base.runtime.embed_processes)

    live: list[LiveResult] = []
    decode: dict[str, DecodeResult] = {}
    for label, streams in (("360p", args.streams_360), ("1080p", args.streams_1080)):
        clip = clips[label]
        for realtime in (True, False):
            pace = "real-time" if realtime else "max speed"
            live.append(
                timed(
                    f"{label} x{streams} {pace} {args.seconds:g} s",
                    run_pipeline,
                    label,
                    clip,
                    streams,
                    make_settings(shared, realtime),
                    embedder,
                    args.seconds,
                )
            )
        target = statistics.mean(live[-1].stream_s)  # the max-speed run's stream time per camera
        decode[label] = timed(
            f"{label} x{streams} decode-only", decode_only, clip, streams, base, target, args.seconds
        )

    motion: list[LiveResult] = []
    static_faces = 0
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
        static_path = Path(tmp) / "static_hamilton.mp4"
        try:
            still = read_frame(clips["360p"], args.static_at)
            static_faces = len(create_detector(base.detector, base.model_search_dirs()).detect(still))
            make_static_clip(still, static_path, seconds=STATIC_SECONDS)
            static = probe(static_path, "static")
        except (av.error.FFmpegError, RuntimeError, OSError) as exc:
            progress(f"static clip failed: {exc}")
        else:
            for enabled in (True, False):
                settings = make_settings(shared, realtime=False, motion=enabled)
                motion.append(
                    timed(
                        f"static x4 motion {'on' if enabled else 'off'}",
                        run_pipeline,
                        "static",
                        static,
                        4,
                        settings,
                        embedder,
                        None,
                        loop=False,
                    )
                )

    naive = timed("naive vs gated", naive_vs_gated, clips["360p"], shared, embedder, args.timed_embeds)
    gil = timed("GIL diagnostics", gil_diagnostics, clips["360p"], base, embedder, 5 if args.quick else 10)
    report = build_report(
        info, args, clips, live, decode, motion, static_faces, naive, gil, time.perf_counter() - begin
    )
    print(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report + "\n", encoding="utf-8")
    if args.json:
        data = {
            "machine": info,
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "clips": {k: {**asdict(c), "path": str(c.path)} for k, c in clips.items()},
            "live": [r.summary() for r in live],
            "decode_only": {k: d.summary() for k, d in decode.items()},
            "motion_static": [r.summary() for r in motion],
            "static_faces": static_faces,
            "naive_vs_gated": naive.summary(),
            "gil": gil.summary(),
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
