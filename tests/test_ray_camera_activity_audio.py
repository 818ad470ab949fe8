"""A camera's own sound choice (`activity_audio`, issue 18 item 3) and the sound it hears, through
its Ray actor (`vigil serve --cluster`), on one real 2-node Ray cluster (tests/ray_cluster.py) and
a real PostgreSQL:
- the choice reaches the actor with the rest of its camera configuration: a camera added through
  the API on hamilton (speech on an AAC track) with `none` hears nothing in its actor (voice 0)
  although the server's default is `stream`; PATCHed back to null its actor restarts and hears
  the speech;
- the actor reports what it hears with its activity state: a camera asking for a microphone that
  does not exist on its node shows it missing (named, the reason given) in GET
  /api/activity/live, and one on hamilton's stream shows its AAC track heard."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import SHARED
from tests.ray_cluster import RayCluster, cluster_fixture
from tests.waiting import until
from tests.web_util import bearer, ctx_of, make_app

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

cluster = cluster_fixture("module")
MISSING = "no-such-microphone"


def _cluster_app(tmp_path: Path, pg_url: str, cluster: RayCluster, **activity: Any) -> FastAPI:
    """`vigil serve --cluster` on the test cluster and PostgreSQL, cameras in real time, the
    activity's default sound the stream (plus `activity`)."""
    return make_app(
        tmp_path,
        pg_url,
        shared_dir=SHARED,
        runtime={"embed_processes": 0},
        cluster={"ray_address": cluster.address, "camera_cpus": 0.5, "check_period_s": 0.2},
        web={"start_cameras": True},
        activity={"live_audio": "stream", "clip_buffer_s": 0.0, **activity},
        realtime=True,
    )


def test_the_sound_choice_reaches_the_actor(
    cluster: RayCluster, pg_url: str, tmp_path: Path, hamilton: Path
) -> None:
    app = _cluster_app(tmp_path, pg_url, cluster)
    manager = ctx_of(app).cameras
    assert manager.cluster is not None
    with TestClient(app) as client:
        admin, viewer = bearer(app), bearer(app, "viewer")
        body = {
            "url": str(hamilton),
            "name": "desk",
            "loop": True,
            "activity": True,
            "activity_audio": "none",
        }
        camera = client.post("/api/cameras", json=body, headers=admin).json()
        url = f"/api/cameras/{camera['id']}"

        def tile(after: float) -> dict[str, Any] | None:
            """The camera's state on the live API once a run started after `after` decided."""
            [shown] = client.get("/api/activity/live", headers=viewer).json()
            since = shown["since"]
            return shown if since and datetime.fromisoformat(since).timestamp() >= after else None

        started = time.time()
        silent = until(lambda: tile(started), 150, "the actor's first decision")
        [remote] = manager.cluster.cameras()
        assert remote.camera.activity_audio == "none"  # what the actor was built with
        assert silent["cues"]["voice"] == 0.0 and silent["cues"]["sounds"] == []
        print(f"none: {silent['activity']}, cues {silent['cues']}")

        patched_at = time.time()
        assert (
            client.patch(url, json={"activity_audio": None}, headers=admin).json()["activity_audio"] is None
        )
        [remote] = manager.cluster.cameras()
        assert remote.camera.activity_audio is None  # the actor follows activity.live_audio: stream

        def heard() -> dict[str, Any] | None:
            shown = tile(patched_at)
            return shown if shown is not None and shown["cues"]["voice"] > 0 else None

        loud = until(heard, 150, "the restarted actor hearing the stream's speech")
        print(f"default (stream): {loud['activity']}, cues {loud['cues']}")


def test_the_actor_reports_the_sound_it_hears(
    cluster: RayCluster, pg_url: str, tmp_path: Path, hamilton: Path
) -> None:
    app = _cluster_app(tmp_path, pg_url, cluster, audio_device=MISSING)
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
        assert {remote.name for remote in manager.cluster.cameras()} == {"mic", "stream"}  # actors
        mic = shown["mic"]
        assert mic["source"] == "microphone" and mic["problem"] == "microphone_missing"
        assert mic["heard"] is None and mic["device"] == MISSING and MISSING in mic["error"]
        stream = shown["stream"]
        assert stream["source"] == "stream" and stream["problem"] is None
        assert stream["heard"] == "stream AAC 44.1 kHz" and stream["codec"] == "aac"
