"""Jobs on Ray (issue 19): the same tracking job with the local process pool and with the Ray
executor (a local Ray instance), alternated; scheduling cost and bytes moved per chunk.

    .venv/bin/python -m bench.ray_overhead [--runs 3] [--loops 6] [--workers 2] [--engine NAME]
    .venv/bin/python -m bench.ray_overhead --bytes-only [--loops 6]   # 5. and 6. only: no timing

1. The clip: hamilton (275 frames, 360p, 10 s) joined `loops` times end to end (ffmpeg concat,
   stream copy): ~1 minute of video.
2. Job time, warm: in this process (Ray started once, before the rounds), `runs` rounds of
   `run_batch` with a local spawn pool then a Ray pool (alternated, so load changes hit both
   alike). Each run starts its own pool (processes or actors, models loaded in each) and tracks the
   whole clip: what a job costs once Ray is up (a server's case). Medians; overhead = ray / local - 1.
3. Job time, cold: the whole `vigil track` command, `--executor local` vs `--executor ray` (which
   starts and stops a local Ray instance), alternated, `runs` rounds each: what a CLI user waits.
4. Scheduling cost per chunk: 200 empty chunks (a function returning its 1-byte argument) through
   each pool with the runner's pipelining (2 in flight per worker): wall time per chunk.
5. Bytes per chunk: the pickled size of what each tracking chunk sends to its Ray actor (the
   function, the task and the frame table's object-store reference as `RayPool` hands them to
   Ray; the table itself is put once per video, counted at its first chunk) and of its result
   (what comes back), from one run on Ray.
6. Bytes per chunk of a 2-hour video (a synthetic 200,000-frame table, 25 fps, a keyframe every
   250 frames): one chunk's call as a local pool pickles it (the table with every chunk, as both
   pools did before the table was shared) and as a Ray pool sends it (a reference), and the
   table's one put.
Also checks the Ray outputs' frames are byte-identical to the local ones. The 1-minute load average
is recorded before each run. Results: JSON lines on stdout and `--json`
(default bench/results/ray_overhead.json; with `--bytes-only`, ray_overhead_bytes.json).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from bench.anonymize_chunks import looped
from vigil.batch.process import ChunkTask, shared_chunk
from vigil.batch.runner import run_batch
from vigil.batch.settings import BatchSettings
from vigil.batch.video import VideoInfo
from vigil.batch.worker import init_worker
from vigil.jobs.ray_pool import RayPool, connect
from vigil.jobs.shared import Shared
from vigil.jobs.workers import ExecutorSettings, ReadsInput, start_pool

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VIGIL_SHARED_DIR", ROOT.parent / "shared")).resolve()
LOCAL, RAY = ExecutorSettings(), ExecutorSettings("ray")


def frames_part(path: Path) -> bytes:
    data = path.read_bytes()
    return data[data.index(b'"frames": [') :]


def settings_for(args: argparse.Namespace) -> BatchSettings:
    settings = BatchSettings(engine=args.engine, cpu_workers=args.workers)
    settings.set_search_dirs([SHARED / "models"])
    return settings


def warm_run(video: Path, out: Path, settings: BatchSettings, where: ExecutorSettings) -> dict[str, Any]:
    load = os.getloadavg()[0]
    cpu0 = os.times()
    started = time.perf_counter()
    report = run_batch([video], settings, out_dir=out, force=True, executor_settings=where)
    wall = time.perf_counter() - started
    assert report.failed == {}, report.failed
    metadata = json.loads((out / f"{video.stem}_tracking.json").read_bytes())["metadata"]
    cpu1 = os.times()
    return {
        "wall_s": round(wall, 2),
        "fps": round(metadata["total_frames"] / wall, 1),
        "chunks": metadata["chunks"],
        "driver_cpu_s": round(cpu1.user + cpu1.system - cpu0.user - cpu0.system, 2),
        "load_1min": round(load, 2),
    }


def cold_run(video: Path, out: Path, args: argparse.Namespace, where: str) -> dict[str, Any]:
    env = dict(os.environ, VIGIL_SHARED_DIR=str(SHARED), VIGIL_TRACK__MODELS_DIR=str(SHARED / "models"))
    load = os.getloadavg()[0]
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "vigil", "track", str(video), "--out-dir", str(out), "--force",
         "--engine", args.engine, "--workers", str(args.workers), "--executor", where],
        check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return {"wall_s": round(time.perf_counter() - started, 2), "load_1min": round(load, 2)}


def echo(value: bytes) -> bytes:
    return value


def scheduling(pool: Executor, workers: int, chunks: int = 200) -> float:
    """Seconds per empty chunk with `2 * workers` in flight (as the runner keeps them)."""
    pool.submit(echo, b"x").result()  # the workers are up
    started = time.perf_counter()
    in_flight: set[Future[bytes]] = set()
    sent = 0
    while sent < chunks or in_flight:
        while sent < chunks and len(in_flight) < 2 * workers:
            in_flight.add(pool.submit(echo, b"x"))
            sent += 1
        _, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
    return (time.perf_counter() - started) / chunks


def pickled(value: Any) -> int:
    return len(pickle.dumps(value, protocol=5))


class Measured(Executor):
    """A Ray pool, recording the pickled size of what each chunk sends and gets back: the call
    as the pool hands it to Ray (its `Shared` arguments as references), plus a shared value's
    own size at its first chunk (its one put)."""

    def __init__(self, inner: RayPool) -> None:
        self.inner, self.sent, self.received = inner, list[int](), list[int]()
        self.inline: list[int] = []  # the call pickled whole (a local pool; Ray before sharing)
        self.put: list[int] = []  # the shared values put, once each

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        shared, puts = self.inner.shared, self.inner.shared.puts
        sent = shared.call_args(args)  # the references the pool sends (put here at a first chunk)
        self.sent.append(pickled((fn, kwargs, *sent)))
        self.inline.append(pickled((fn, args, kwargs)))  # the table with the chunk, as before
        if shared.puts > puts:  # one `Shared` per chunk here: the video's frame table
            self.put.append(sum(pickled(arg) for arg in args if isinstance(arg, Shared)))
        future = self.inner.submit(fn, *args, **kwargs)
        future.add_done_callback(lambda f: self.received.append(len(pickle.dumps(f.result(), protocol=5))))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.inner.shutdown(wait, cancel_futures=cancel_futures)


def long_table(frames: int = 200_000) -> VideoInfo:
    """A 2-hour video's frame table (25 fps, a keyframe every 250 frames); nothing is decoded."""
    pts = np.arange(frames, dtype=np.int64) * 512
    return VideoInfo(Path("/videos/two_hours.mp4"), 640, 360, 25.0, Fraction(1, 12800), pts,
                     pts[::250].copy(), frames, frames)  # fmt: skip


