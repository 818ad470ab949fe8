"""Live cost of activity analysis per camera (issue 18: <= 15% of one core at 720p),
`python -m bench.activity_live [--seconds 30] [--runs 3] [--clip PATH]`.

One camera plays a 720p file at real-time pace (a shared activity clip scaled to 1280x720 and
looped, made with ffmpeg in a temporary folder) through the whole live pipeline (decode, motion
gate, faces, tracking, embedding), with `activity: true` and without it, alternated `--runs` times
in the same minutes so that the machine's load hits both alike. CPU is this process's (every
thread, FFmpeg's too) plus the embedding children's, over the same stream time. The activity cost
is the difference; the camera's total cost with activity on is reported too. Results: JSON lines,
also written to `--json` (default bench/results/activity_live.json)."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
from pathlib import Path

from bench.live import children_cpu, probe, process_cpu, shared_dir
from vigil.config import CameraConfig, load_settings
from vigil.embed import create_embedder
from vigil.live.events import MemorySink
from vigil.live.supervisor import Supervisor

DEFAULT_CLIP = "media/activity/busy/sam2_default_juggle.mp4"


def scaled_loop(source: Path, folder: Path, seconds: float) -> Path:
    """The clip at 1280x720, looped to at least `seconds` (the camera also loops it)."""
    target = folder / f"{source.stem}_720p.mp4"
    loops = max(1, int(seconds // max(probe(source, "src").duration_s, 1.0)) + 1)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-stream_loop", str(loops - 1), "-i", str(source),
         "-vf", "scale=1280:720", "-c:v", "libx264", "-crf", "20", "-preset", "veryfast",
         "-c:a", "copy", str(target)],
        check=True,
    )  # fmt: skip
    return target


def one_run(clip: Path, activity: bool, seconds: float, data_dir: Path) -> dict[str, float]:
    settings = load_settings(shared_dir=shared_dir(), data_dir=data_dir, realtime=True)
    camera = CameraConfig(url=str(clip), name="c0", loop=True, activity=activity)
    embedder = create_embedder(settings.embedder, settings.use_gpu, settings.runtime.embed_processes)
    supervisor = Supervisor(settings, [camera], [MemorySink()], embedder=embedder)
    cpu0, children0 = process_cpu(), children_cpu()
    supervisor.start()
    supervisor.wait(duration_s=seconds)
    cpu = process_cpu() - cpu0 + children_cpu() - children0
    stream_s = float(supervisor.status()["c0"].counters.stream_s)
    embedder.close()
    return {"cpu_s": cpu, "stream_s": stream_s, "core_share": cpu / max(stream_s, 1e-9)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=shared_dir() / DEFAULT_CLIP)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, default=Path("bench/results/activity_live.json"))
    args = parser.parse_args()
    lines: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        clip = scaled_loop(args.clip, Path(tmp), args.seconds)
        shares: dict[bool, list[float]] = {False: [], True: []}
        for run in range(args.runs):
            for activity in (False, True):
                result = one_run(clip, activity, args.seconds, Path(tmp) / f"data{run}{activity}")
                shares[activity].append(result["core_share"])
                line: dict[str, object] = {"run": run, "activity": activity}
                line.update({k: round(v, 3) for k, v in result.items()}, load_average=os.getloadavg()[0])
                print(json.dumps(line), flush=True)
                lines.append(line)
    off, on = statistics.median(shares[False]), statistics.median(shares[True])
    summary = {"clip": args.clip.name, "size": "1280x720", "camera_off_pct": round(100 * off, 1),
               "camera_on_pct": round(100 * on, 1), "activity_pct": round(100 * (on - off), 1),
               "runs": args.runs, "seconds": args.seconds, "cpus": os.cpu_count()}  # fmt: skip
    print(json.dumps(summary))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text("\n".join(json.dumps(x) for x in [*lines, summary]) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
