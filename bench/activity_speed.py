"""File analysis speed (issue 18: >= 10x real time on a 360p clip with 2 workers),
`python -m bench.activity_speed`.

A 360p clip of about a minute is made by looping expressions_640x360.mp4 (ffmpeg stream copy, in a
temporary folder), then, alternated in the same minutes, `--repeat` times each: decode only
(PyAV, every frame to BGR at the sampling times, as the analysis decodes), and `vigil activity
analyse` in a new process with 1 and 2 workers (model loading and worker start included, as a
user pays them). Prints the median wall time of each, the ratio to real time, the CPU time of each
analysis (the command and its worker processes: what a busy machine cannot hide) and the load
average.
Results: JSON lines, also written to `--json` (default bench/results/activity_speed.json).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av

SHARED = Path(
    os.environ.get("VIGIL_SHARED_DIR", Path(__file__).resolve().parents[1] / ".." / "shared")
).resolve()
SOURCE = SHARED / "media" / "video" / "expressions_640x360.mp4"


def looped(source: Path, loops: int, folder: Path) -> Path:
    target = folder / f"{source.stem}_x{loops}.mp4"
    cmd = [
        "ffmpeg",
        "-v",
        "error",
        "-stream_loop",
        str(loops - 1),
        "-i",
        str(source),
        "-c",
        "copy",
        str(target),
    ]
    subprocess.run(cmd, check=True)
    return target


def duration_of(path: Path) -> float:
    with av.open(str(path)) as container:
        return float((container.duration or 0) / av.time_base)


def decode_only(path: Path, interval_s: float) -> float:
    started = time.perf_counter()
    next_t = 0.0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            if frame.time is not None and frame.time >= next_t:
                frame.to_ndarray(format="bgr24")
                next_t += interval_s
    return time.perf_counter() - started


def analyse(path: Path, workers: int, out: Path) -> tuple[float, float]:
    """Wall seconds, and CPU seconds (user + system) of the command and its worker processes."""
    started = time.perf_counter()
    cpu_before = _children_cpu()
    cmd = [
        sys.executable,
        "-m",
        "vigil",
        "activity",
        "analyse",
        str(path),
        "--workers",
        str(workers),
        "--json",
        str(out),
    ]
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - started, _children_cpu() - cpu_before


def _children_cpu() -> float:
    """Waited-for descendants' CPU time: the command's, its workers' included (it joins them)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", type=int, default=3, help="copies of the 19.7 s clip")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=Path("bench/results/activity_speed.json"))
    args = parser.parse_args()
    interval = 0.5
    with tempfile.TemporaryDirectory() as folder:
        clip = looped(SOURCE, args.loops, Path(folder))
        seconds = duration_of(clip)
        times: dict[str, list[float]] = {"decode": [], "workers_1": [], "workers_2": []}
        cpu: dict[str, list[float]] = {"workers_1": [], "workers_2": []}
        for _ in range(args.repeat):
            times["decode"].append(decode_only(clip, interval))
            for workers in (1, 2):
                wall, used = analyse(clip, workers, Path(folder) / f"w{workers}.json")
                times[f"workers_{workers}"].append(wall)
                cpu[f"workers_{workers}"].append(used)
        segments = {k: json.loads((Path(folder) / f"w{k}.json").read_text())["segments"] for k in (1, 2)}
    rows = []
    for name, values in times.items():
        median = statistics.median(values)
        rows.append(
            {
                "run": name,
                "clip_s": round(seconds, 2),
                "median_s": round(median, 2),
                "x_real_time": round(seconds / median, 1),
                "runs": [round(v, 2) for v in values],
            }
            | ({"cpu_s": [round(v, 2) for v in cpu[name]]} if name in cpu else {})
        )
    rows.append(
        {
            "same_segments_1_and_2_workers": segments[1] == segments[2],
            "load_average": os.getloadavg(),
            "cpus": os.cpu_count(),
        }
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    for row in rows:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
