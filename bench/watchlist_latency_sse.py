"""Face -> alert latency as an operator's browser sees it: a real `vigil serve` with N real-time
cameras of the hamilton clip (lin_manuel_miranda enrolled), and two SSE clients.

Latency = the wall time `/api/alerts/stream` delivers a track's first alert to this client minus
the `ts` of that track's `track_started` event read from `/api/events` (the wall time its first
frame was released by the real-time player: when a camera would have shown it). The cooldown is set
to 0 so that every track raises its own alert instead of joining its camera's. Tracks end at shot
cuts, so a track's first frame is where the face first shows (bench.watchlist_latency measures the
same up to the monitor, without the web hop).

    python -m bench.watchlist_latency_sse --cameras 1 8 --seconds 30 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx

from bench.watchlist_latency import CLIP, enrol, quantiles

Key = tuple[str, int]
ALERTS = ("watchlist_alert", "watchlist_alert_upgraded")  # a track's first alert is one of these


class StreamReader(threading.Thread):
    """Reads one SSE stream; records (camera, track) -> (wall time received, event)."""

    def __init__(self, base: str, token: str, path: str, wanted: tuple[str, ...]) -> None:
        super().__init__(daemon=True)
        self.base, self.token, self.path, self.wanted = base, token, path, wanted
        self.seen: dict[Key, tuple[float, dict[str, object]]] = {}
        self.connected = threading.Event()

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            with (
                httpx.Client(base_url=self.base, headers=headers, timeout=None) as client,
                client.stream("GET", self.path) as stream,
            ):
                for line in stream.iter_lines():
                    self._line(line)
        except httpx.HTTPError:
            pass  # the server stopped

    def _line(self, line: str) -> None:
        received = time.time()
        if line == ": connected":
            self.connected.set()
        elif line.startswith("data: "):
            event = json.loads(line[6:])
            body = event.get("alert", event)  # alert messages carry the alert in `alert`
            key = (str(body.get("camera")), int(body.get("track_id", -1)))
            if event.get("type") in self.wanted and key not in self.seen:
                self.seen[key] = (received, body)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(path: Path, cameras: int) -> None:
    lines = ["cameras:"]
    for i in range(cameras):
        lines += [f"  - url: {json.dumps(str(CLIP))}", f"    name: cam{i}", "    loop: true"]
    path.write_text("\n".join(lines) + "\n")


def wait_up(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("vigil serve exited; see its log")
        try:
            if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit("vigil serve did not answer within 90 s")


def api_key(env: dict[str, str], cwd: Path) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "vigil", "keys", "create", "bench", "--user", "admin"],
        env=env, cwd=cwd, check=True, capture_output=True, text=True,
    )  # fmt: skip
    tokens = [word for word in out.stdout.split() if len(word) > 30]
    if not tokens:
        raise SystemExit(f"no token in: {out.stdout}")
    return tokens[-1]


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def run(cameras: int, seconds: float, data_dir: Path, log: Path) -> list[float]:
    """Latencies (s) of each track's first alert, from the track's first frame to this client."""
    config = data_dir / f"cameras{cameras}.yaml"
    write_config(config, cameras)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "VIGIL_DATA_DIR": str(data_dir),
        "VIGIL_WEB__ADMIN_PASSWORD": "bench-latency-pw",
        "VIGIL_WATCHLIST__COOLDOWN_S": "0",  # every track its own alert (no joining a camera's open one)
    }
    with log.open("a") as out:
        command = [sys.executable, "-m", "vigil", "serve", "--port", str(port), "--config", str(config)]
        process = subprocess.Popen(command, env=env, cwd=data_dir, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_up(base, process)
        token = api_key(env, data_dir)
        tracks = StreamReader(base, token, "/api/events", ("track_started",))
        alerts = StreamReader(base, token, "/api/alerts/stream", ALERTS)
        for reader in (tracks, alerts):
            reader.start()
            reader.connected.wait(30)
        time.sleep(seconds)
    finally:
        process.terminate()
        process.wait(timeout=60)
    if not alerts.seen:
        print(f"cameras {cameras}: {len(tracks.seen)} tracks, no alert; log: {log.read_text()[-2000:]}")
    return [
        received - epoch(str(tracks.seen[key][1]["ts"]))
        for key, (received, _) in alerts.seen.items()
        if key in tracks.seen
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cameras", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        os.chmod(data_dir, 0o700)
        enrol(data_dir)
        log = data_dir / "serve.log"
        results: dict[int, list[tuple[float, float]]] = {n: [] for n in args.cameras}
        for repeat in range(args.repeats):
            for n in args.cameras:  # alternated, so drifting load hits every count alike
                latencies = run(n, args.seconds, data_dir, log)
                p50, p95 = quantiles(latencies)
                results[n].append((p50, p95))
                print(
                    f"repeat {repeat + 1} cameras {n}: alerts {len(latencies)}; p50 {p50 * 1000:.0f} ms "
                    f"p95 {p95 * 1000:.0f} ms (max {max(latencies, default=float('nan')) * 1000:.0f}); "
                    f"load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
    for n, rows in results.items():
        p50 = statistics.median(r[0] for r in rows) * 1000
        p95 = statistics.median(r[1] for r in rows) * 1000
        print(f"cameras {n}: median of {len(rows)} runs: p50 {p50:.0f} ms, p95 {p95:.0f} ms")


if __name__ == "__main__":
    main()
