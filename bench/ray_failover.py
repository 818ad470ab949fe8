"""Cameras on Ray (issue 19): camera failover time when a node dies, over repeated kills.

    .venv/bin/python -m bench.ray_failover [--rounds 10] [--cameras 4]

A real local Ray cluster (tests/ray_cluster.py: a head and one worker node, 1 CPU each, its own
temporary folder, stopped at the end) and a PostgreSQL from pgserver (bench/pg.py). Each round:
1. `cameras` looping copies of hamilton (360p, 2 fps analysed) start as camera actors
   (`ClusterCameras`, as `vigil serve --cluster` runs them; 0.25 CPU each, SPREAD over the nodes)
   and are waited for until each has analysed a frame;
2. the worker node is killed (SIGKILL of its raylet, workers and other daemons: a machine lost);
3. for each camera that was on it, the failover time is from the kill to the first report of its
   new run (restarted by Ray on the head node) that has analysed a frame, polled every 0.1 s;
4. the cameras are stopped and a new worker node joins for the next round.
Cameras are checked by the server every 0.2 s (cluster.check_period_s). The GCS declares a node
dead after 3 missed health checks of 1 s (tests/ray_cluster.py's system config; Ray's defaults
take longer, see docs/ray.md). Results: JSON lines on stdout and `--json`
(default bench/results/ray_failover.json): every camera's time, median, p95, max.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.pg import postgres_url
from tests.ray_cluster import RayCluster, start_cluster  # run from the repository's root (-m)
from vigil.cluster.cameras import ClusterCameras, RemoteCamera
from vigil.config import CameraConfig, load_settings
from vigil.jobs.ray_pool import import_ray
from vigil.store.repository import IdentityStore

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VIGIL_SHARED_DIR", ROOT.parent / "shared")).resolve()
HAMILTON = SHARED / "media" / "video" / "hamilton_640x360.mp4"


def analysing(camera: RemoteCamera) -> bool:
    return camera.placement is not None and camera.status().counters.frames_sampled > 0


def wait_until(what: str, condition: Any, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.1)


def one_round(cameras: ClusterCameras, cluster: RayCluster, count: int) -> list[tuple[float, float, float]]:
    """Per moved camera: (kill to analysing again, kill to its restart's constructor, constructor)."""
    remotes = [
        cameras.build(f"cam{i}", CameraConfig(url=str(HAMILTON), name=f"cam{i}", loop=True, fps=2.0))
        for i in range(count)
    ]
    for remote in remotes:
        remote.start()
    try:
        wait_until("cameras analysing", lambda: all(analysing(c) for c in remotes), 180)
        head = next(n["NodeID"] for n in import_ray().nodes() if n["Alive"] and _is_head(n))
        moved = [c for c in remotes if c.placement is not None and c.placement.node_id != head]
        runs = {c.name: c.placement.run for c in moved if c.placement is not None}
        killed, killed_wall = time.monotonic(), time.time()
        cluster.kill_worker_node()
        times: dict[str, float] = {}
        parts: dict[str, tuple[float, float]] = {}  # restart began after the kill, constructor time
        while len(times) < len(moved):
            for camera in moved:
                placement = camera.placement
                if camera.name in times or placement is None or placement.run == runs[camera.name]:
                    continue
                if analysing(camera):
                    times[camera.name] = time.monotonic() - killed
                    parts[camera.name] = (placement.started_at - killed_wall, placement.init_s)
            if time.monotonic() - killed > 120:
                raise TimeoutError(f"failover: only {sorted(times)} of {[c.name for c in moved]}")
            time.sleep(0.1)
        return [(times[name], *parts[name]) for name in times]
    finally:
        for remote in remotes:
            remote.stop()
        for remote in remotes:
            remote.join(10)


def _is_head(node: dict[str, Any]) -> bool:
    return bool(node.get("Resources", {}).get("node:__internal_head__"))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "ray_failover.json")
    args = parser.parse_args()
    times: list[float] = []
    restarts: list[float] = []  # kill -> the new actor's constructor began
    inits: list[float] = []  # the constructor's own time
    with tempfile.TemporaryDirectory(prefix="rf") as tmp, postgres_url(Path(tmp)) as url:
        cluster = start_cluster(worker_nodes=1)
        try:
            settings = load_settings(
                data_dir=Path(tmp) / "data",
                shared_dir=SHARED,
                store={"url": url},
                runtime={"embed_processes": 0},
                cluster={"ray_address": cluster.address, "camera_cpus": 0.25, "check_period_s": 0.2},
            )
            IdentityStore.open(settings).close()  # the schema, before the actors connect
            cameras = ClusterCameras(settings, url, lambda model: [])
            for round_no in range(args.rounds):
                load = os.getloadavg()[0]
                got = one_round(cameras, cluster, args.cameras)
                times += [t for t, _, _ in got]
                restarts += [r for _, r, _ in got]
                inits += [i for _, _, i in got]
                line = {
                    "round": round_no,
                    "failover_restart_init_s": [[round(x, 2) for x in g] for g in got],
                    "load1": load,
                }
                print(json.dumps(line))
                cluster.add_worker_node()
            cameras.close()
        finally:
            import_ray().shutdown()
            cluster.stop()
    ordered = sorted(times)
    summary = {
        "rounds": args.rounds,
        "cameras": args.cameras,
        "moved_cameras": len(times),
        "failover_s": [round(t, 2) for t in times],
        "median_s": round(statistics.median(times), 2),
        "p95_s": round(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))], 2),
        "max_s": round(ordered[-1], 2),
        "restart_began_median_s": round(statistics.median(restarts), 2),
        "constructor_median_s": round(statistics.median(inits), 2),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(summary))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