def long_video_chunk(pool: RayPool, settings: BatchSettings) -> dict[str, int]:
    """6. One chunk of a 2-hour video: its call pickled whole (a local pool, and Ray before the
    table was shared) and as the Ray pool sends it; the table's one put."""
    info = Shared(long_table())
    task = ChunkTask(info.value.path, 250, 100_001, 100_400, settings)
    fn = ReadsInput(shared_chunk, str(info.value.path))
    return {
        "frames": info.value.total_frames,
        "inline": pickled((fn, (task, info), {})),
        "ray": pickled((fn, {}, *pool.shared.call_args((task, info)))),
        "table_put_once": pickled(info),
    }


def bytes_per_chunk(video: Path, root: Path, settings: BatchSettings, workers: int) -> dict[str, Any]:
    """5. and 6.: one tracking run on a Ray pool, measured; a 2-hour video's chunk."""
    measured = Measured(RayPool(workers, init_worker, (settings,)))
    try:
        run_batch([video], settings, out_dir=root / "measured", force=True, executor=measured)
        long = long_video_chunk(measured.inner, settings)
    finally:
        measured.shutdown()
    return {
        "chunks": len(measured.sent),
        "sent_median": statistics.median(measured.sent),
        "sent_first": measured.sent[0] + sum(measured.put),  # with the table's one put
        "sent_total": sum(measured.sent) + sum(measured.put),
        "inline_median": statistics.median(measured.inline),  # before: the table with every chunk
        "inline_total": sum(measured.inline),
        "puts": len(measured.put),
        "received_median": statistics.median(measured.received),
        "received_max": max(measured.received),
        "two_hour_video_chunk": long,
    }


