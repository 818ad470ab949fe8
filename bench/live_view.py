"""Live view cost: CPU of `vigil serve` with 0 and then 4 MJPEG viewers, in one run.

A real server process plays the hamilton clip as a looping camera at real pace; its CPU (server
process plus its children, the embedder) is read from /proc over each phase. The viewers are
httpx streams in this process, so their own decoding is not counted. Goal (issue 5): 4 viewers
add at most 10% CPU over the pipeline alone.

    python -m bench.live_view [--seconds 20] [--viewers 4] [--rounds 3]

Phases alternate (alone, watched) `--rounds` times and the median of the rounds' added CPU is the
result: the pipeline's own CPU moves with embedding bursts, so one pair of phases is noisy.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

SHARED = Path(os.environ.get("VIGIL_SHARED_DIR", Path(__file__).resolve().parents[1] / ".." / "shared"))
CLIP = SHARED / "media/video/hamilton_640x360.mp4"
PASSWORD = "bench-password"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` and its live children (the embedder processes)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:  # fields[1] is the parent pid
            total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def login(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=10)
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, "no login form"
    data = {"username": "admin", "password": PASSWORD, "csrf_token": token.group(1)}
    assert client.post("/login", data=data).status_code in (200, 303)
    return client


def viewer(client: httpx.Client, url: str, stop: threading.Event, frames: list[int]) -> None:
    with client.stream("GET", url, timeout=30) as response:
        for chunk in response.iter_bytes():
            frames[0] += chunk.count(b"\xff\xd8\xff")  # JPEG starts
            if stop.is_set():
                return


def measure(pid: int, seconds: float) -> float:
    start_cpu, start = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - start_cpu) / (time.monotonic() - start)


def watch_round(
    client: httpx.Client, pid: int, camera_id: int, args: argparse.Namespace
) -> tuple[float, float, int]:
    """(CPU-s/s alone, CPU-s/s with the viewers, frames the viewers received)."""
    alone = measure(pid, args.seconds)
    stop, frames = threading.Event(), [0]
    url = f"/api/cameras/{camera_id}/live.mjpg"
    threads = [
        threading.Thread(target=viewer, args=(client, url, stop, frames), daemon=True)
        for _ in range(args.viewers)
    ]
    for thread in threads:
        thread.start()
    time.sleep(2)
    counted = frames[0]
    watched = measure(pid, args.seconds)
    delivered = frames[0] - counted
    stop.set()
    for thread in threads:
        thread.join(timeout=10)
    time.sleep(1)  # the server notices the closed streams
    return alone, watched, delivered


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="Length of each phase")
    parser.add_argument("--rounds", type=int, default=3, help="Pairs of phases (alone, watched)")
    parser.add_argument("--viewers", type=int, default=4, help="MJPEG viewers in the second phase")
    args = parser.parse_args()
    port, data = free_port(), Path(tempfile.mkdtemp(prefix="vigil-live-view-"))
    env = {**os.environ, "VIGIL_DATA_DIR": str(data), "VIGIL_WEB__ADMIN_PASSWORD": PASSWORD}
    server = subprocess.Popen(
        [sys.executable, "-m", "vigil", "serve", str(CLIP), "--loop", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if httpx.get(f"{base}/api/health/cameras", timeout=1).json().get("active_streams"):
                    break
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.5)
        client = login(base)
        camera_id = client.get("/api/cameras").json()[0]["id"]
        time.sleep(5)  # warm-up: models loaded, tracks running
        rounds = [watch_round(client, server.pid, camera_id, args) for _ in range(args.rounds)]
    finally:
        server.terminate()
        server.wait(timeout=30)
    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    for i, (alone, watched, frames) in enumerate(rounds, 1):
        print(
            f"round {i}: pipeline alone {alone:.3f} CPU-s/s, with {args.viewers} MJPEG viewers "
            f"{watched:.3f} CPU-s/s ({100 * (watched - alone) / alone:+.1f}%), "
            f"{frames} frames delivered ({frames / args.seconds:.1f}/s)"
        )
    added = statistics.median(100 * (w - a) / a for a, w, _ in rounds)
    total_alone = sum(a for a, _, _ in rounds)
    pooled = 100 * (sum(w for _, w, _ in rounds) - total_alone) / total_alone
    print(f"added CPU: median {added:+.1f}%, pooled {pooled:+.1f}% (goal ≤ +10%)")


if __name__ == "__main__":
    main()
