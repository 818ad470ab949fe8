"""Face -> alert latency: N real-time cameras of the hamilton clip with lin_manuel_miranda enrolled.

Latency = wall time the watchlist monitor's listener receives a track's first alert event minus the
wall time of the track's first frame (`track_started.ts`: the frame's decode time, which in
real time is when the frame was due). Measured up to the monitor's listener: the SSE/WebSocket hop
to a browser is not included.

    python -m bench.watchlist_latency --cameras 1 8 --seconds 30 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

from vigil.config import CameraConfig, load_settings
from vigil.live.events import PipelineEvent, TrackStarted
from vigil.live.supervisor import Supervisor
from vigil.watchlist.monitor import AlertEvent
from vigil.watchlist.service import Watchlist, live_monitor, read_photos

SHARED = Path(os.environ.get("VIGIL_SHARED_DIR", Path(__file__).resolve().parents[1] / ".." / "shared"))
CLIP = SHARED / "media" / "video" / "hamilton_640x360.mp4"
PERSON = "lin_manuel_miranda"


class LatencyListener:
    """Sink and monitor listener: each track's start time, and when its first alert arrived."""

    def __init__(self) -> None:
        self.started: dict[tuple[str, int], float] = {}
        self.latencies_s: list[float] = []
        self._alerted: set[tuple[str, int]] = set()
        self._lock = threading.Lock()

    def handle(self, event: PipelineEvent) -> None:
        received = time.time()
        key = (event.camera, event.track_id)
        with self._lock:
            if isinstance(event, TrackStarted):
                self.started[key] = event.ts
            elif isinstance(event, AlertEvent) and key not in self._alerted and key in self.started:
                self._alerted.add(key)
                self.latencies_s.append(received - self.started[key])

    def close(self) -> None:
        pass


def run(cameras: int, seconds: float, data_dir: Path) -> tuple[list[float], int, int]:
    """Latencies (s), first faces dropped and embedding requests over all cameras."""
    settings = load_settings(shared_dir=SHARED, realtime=True, data_dir=data_dir)
    listener = LatencyListener()
    monitor = live_monitor(settings, "dlib_resnet_v1", listeners=[listener])
    configs = [CameraConfig(url=str(CLIP), name=f"cam{i}", loop=True) for i in range(cameras)]
    supervisor = Supervisor(settings, configs, [listener, monitor])
    supervisor.start()
    supervisor.wait(duration_s=seconds)
    monitor.close()
    counters = [status.counters for status in supervisor.status().values()]
    dropped = sum(c.embed_dropped_first for c in counters)
    return listener.latencies_s, dropped, sum(c.embed_requests for c in counters)


def enrol(data_dir: Path) -> None:
    settings = load_settings(shared_dir=SHARED, data_dir=data_dir)
    watchlist = Watchlist.open(settings)
    try:
        photos = sorted((SHARED / "media" / "faces" / "people" / PERSON).iterdir())
        watchlist.enrol(PERSON, read_photos(photos))
    finally:
        watchlist.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cameras", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        enrol(data_dir)
        results: dict[int, list[tuple[float, float, int, int, int]]] = {n: [] for n in args.cameras}
        for repeat in range(args.repeats):
            for n in args.cameras:  # alternated, so drifting load hits every count alike
                latencies, dropped, requests = run(n, args.seconds, data_dir)
                p50 = statistics.median(latencies) if latencies else float("nan")
                p95 = percentile(latencies, 0.95) if latencies else float("nan")
                results[n].append((p50, p95, len(latencies), dropped, requests))
                print(
                    f"repeat {repeat + 1} cameras {n}: alerts {len(latencies)} p50 {p50 * 1000:.0f} ms "
                    f"p95 {p95 * 1000:.0f} ms first faces dropped {dropped}/{requests} "
                    f"load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
    for n, rows in results.items():
        p50 = statistics.median(r[0] for r in rows)
        p95 = statistics.median(r[1] for r in rows)
        print(f"cameras {n}: median of {len(rows)} runs: p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms")


if __name__ == "__main__":
    main()