def median_row(rows: list[dict[str, Any]]) -> dict[str, float]:
    keys = [key for key in ("wall_s", "fps", "load_1min") if key in rows[0]]
    return {key: statistics.median(row[key] for row in rows) for key in keys}


def warm_and_scheduling(
    video: Path, root: Path, settings: BatchSettings, args: argparse.Namespace
) -> dict[str, Any]:
    """2. and 4.: warm job times (alternated), scheduling cost per empty chunk."""
    results: dict[str, Any] = {}
    warm: dict[str, list[dict[str, Any]]] = {"local": [], "ray": []}
    for round_ in range(args.runs):
        for where in (LOCAL, RAY):
            out = root / where.executor
            row = warm_run(video, out, settings, where)
            warm[where.executor].append(row)
            print(json.dumps({"warm": where.executor, "round": round_, **row}), flush=True)
    outputs = [frames_part(root / name / "minute_tracking.json") for name in ("local", "ray")]
    same = outputs[0] == outputs[1]
    results["warm"] = {name: {"runs": rows, "median": median_row(rows)} for name, rows in warm.items()}
    results["warm_overhead"] = round(
        results["warm"]["ray"]["median"]["wall_s"] / results["warm"]["local"]["median"]["wall_s"] - 1, 4
    )
    results["frames_identical"] = same
    print(json.dumps({"warm_overhead": results["warm_overhead"], "frames_identical": same}), flush=True)

    per_chunk: dict[str, float] = {}
    for where in (LOCAL, RAY):
        pool = start_pool(where, args.workers)
        try:
            per_chunk[where.executor] = round(scheduling(pool, args.workers) * 1000, 3)
        finally:
            pool.shutdown()
    results["scheduling_ms_per_chunk"] = per_chunk
    print(json.dumps({"scheduling_ms_per_chunk": per_chunk}), flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--loops", type=int, default=6)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--engine", default="mediapipe_landmarker")
    parser.add_argument("--skip-cold", action="store_true")
    parser.add_argument("--bytes-only", action="store_true", help="only 5. and 6. (bytes, no timing)")
    parser.add_argument("--json", type=Path, help="default bench/results/ray_overhead[_bytes].json")
    args = parser.parse_args()
    name = "ray_overhead_bytes.json" if args.bytes_only else "ray_overhead.json"
    args.json = args.json or ROOT / "bench" / "results" / name
    results: dict[str, Any] = {"args": vars(args) | {"json": str(args.json)}, "cpus": os.cpu_count()}
    settings = settings_for(args)
    with tempfile.TemporaryDirectory(prefix="vigil-ray-bench-") as work:
        root = Path(work)
        video = looped(SHARED / "media" / "video" / "hamilton_640x360.mp4", args.loops, root / "minute.mp4")
        started = time.perf_counter()
        connect(None)
        results["ray_init_s"] = round(time.perf_counter() - started, 2)
        print(json.dumps({"ray_init_s": results["ray_init_s"]}), flush=True)

        if not args.bytes_only:
            results |= warm_and_scheduling(video, root, settings, args)

        results["bytes_per_chunk"] = bytes_per_chunk(video, root, settings, args.workers)
        print(json.dumps({"bytes_per_chunk": results["bytes_per_chunk"]}), flush=True)

        if not args.skip_cold and not args.bytes_only:
            cold: dict[str, list[dict[str, Any]]] = {"local": [], "ray": []}
            for round_ in range(args.runs):
                for name in ("local", "ray"):
                    row = cold_run(video, root / f"cold_{name}", args, name)
                    cold[name].append(row)
                    print(json.dumps({"cold": name, "round": round_, **row}), flush=True)
            medians = {name: median_row(rows) for name, rows in cold.items()}
            results["cold"] = {name: {"runs": rows, "median": medians[name]} for name, rows in cold.items()}
            results["cold_overhead"] = round(medians["ray"]["wall_s"] / medians["local"]["wall_s"] - 1, 4)
            print(json.dumps({"cold_overhead": results["cold_overhead"]}), flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
