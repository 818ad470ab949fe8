"""A real 2-node Ray cluster on this machine for the Ray tests: `ray start --head` plus
`ray start --address` (one CPU each), started by the tests and stopped at the end.

Only this cluster's processes are stopped (never `ray stop`, which would kill every Ray process of
the user on the box: CI or another developer may run Ray at the same time). Its processes are the
ones whose command line names its own temporary folder (Ray's daemons: GCS, raylets, agents, log
monitors), and their descendants (the worker processes, whose command lines Ray rewrites). A node's
own processes are the ones `ray start` for that node added. The ports are free ports picked here,
so a second cluster on the box does not collide with this one."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

RAY = Path(sys.executable).with_name("ray")
OBJECT_STORE_BYTES = 100 * 1024 * 1024
# The GCS declares a node dead after this many missed health checks of this period: fast enough
# for a test that kills a node mid-job (Ray's defaults take ~15-30 s).
SYSTEM_CONFIG = '{"health_check_period_ms": 1000, "health_check_failure_threshold": 3}'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _parents() -> dict[int, int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def _with_descendants(roots: set[int]) -> set[int]:
    parents = _parents()
    found = set(roots) & parents.keys()
    grew = True
    while grew:
        children = {pid for pid, parent in parents.items() if parent in found} - found
        found |= children
        grew = bool(children)
    return found


def _kill(pids: set[int], timeout_s: float = 10.0) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + (timeout_s if sig == signal.SIGTERM else 5.0)
        while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
            time.sleep(0.1)


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists() and not _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@dataclass
class RayCluster:
    temp_dir: Path
    port: int
    env: dict[str, str]
    client_port: int = field(default_factory=free_port)  # Ray Client's server on the head (ray://)
    workers: list[set[int]] = field(default_factory=list)  # per worker node: its daemons

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def client_address(self) -> str:
        """The head's Ray Client address: a driver that is not on a node connects through it."""
        return f"ray://127.0.0.1:{self.client_port}"

    def daemons(self) -> set[int]:
        """This cluster's daemons: their command lines name its folder (workers' do not)."""
        marker = str(self.temp_dir)
        pids = (int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit())
        return {pid for pid in pids if marker in _cmdline(pid)}

    def own_processes(self) -> set[int]:
        """Every live process of this cluster (daemons and their descendants)."""
        return _with_descendants(self.daemons())

    def start_head(self) -> None:
        self._ray_start(
            "--head",
            f"--port={self.port}",
            f"--ray-client-server-port={self.client_port}",
            f"--temp-dir={self.temp_dir}",
            f"--dashboard-agent-listen-port={free_port()}",
            f"--system-config={SYSTEM_CONFIG}",
        )

    def add_worker_node(self) -> None:
        before = self.daemons()
        self._ray_start(f"--address={self.address}", f"--dashboard-agent-listen-port={free_port()}")
        self.workers.append(self.daemons() - before)

    def kill_worker_node(self, index: int = -1) -> None:
        """SIGKILL a worker node's raylet, its workers and its other daemons (a machine lost)."""
        daemons = self.workers.pop(index)
        pids = _with_descendants(daemons)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def cut_off_worker_node(self, index: int = -1) -> None:
        """SIGSTOP a worker node's daemons (its raylet and agents) but not its worker processes: the
        node no longer answers the GCS, which declares it dead, while its actors' processes go on
        running (a network partition, as the rest of the cluster sees it). `kill_worker_node`
        ends it (SIGKILL also ends stopped processes)."""
        for pid in self.workers[index]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)

    def stop(self) -> None:
        _kill(self.own_processes())
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def _ray_start(self, *args: str) -> None:
        command = [
            str(RAY),
            "start",
            *args,
            "--num-cpus=1",
            "--node-ip-address=127.0.0.1",
            f"--object-store-memory={OBJECT_STORE_BYTES}",
            f"--node-manager-port={free_port()}",
            f"--object-manager-port={free_port()}",
            "--disable-usage-stats",
        ]
        if "--head" in args:
            command.append("--include-dashboard=false")
        done = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")


def start_cluster(worker_nodes: int = 1) -> RayCluster:
    # Short: Ray's unix sockets live under it (a socket path holds at most 107 bytes).
    temp = Path(tempfile.mkdtemp(prefix="rj", dir="/tmp"))
    env = {key: value for key, value in os.environ.items() if not key.startswith("RAY_")}
    # Ray 2.60 turns token authentication on for `ray start --head` when ~/.ray/auth_token exists
    # (a local `ray.init()` writes one), but not for the nodes joining it: said explicitly here.
    # A test cluster lives for one test module; its drivers need no token.
    env |= {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    # Ray Client's proxy gives a new client's server 30 s to come up: short on a loaded 2-core box.
    env["RAY_CLIENT_SERVER_CHECK_CHANNEL_TIMEOUT_S"] = "120"
    cluster = RayCluster(temp, free_port(), env)
    try:
        cluster.start_head()
        for _ in range(worker_nodes):
            cluster.add_worker_node()
    except BaseException:
        cluster.stop()
        raise
    return cluster


def cluster_fixture(scope: Literal["function", "module"]) -> Callable[[], Iterator[RayCluster]]:
    """The `cluster` fixture of a Ray test module: a 2-node cluster (`start_cluster`), stopped at
    the end with nothing of it left. A module that kills a node needs one per test ("function");
    one that restores what it kills may share one ("module": a cluster starts in ~10 s).
    Assign it to a module-level name: `cluster = cluster_fixture("module")`."""

    @pytest.fixture(scope=scope, name="cluster")
    def cluster() -> Iterator[RayCluster]:
        """A real 2-node Ray cluster on this machine (tests/ray_cluster.py)."""
        pytest.importorskip("ray")
        started = start_cluster(worker_nodes=1)
        try:
            yield started
        finally:
            from vigil.jobs.ray_pool import import_ray

            # this process's connection (made by the first pool or driver), before its cluster goes
            import_ray().shutdown()
            started.stop()
            assert started.own_processes() == set(), "processes of the test cluster left behind"

    return cluster
