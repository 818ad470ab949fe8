"""Seed 000's `POST /run/STEP5` and `GET /api/system_monitor`, on top of the jobs API (admin only;
who may call them is checked with every route by tests/test_web_access.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import shared_file
from tests.web_util import bearer, make_app
from vigil.batch.sysmon import CpuTimes, LoadMonitor, cpu_percent_between, read_memory


@pytest.fixture
def client(models_dir: Path, tmp_path: Path) -> Iterator[TestClient]:
    app = make_app(tmp_path, track={"cpu_workers": 1, "models_dir": models_dir})
    with TestClient(app, headers=bearer(app)) as test_client:
        yield test_client


def _wait(client: TestClient, url: str, timeout: float = 180.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(url).json()
        if body["state"] not in ("queued", "running", "cancelling"):
            return body
        time.sleep(0.1)
    raise AssertionError(f"{url} still running after {timeout} s")


def test_run_step5_starts_a_tracking_job(client: TestClient, tmp_path: Path) -> None:
    listing = tmp_path / "videos.json"
    listing.write_text(json.dumps([str(shared_file("media/video/single_face.mp4"))]))
    out_dir = tmp_path / "out"
    response = client.post("/run/STEP5", json={"videos_json_path": str(listing), "out_dir": str(out_dir)})
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "success" and body["message"].startswith("STEP5 démarré")
    assert body["job_url"] == f"/api/track/jobs/{body['job_id']}" == response.headers["location"]
    assert body["job"]["id"] == body["job_id"]
    final = _wait(client, body["job_url"])
    assert final["state"] == "done", final
    assert len(json.loads((out_dir / "single_face_tracking.json").read_text())["frames"]) == 72


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        ({}, "give paths"),
        ({"paths": []}, "non-empty list"),
        ({"paths": ["/nonexistent/folder"]}, "/nonexistent/folder"),
        ({"videos_json_path": "/nonexistent/videos.json"}, "does not exist"),
        ({"paths": ["x"], "engine": "yunet"}, "unknown field(s) engine"),
    ],
)
def test_run_step5_refusals_keep_the_seed_envelope(
    client: TestClient, payload: dict[str, Any], detail: str
) -> None:
    response = client.post("/run/STEP5", json=payload)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["status"] == "error" and body["message"] == "Paramètres invalides"
    assert detail in body["detail"]


def test_system_monitor_shows_the_machine_and_running_jobs(client: TestClient, tmp_path: Path) -> None:
    idle = client.get("/api/system_monitor")
    assert idle.status_code == 200
    body = idle.json()
    assert body["status"] == "success" and body["gpu"] is None
    assert 0 <= body["cpu"]["percent"] <= 100 and body["cpu"]["count"] >= 1
    assert 0 < body["memory"]["used_mb"] < body["memory"]["total_mb"]
    assert body["step5"] == {"running": False, "progress_line": None, "jobs": []}

    video = shared_file("media/video/expressions_640x360.mp4")  # 472 frames: long enough to see
    started = client.post("/run/STEP5", json={"paths": [str(video)], "out_dir": str(tmp_path / "out")}).json()
    seen: dict[str, Any] | None = None
    deadline = time.monotonic() + 120
    while seen is None and time.monotonic() < deadline:
        step5 = client.get("/api/system_monitor").json()["step5"]
        if step5["progress_line"] is not None and "Processing frame 0/" not in step5["progress_line"]:
            seen = step5
        time.sleep(0.05)
    client.delete(started["job_url"])
    assert seen is not None, "never saw the job in progress"
    assert seen["running"] is True and [job["id"] for job in seen["jobs"]] == [started["job_id"]]
    assert seen["progress_line"].startswith(
        "[Progression-MultiLine]expressions_640x360.mp4: Processing frame "
    )
    assert seen["progress_line"].endswith("%)") and "/472 (" in seen["progress_line"]


def test_cpu_and_memory_readings(tmp_path: Path) -> None:
    assert cpu_percent_between(CpuTimes(10, 100), CpuTimes(40, 200)) == 30.0
    assert cpu_percent_between(CpuTimes(10, 100), CpuTimes(10, 100)) is None
    (tmp_path / "meminfo").write_text("MemTotal:  2048000 kB\nMemFree: 1 kB\nMemAvailable:  1024000 kB\n")
    assert read_memory(tmp_path) == (1000.0, 2000.0)
    load = LoadMonitor(tmp_path).read()  # no /proc/stat there: unknown, not an error
    assert load.cpu_percent is None and load.memory_percent == 50.0
