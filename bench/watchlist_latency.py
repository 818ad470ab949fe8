"""Face -> alert latency: N real-time cameras of the hamilton clip with lin_manuel_miranda enrolled.

Latency = wall time the watchlist monitor's listener receives a track's first alert event minus the
wall time of the frame where the enrolled face first appears on that track: the track's first frame
(`track_started.ts`: the frame's decode time, which in real time is when the frame was due), or,
when the track began on someone else before a cut (trackers keep ids across cuts: hamilton's track
4 starts on an audience face and goes on on Lin's close-up), the first frame of the shot where Lin
is on screen (`LIN_ON_SCREEN`, clip times seen by eye). Both are printed: from the track's start
(the definition of the first runs) and from the face's appearance (the issue's). Measured up to the
monitor's listener: the SSE/WebSocket hop to a browser is not included.

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

import av

from vigil.config import CameraConfig, load_settings
from vigil.live.events import PipelineEvent, TrackStarted
from vigil.live.supervisor import Supervisor
from vigil.watchlist.monitor import AlertEvent
from vigil.watchlist.service import Watchlist, live_monitor, read_photos

SHARED = Path(os.environ.get("VIGIL_SHARED_DIR", Path(__file__).resolve().parents[1] / ".." / "shared"))
CLIP = SHARED / "media" / "video" / "hamilton_640x360.mp4"
PERSON = "lin_manuel_miranda"
# Where Lin is on screen, in clip seconds as the pipeline counts them (from the first frame): on
# stage, then in close-up after a cut (checked on the frames; bench.watchlist_accuracy --trace).
LIN_ON_SCREEN = [(0.0, 0.7), (2.7, 7.1)]


def loop_period(clip: Path, fps: float) -> float:
    """Stream seconds one loop adds to pts (`vigil.live.decode`: last frame + one sample interval)."""
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        base = stream.time_base
        assert base is not None
        times = [float(p.pts * base) for p in container.demux(stream) if p.pts is not None]
    return max(times) - min(times) + 1.0 / fps


def appeared_at(track_start_pts: float, alert_pts: float, period: float) -> float:
    """The pts where the alerting face first showed on its track (the shot's start, or the track's)."""
    clip_time = alert_pts % period
    start = next((a for a, b in LIN_ON_SCREEN if a <= clip_time <= b), clip_time)
    return max(track_start_pts, alert_pts - clip_time + start)


class LatencyListener:
    """Sink and monitor listener: each track's start time, and when its first alert arrived."""

    def __init__(self, period: float) -> None:
        self.period = period
        self.started: dict[tuple[str, int], tuple[float, float]] = {}  # wall ts, pts
        self.latencies_s: list[float] = []  # from the track's first frame
        self.face_latencies_s: list[float] = []  # from the face's appearance
        self._alerted: set[tuple[str, int]] = set()
        self._lock = threading.Lock()

    def handle(self, event: PipelineEvent) -> None:
        received = time.time()
        key = (event.camera, event.track_id)
        with self._lock:
            if isinstance(event, TrackStarted):
                self.started[key] = (event.ts, event.pts)
            elif isinstance(event, AlertEvent) and key not in self._alerted and key in self.started:
                self._alerted.add(key)
                start_ts, start_pts = self.started[key]
                self.latencies_s.append(received - start_ts)
                appeared = appeared_at(start_pts, event.pts, self.period)
                self.face_latencies_s.append(received - (start_ts + appeared - start_pts))

    def close(self) -> None:
        pass


def run(cameras: int, seconds: float, data_dir: Path) -> tuple[LatencyListener, int, int]:
    """Latencies (s), first faces dropped and embedding requests over all cameras."""
    settings = load_settings(shared_dir=SHARED, realtime=True, data_dir=data_dir)
    listener = LatencyListener(loop_period(CLIP, settings.analysis_fps))
    monitor = live_monitor(settings, "dlib_resnet_v1", listeners=[listener])
    configs = [CameraConfig(url=str(CLIP), name=f"cam{i}", loop=True) for i in range(cameras)]
    supervisor = Supervisor(settings, configs, [listener, monitor])
    supervisor.start()
    supervisor.wait(duration_s=seconds)
    monitor.close()
    counters = [status.counters for status in supervisor.status().values()]
    dropped = sum(c.embed_dropped_first for c in counters)
    return listener, dropped, sum(c.embed_requests for c in counters)


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
        results: dict[int, list[tuple[float, float, float, float]]] = {n: [] for n in args.cameras}
        for repeat in range(args.repeats):
            for n in args.cameras:  # alternated, so drifting load hits every count alike
                listener, dropped, requests = run(n, args.seconds, data_dir)
                row = (*quantiles(listener.latencies_s), *quantiles(listener.face_latencies_s))
                results[n].append(row)
                print(
                    f"repeat {repeat + 1} cameras {n}: alerts {len(listener.latencies_s)}; from track start "
                    f"p50 {row[0] * 1000:.0f} ms p95 {row[1] * 1000:.0f} ms; from the face's appearance "
                    f"p50 {row[2] * 1000:.0f} ms p95 {row[3] * 1000:.0f} ms; first faces dropped "
                    f"{dropped}/{requests} requests; load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
    for n, rows in results.items():
        medians = [statistics.median(r[i] for r in rows) * 1000 for i in range(4)]
        print(
            f"cameras {n}: median of {len(rows)} runs: from track start p50 {medians[0]:.0f} ms, p95 "
            f"{medians[1]:.0f} ms; from the face's appearance p50 {medians[2]:.0f} ms, "
            f"p95 {medians[3]:.0f} ms"
        )


def quantiles(values: list[float]) -> tuple[float, float]:
    if not values:
        return float("nan"), float("nan")
    return statistics.median(values), percentile(values, 0.95)


if __name__ == "__main__":
    main()
