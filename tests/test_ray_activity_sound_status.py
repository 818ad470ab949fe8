"""The sound a camera's live activity hears, reported by its Ray actor (`vigil serve --cluster`) with
the rest of its activity state, on a real 2-node Ray cluster (tests/ray_cluster.py) and a real
PostgreSQL: a camera asking for a microphone that does not exist on its node shows it missing
(named, the reason given) in GET /api/activity/live, and one on hamilton's stream shows its AAC
track heard, both from the actors' reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import SHARED
from tests.ray_cluster import RayCluster, cluster_fixture
from tests.waiting import until
from tests.web_util import bearer, ctx_of, make_app

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
MISSING = "no-such-microphone"

cluster = cluster_fixture("module")


def test_the_actor_reports_the_sound_it_hears(
    cluster: RayCluster, pg_url: str, tmp_path: Path, hamilton: Path
) -> None:
    app = make_app(
        tmp_path,
        pg_url,
        shared_dir=SHARED,
        runtime={"embed_processes": 0},
        cluster={"ray_address": cluster.address, "camera_cpus": 0.5, "check_period_s": 0.2},
        web={"start_cameras": True},
        activity={"live_audio": "stream", "audio_device": MISSING, "clip_buffer_s": 0.0},
        realtime=True,
    )
    manager = ctx_of(app).cameras
    assert manager.cluster is not None
    with TestClient(app) as client:
        admin, viewer = bearer(app), bearer(app, "viewer")
        body = {"url": str(hamilton), "loop": True, "activity": True}
        for name, audio in (("mic", "microphone"), ("stream", None)):
            created = client.post(
                "/api/cameras", json={**body, "name": name, "activity_audio": audio}, headers=admin
            )
            assert created.status_code == 201, created.text

        def sounds() -> dict[str, dict[str, Any]] | None:
            tiles = client.get("/api/activity/live", headers=viewer).json()
            shown = {t["camera"]: t["sound"] for t in tiles if t["sound"] is not None}
            settled = len(shown) == 2 and shown["mic"]["problem"] and shown["stream"]["samples"] > 0
            return shown if settled else None

        shown = until(sounds, 200, "both actors' sound in their reports")
        print(shown)
        assert {remote.name for remote in manager.cluster.cameras()} == {"mic", "stream"}  # actors
        mic = shown["mic"]
        assert mic["source"] == "microphone" and mic["problem"] == "microphone_missing"
        assert mic["heard"] is None and mic["device"] == MISSING and MISSING in mic["error"]
        stream = shown["stream"]
        assert stream["source"] == "stream" and stream["problem"] is None
        assert stream["heard"] == "stream AAC 44.1 kHz" and stream["codec"] == "aac"
