"""Machine load for `/api/system_monitor` (seed 000's STEP5 monitoring): CPU and memory use.

Read from Linux's /proc without extra dependencies; elsewhere the values are None. CPU use is
measured between two readings of /proc/stat: since the previous call when it is recent enough,
otherwise over a short sample.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

SAMPLE_S = 0.1  # the shortest span a CPU percentage is measured over
_PROC = Path("/proc")


@dataclass(frozen=True)
class CpuTimes:
    busy: float
    total: float


@dataclass(frozen=True)
class MachineLoad:
    cpu_percent: float | None  # all cores, 0..100
    cpu_count: int
    load_average: tuple[float, float, float] | None
    memory_percent: float | None
    memory_used_mb: float | None
    memory_total_mb: float | None


def read_cpu_times(proc: Path = _PROC) -> CpuTimes | None:
    try:
        fields = (proc / "stat").read_text().splitlines()[0].split()[1:]
    except (OSError, IndexError):
        return None
    values = [float(v) for v in fields]
    idle = values[3] + (values[4] if len(values) > 4 else 0.0)  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user/nice
    return CpuTimes(busy=total - idle, total=total)


def read_memory(proc: Path = _PROC) -> tuple[float, float] | None:
    """(used MB, total MB): total minus MemAvailable, as `free` counts it."""
    try:
        lines = (proc / "meminfo").read_text().splitlines()
    except OSError:
        return None
    info = {
        line.split(":")[0]: float(line.split()[1]) for line in lines if ":" in line and len(line.split()) > 1
    }
    if "MemTotal" not in info or "MemAvailable" not in info:
        return None
    total = info["MemTotal"] / 1024
    return total - info["MemAvailable"] / 1024, total


def cpu_percent_between(before: CpuTimes, after: CpuTimes) -> float | None:
    span = after.total - before.total
    if span <= 0:
        return None
    return round(min(100.0, max(0.0, (after.busy - before.busy) / span * 100)), 1)


class LoadMonitor:
    """Thread-safe: request handlers run in a thread pool."""

    def __init__(self, proc: Path = _PROC) -> None:
        self._proc = proc
        self._lock = threading.Lock()
        self._last: tuple[float, CpuTimes] | None = None

    def read(self) -> MachineLoad:
        with self._lock:
            now, times = time.monotonic(), read_cpu_times(self._proc)
            previous: CpuTimes | None
            if times is not None and (self._last is None or now - self._last[0] < SAMPLE_S):
                previous = times
                time.sleep(SAMPLE_S)
                now, times = time.monotonic(), read_cpu_times(self._proc)
            else:
                previous = None if self._last is None else self._last[1]
            percent = None
            if times is not None and previous is not None:
                percent = cpu_percent_between(previous, times)
                self._last = (now, times)
        memory = read_memory(self._proc)
        return MachineLoad(
            cpu_percent=percent,
            cpu_count=os.cpu_count() or 1,
            load_average=_load_average(),
            memory_percent=None if memory is None else round(memory[0] / memory[1] * 100, 1),
            memory_used_mb=None if memory is None else round(memory[0], 1),
            memory_total_mb=None if memory is None else round(memory[1], 1),
        )


def _load_average() -> tuple[float, float, float] | None:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return None
    return round(one, 2), round(five, 2), round(fifteen, 2)
