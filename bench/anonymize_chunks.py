"""Chunked rendering (issue 17 item 6): `vigil anonymize` at 720p, faces + clothes `recolor`, with
1 and 2 workers, and its peak memory on a short and a 4x longer file.

    .venv/bin/python -m bench.anonymize_chunks [--runs 3] [--clips hamilton_640x360.mp4 ...]

1. Speed: each clip scaled to 1280x720 with ffmpeg (H.264 crf 18, audio copied) in a temporary
   folder; then `runs` rounds, each running the whole command (`python -m vigil anonymize
   --workers N --force`, persons style from `VIGIL_ANONYMIZE__PERSONS__STYLE`) with 1 then 2
   workers (alternated, so load changes hit both alike). Per run: wall time of the command
   (process start, models, face pass, rendering), the sidecar's face-pass and rendering times,
   CPU time and peak RSS of the largest process (`/usr/bin/time`), the 1-minute load average
   before it. Medians over the runs; fps = frames / time.
2. Memory: the first clip at 720p joined 4 times end to end (ffmpeg concat, stream copy), run
   once with 2 workers like the short one: peak RSS of the largest process, short vs long.
Also checks that the 1- and 2-worker outputs are byte-identical. Results: JSON lines on stdout
and `--json` (default bench/results/anonymize_chunks.json).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VIGIL_SHARED_DIR", ROOT.parent / "shared")).resolve()
CLIPS = ("hamilton_640x360.mp4", "expressions_640x360.mp4")
MEDIANS = ("wall_s", "fps", "faces_s", "render_s", "render_fps", "cpu_s", "peak_rss_mb")


def scaled(source: Path, target: Path) -> Path:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(source), "-vf", "scale=1280:720", "-c:v", "libx264",
         "-crf", "18", "-preset", "veryfast", "-c:a", "copy", str(target)],
        check=True,
    )  # fmt: skip
    return target


def looped(source: Path, times: int, target: Path) -> Path:
    listing = target.with_suffix(".txt")
    listing.write_text("".join(f"file '{source}'\n" for _ in range(times)), encoding="utf-8")
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing),
         "-c", "copy", str(target)],
        check=True,
    )  # fmt: skip
    return target


def run(video: Path, out: Path, workers: int, style: str) -> dict[str, Any]:
    env = dict(os.environ, VIGIL_ANONYMIZE__PERSONS__STYLE=style, VIGIL_SHARED_DIR=str(SHARED))
    env.setdefault("VIGIL_TRACK__MODELS_DIR", str(SHARED / "models"))
    out.mkdir(parents=True, exist_ok=True)
    stats = out / f"time_{workers}.txt"
    load = os.getloadavg()[0]
    started = time.perf_counter()
    subprocess.run(
        ["/usr/bin/time", "-f", "%M %U %S", "-o", str(stats), sys.executable, "-m", "vigil", "anonymize",
         str(video), "--out-dir", str(out), "--workers", str(workers), "--force"],
        check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wall = time.perf_counter() - started
    rss_kb, user, system = stats.read_text(encoding="utf-8").split()[-3:]
    sidecar = json.loads((out / f"{video.stem}_anonymized.json").read_text(encoding="utf-8"))
    frames = sidecar["frames"]
    output = out / f"{video.stem}_anonymized.mp4"
    return {
        "frames": frames,
        "wall_s": round(wall, 2),
        "fps": round(frames / wall, 1),
        "faces_s": sidecar["timings"]["faces_s"],
        "render_s": sidecar["timings"]["render_s"],
        "render_fps": sidecar["timings"]["render_fps"],
        "cpu_s": round(float(user) + float(system), 1),
        "peak_rss_mb": round(int(rss_kb) / 1024),
        "load_before": round(load, 2),
        "sha256": hashlib.sha256(output.read_bytes()).hexdigest()[:16],
    }


def median(rows: list[dict[str, Any]], key: str) -> float:
    return round(statistics.median(float(row[key]) for row in rows), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", nargs="+", default=list(CLIPS))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--style", default="recolor", help="anonymize.persons.style")
    parser.add_argument("--no-memory", action="store_true", help="skip the 4x longer file")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "anonymize_chunks.json")
    args = parser.parse_args()
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="vigil-bench-chunks-") as work:
        tmp = Path(work)
        clips = [
            scaled(SHARED / "media" / "video" / name, tmp / f"{Path(name).stem}_720p.mp4")
            for name in args.clips
        ]
        for clip in clips:
            rows: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
            for _ in range(args.runs):
                for workers in (1, 2):
                    row = run(clip, tmp / f"out_{workers}", workers, args.style)
                    rows[workers].append(row)
                    print(json.dumps({"clip": clip.name, "workers": workers, **row}), flush=True)
            for workers, done in rows.items():
                summary = {
                    "clip": clip.name,
                    "style": args.style,
                    "workers": workers,
                    "runs": len(done),
                    "frames": done[0]["frames"],
                    **{f"median_{key}": median(done, key) for key in MEDIANS},
                    "loads": [row["load_before"] for row in done],
                    "identical_outputs": len({row["sha256"] for row in rows[1] + rows[2]}) == 1,
                }  # fmt: skip
                results.append(summary)
                print(json.dumps(summary), flush=True)
        if not args.no_memory:
            long = looped(clips[0], 4, tmp / f"{clips[0].stem}_x4.mp4")
            for video in (clips[0], long):
                row = run(video, tmp / "out_memory", 2, args.style)
                memory = {"memory": video.name, "workers": 2, **row}
                results.append(memory)
                print(json.dumps(memory), flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
