"""The sound of a camera's activity chosen per camera in the API (issue 18 item 3): `activity_audio`
on POST/PATCH/GET /api/cameras (stream, microphone, none; null follows `activity.live_audio`),
stored (migration 0018) on SQLite and PostgreSQL and read back after a restart, a configured
camera's YAML value listed and handed to its pipeline (and to a cluster actor: the same
CameraConfig), and a running camera restarted to hear from the new choice, a missing microphone
reported as the microphone path always does (the camera runs on, its activity without sound)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.waiting import until
from tests.web_util import bearer, ctx_of, login, make_app
from vigil.activity.live import LiveActivity
from vigil.activity.live_audio import AudioStatus

MISSING_MICROPHONE = "no-such-microphone"  # the same error on any machine, sound card or not


def test_the_sound_choice_is_validated_stored_and_read_back(
    tmp_path: Path, db_url: str, hamilton: Path
) -> None:
    config: dict[str, Any] = {
        "cameras": [{"url": str(hamilton), "name": "door", "activity": True, "activity_audio": "microphone"}]
    }
    app = make_app(tmp_path, db_url, **config)
    with TestClient(app) as client:
        admin = bearer(app)
        cameras = {c["name"]: c for c in client.get("/api/cameras", headers=admin).json()}
        assert cameras["door"]["activity_audio"] == "microphone"  # the YAML entry's
        door = cameras["door"]["id"]
        # ... and what its pipeline (local, or a cluster actor: both get this CameraConfig) is built with
        assert ctx_of(app).cameras.get(door).config().activity_audio == "microphone"
        refused = client.patch(f"/api/cameras/{door}", json={"activity_audio": "none"}, headers=admin)
        assert refused.status_code == 409 and "configuration" in refused.json()["detail"]

        body = {"url": str(hamilton), "name": "desk", "enabled": False, "activity": True}
        desk = client.post("/api/cameras", json={**body, "activity_audio": "microphone"}, headers=admin)
        assert desk.status_code == 201, desk.text
        assert desk.json()["activity_audio"] == "microphone"
        plain = client.post("/api/cameras", json={**body, "name": "hall"}, headers=admin).json()
        assert plain["activity_audio"] is None  # follows activity.live_audio
        bad = client.post(
            "/api/cameras", json={**body, "name": "attic", "activity_audio": "speaker"}, headers=admin
        )
        assert bad.status_code == 422 and "activity_audio" in bad.text

        url = f"/api/cameras/{desk.json()['id']}"
        assert client.get(url, headers=admin).json()["activity_audio"] == "microphone"
        assert client.patch(url, json={"activity_audio": "speaker"}, headers=admin).status_code == 422
        assert (
            client.patch(url, json={"activity_audio": "none"}, headers=bearer(app, "operator")).status_code
            == 403
        )
        patched = client.patch(url, json={"activity_audio": "none"}, headers=admin)
        assert patched.status_code == 200 and patched.json()["activity_audio"] == "none"
        assert patched.json()["enabled"] is False  # a stopped camera stays stopped
        assert client.patch(url, json={"fps": 2}, headers=admin).json()["activity_audio"] == "none"  # kept
        hall = f"/api/cameras/{plain['id']}"
        assert (
            client.patch(hall, json={"activity_audio": "stream"}, headers=admin).json()["activity_audio"]
            == "stream"
        )
        assert (
            client.patch(hall, json={"activity_audio": None}, headers=admin).json()["activity_audio"] is None
        )
        assert client.get(url, headers=admin).json()["activity_audio"] == "none"

    again = make_app(tmp_path, db_url, **config)  # a restart reads the choices from the store
    with TestClient(again) as client:
        cameras = {c["name"]: c for c in client.get("/api/cameras", headers=bearer(again)).json()}
        shown = {name: cameras[name]["activity_audio"] for name in ("door", "desk", "hall")}
        assert shown == {"door": "microphone", "desk": "none", "hall": None}
        login(client)  # the cameras page shows each choice; the configured camera's is read-only
        page = client.get("/cameras").text
        for name, value, disabled in (
            ("door", "microphone", True),
            ("desk", "none", False),
            ("hall", "", False),
        ):
            select = _audio_select(page, cameras[name]["id"])
            assert ("disabled" in select.split(">")[0]) is disabled, (name, select)
            assert f'<option value="{value}" selected>' in select, (name, select)
            assert select.count("selected") == 1, (name, select)


def _audio_select(page: str, camera_id: int) -> str:
    found = re.search(
        rf'<select class="camera-audio-select" id="camera-audio-{camera_id}".*?</select>', page, re.S
    )
    assert found is not None, f"no sound choice for camera {camera_id}"
    return found.group(0)


@pytest.mark.slow
def test_a_running_camera_hears_from_its_own_choice(tmp_path: Path, models_dir: Path, hamilton: Path) -> None:
    """A real pipeline on hamilton (AAC sound) while the server's default is `stream`: the
    camera's `microphone` (a device that does not exist) leaves its activity without sound but
    running; PATCHing `none` restarts it without sound; null gives the default, the stream's sound."""
    app = make_app(
        tmp_path,
        shared_dir=models_dir.parent,
        runtime={"embed_processes": 0},
        realtime=True,
        activity={"live_audio": "stream", "audio_device": MISSING_MICROPHONE},
    )
    manager = ctx_of(app).cameras
    with TestClient(app) as client:
        admin = bearer(app)
        body = {
            "url": str(hamilton),
            "name": "desk",
            "loop": True,
            "activity": True,
            "activity_audio": "microphone",
        }
        camera = client.post("/api/cameras", json=body, headers=admin).json()
        url = f"/api/cameras/{camera['id']}"

        def live() -> LiveActivity | None:
            return manager.live_activity(camera["id"])

        first = until(live, 30, "the camera's activity analysis")
        assert first.audio.source == "microphone"
        error = until(lambda: first.audio.error, 60, "the missing microphone's error")
        assert MISSING_MICROPHONE in error and not first.audio.active
        until(lambda: client.get(url, headers=admin).json()["state"] == "running", 60, "the camera to run")
        assert live() is first  # the camera goes on: its activity analyses the picture alone

        assert (
            client.patch(url, json={"activity_audio": "none"}, headers=admin).json()["activity_audio"]
            == "none"
        )
        second = until(live, 30, "the restarted camera")
        assert second is not first and second.audio.source == "none"

        assert (
            client.patch(url, json={"activity_audio": None}, headers=admin).json()["activity_audio"] is None
        )
        third = until(live, 30, "the restarted camera")
        assert third is not second and third.audio.source == "stream"  # activity.live_audio

        def heard() -> AudioStatus | None:
            status = third.audio
            return status if status.samples > 0 else None

        status = until(heard, 90, "the stream's sound analysed")
        assert status.active and status.error is None
