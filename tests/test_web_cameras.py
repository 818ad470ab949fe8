"""Camera API: CRUD and validation, roles, configured cameras read-only, USB scan, snapshots,
the camera health check and the cameras page."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np
from fastapi.testclient import TestClient

from tests.web_util import bearer, ctx_of, login, make_app

T = TypeVar("T")


def _decode(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a JPEG"
    return np.asarray(image)


def test_no_camera_is_a_valid_state(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    with TestClient(app) as client:
        admin = bearer(app)
        assert client.get("/api/cameras", headers=admin).json() == []
        assert client.get("/api/health/cameras").json() == {
            "status": "healthy",
            "active_streams": 0,
            "total_cameras": 0,
            "last_detection": None,
        }
        login(client)
        live = client.get("/live")
        assert live.status_code == 200
        assert 'id="live-empty"' in live.text and 'href="/cameras"' in live.text
        page = client.get("/cameras")
        assert 'id="camera-add-form"' in page.text and 'id="cameras-none"' in page.text


def test_crud_and_validation(tmp_path: Path, db_url: str, hamilton: Path) -> None:
    app = make_app(tmp_path, db_url)
    with TestClient(app) as client:
        admin = bearer(app)
        created = client.post(
            "/api/cameras",
            json={
                "url": str(hamilton),
                "loop": True,
                "enabled": False,
                "dead_zones": [[[0, 0], [50, 0], [0, 50]]],
            },
            headers=admin,
        )
        assert created.status_code == 201, created.text
        camera = created.json()
        assert camera["name"] == "hamilton_640x360" and camera["source"] == "db"
        assert camera["state"] == "stopped" and not camera["running"] and not camera["enabled"]
        assert camera["dead_zones"] == [[[0.0, 0.0], [50.0, 0.0], [0.0, 50.0]]]
        cid = camera["id"]

        same_name = client.post(
            "/api/cameras", json={"url": str(hamilton), "name": "hamilton_640x360"}, headers=admin
        )
        assert same_name.status_code == 409 and "exists already" in same_name.json()["detail"]
        derived = client.post("/api/cameras", json={"url": str(hamilton), "enabled": False}, headers=admin)
        assert derived.json()["name"] == "hamilton_640x360-2"  # a derived name never collides

        bad = {
            "ftp://host/x": "unsupported",
            str(tmp_path / "missing.mp4"): "no video file",
            "rtsp://": "needs a host",
            "http://[::1": "malformed",
        }
        for url, reason in bad.items():
            answer = client.post("/api/cameras", json={"url": url}, headers=admin)
            assert answer.status_code == 422 and reason in answer.json()["detail"], (url, answer.text)
        for body in (
            {"url": str(hamilton), "fps": 0},
            {"url": str(hamilton), "surprise": 1},
            {"url": str(hamilton), "dead_zones": [[[0, 0], [1, 1]]]},  # 2 points: not a polygon
            {"url": str(hamilton), "name": "<script>"},
        ):
            assert client.post("/api/cameras", json=body, headers=admin).status_code == 422, body
        for url in (
            "rtsp://user:pw@10.0.0.5:554/s",
            "usb:0",
            "/dev/video3",
            "https://cam.example/video.mjpg",
        ):
            answer = client.post("/api/cameras", json={"url": url, "enabled": False}, headers=admin)
            assert answer.status_code == 201, (url, answer.text)
        listed = client.get("/api/cameras", headers=admin).json()
        assert any(c["url"] == "rtsp://***@10.0.0.5:554/s" for c in listed)  # credentials never shown
        assert [c["id"] for c in listed] == sorted(c["id"] for c in listed)

        patched = client.patch(
            f"/api/cameras/{cid}",
            json={"name": "door", "fps": 2.5, "loop": False, "dead_zones": []},
            headers=admin,
        ).json()
        assert (patched["name"], patched["fps"], patched["loop"], patched["dead_zones"]) == (
            "door",
            2.5,
            False,
            [],
        )
        assert client.patch(f"/api/cameras/{cid}", json={"fps": None}, headers=admin).json()["fps"] == 5.0
        assert client.patch(f"/api/cameras/{cid}", json={"name": None}, headers=admin).status_code == 422
        assert (
            client.patch(f"/api/cameras/{cid}", json={"url": "gopher://x"}, headers=admin).status_code == 422
        )
        assert client.get(f"/api/cameras/{cid}", headers=admin).json()["name"] == "door"

        assert client.delete(f"/api/cameras/{cid}", headers=admin).status_code == 204
        assert client.get(f"/api/cameras/{cid}", headers=admin).status_code == 404
        assert client.delete(f"/api/cameras/{cid}", headers=admin).status_code == 404
        assert client.post("/api/cameras/999999/start", headers=admin).status_code == 404
        # The deleted camera's row is kept for its sightings: renaming another camera to its name
        # would mix their sightings; a new camera of that name takes the row back.
        renamed = client.patch(f"/api/cameras/{derived.json()['id']}", json={"name": "door"}, headers=admin)
        assert renamed.status_code == 409 and "earlier sightings" in renamed.json()["detail"]
        again = client.post(
            "/api/cameras", json={"url": str(hamilton), "name": "door", "enabled": False}, headers=admin
        )
        assert again.json()["id"] == cid


def test_roles(tmp_path: Path, hamilton: Path) -> None:
    app = make_app(tmp_path)
    with TestClient(app) as client:
        admin, viewer = bearer(app), bearer(app, "viewer")
        cid = client.post(
            "/api/cameras", json={"url": str(hamilton), "enabled": False}, headers=admin
        ).json()["id"]
        mutations = [
            ("POST", "/api/cameras", {"url": str(hamilton)}),
            ("PATCH", f"/api/cameras/{cid}", {"loop": True}),
            ("DELETE", f"/api/cameras/{cid}", None),
            ("POST", f"/api/cameras/{cid}/start", None),
            ("POST", f"/api/cameras/{cid}/stop", None),
            ("POST", "/api/cameras/scan", None),
        ]
        for method, url, body in mutations:
            assert client.request(method, url, json=body, headers=viewer).status_code == 403, (method, url)
            assert client.request(method, url, json=body).status_code == 401, (method, url)
        for url in ("/api/cameras", f"/api/cameras/{cid}", f"/api/cameras/{cid}/snapshot.jpg"):
            assert client.get(url, headers=viewer).status_code == 200, url
            assert client.get(url).status_code == 401, url
        assert client.get("/api/health/cameras").status_code == 200  # anonymous on purpose
        assert client.get("/cameras", follow_redirects=False).status_code == 303  # to /login
        assert client.get("/api/cameras", headers=admin).json()[0]["enabled"] is False  # nothing changed
        login(client, "viewer-user", "password-viewer-user")
        page = client.get("/cameras").text
        assert f'id="camera-row-{cid}"' in page and "camera-snapshot" in page
        assert "camera-add-form" not in page and "camera-delete" not in page and "roi-editor" not in page


def test_configured_cameras_are_read_only_and_keep_their_id(tmp_path: Path, hamilton: Path) -> None:
    config: dict[str, Any] = {
        "cameras": [{"url": str(hamilton), "name": "door"}],
        "cameras_ips": "rtsp://10.1.1.1/live",
    }
    app = make_app(tmp_path, **config)
    with TestClient(app) as client:
        admin = bearer(app)
        cameras = {c["name"]: c for c in client.get("/api/cameras", headers=admin).json()}
        assert set(cameras) == {"door", "10.1.1.1_live"}
        assert {c["source"] for c in cameras.values()} == {"config"}
        door = cameras["door"]["id"]
        for method, body in (("PATCH", {"loop": True}), ("DELETE", None)):
            answer = client.request(method, f"/api/cameras/{door}", json=body, headers=admin)
            assert answer.status_code == 409 and "configuration" in answer.json()["detail"]
        taken = client.post("/api/cameras", json={"url": str(hamilton), "name": "door"}, headers=admin)
        assert taken.status_code == 409
        # start/stop are allowed and persisted: a stopped camera stays stopped after a restart.
        assert client.post(f"/api/cameras/{door}/stop", headers=admin).json()["enabled"] is False
    again = make_app(tmp_path, **config)
    with TestClient(again) as client:
        cameras = {c["name"]: c for c in client.get("/api/cameras", headers=bearer(again)).json()}
        assert len(cameras) == 2 and cameras["door"]["id"] == door and not cameras["door"]["enabled"]


def test_usb_scan_answers_quickly(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    with TestClient(app) as client:
        started = time.monotonic()
        answer = client.post("/api/cameras/scan?max_index=16", headers=bearer(app))
        assert answer.status_code == 200
        devices = [f"/dev/video{i}" for i in range(16) if Path(f"/dev/video{i}").exists()]
        assert answer.json()["scanned"] == 16
        if not devices:  # this machine: no camera at all
            assert answer.json()["found"] == []
        assert time.monotonic() - started < 2 + 2 * len(devices)
        assert client.post("/api/cameras/scan?max_index=0", headers=bearer(app)).status_code == 422


def test_snapshot_of_a_stopped_camera_and_of_an_unreachable_one(tmp_path: Path, hamilton: Path) -> None:
    app = make_app(tmp_path, runtime={"open_timeout_s": 2, "read_timeout_s": 2})
    with TestClient(app) as client:
        admin = bearer(app)
        cid = client.post(
            "/api/cameras", json={"url": str(hamilton), "enabled": False}, headers=admin
        ).json()["id"]
        shot = client.get(f"/api/cameras/{cid}/snapshot.jpg", headers=admin)
        assert shot.status_code == 200 and shot.headers["content-type"] == "image/jpeg"
        assert _decode(shot.content).shape == (360, 640, 3)
        # Nothing listens on port 9: the snapshot fails fast with the reason.
        dead = client.post(
            "/api/cameras", json={"url": "rtsp://127.0.0.1:9/x", "enabled": False}, headers=admin
        )
        started = time.monotonic()
        answer = client.get(f"/api/cameras/{dead.json()['id']}/snapshot.jpg", headers=admin)
        assert answer.status_code == 503 and "could not read a picture" in answer.json()["detail"]
        assert time.monotonic() - started < 9


def test_health_counts_streams_and_a_failing_camera_does_not_stop_the_others(
    tmp_path: Path, hamilton: Path, models_dir: Path
) -> None:
    app = make_app(tmp_path, shared_dir=models_dir.parent, runtime={"embed_processes": 0})
    with TestClient(app) as client:
        admin = bearer(app)
        good = client.post("/api/cameras", json={"url": str(hamilton), "loop": True}, headers=admin).json()[
            "id"
        ]
        broken = tmp_path / "broken.mp4"
        broken.write_bytes(b"not a video")
        bad = client.post("/api/cameras", json={"url": str(broken), "name": "broken"}, headers=admin).json()[
            "id"
        ]
        health = _wait(
            lambda: client.get("/api/health/cameras").json(), lambda h: h["last_detection"] is not None
        )
        assert (
            health["status"] == "degraded" and health["active_streams"] == 1 and health["total_cameras"] == 2
        )
        assert health["last_detection"].endswith("Z")
        states = {c["id"]: c for c in client.get("/api/cameras", headers=admin).json()}
        assert states[good]["state"] == "running" and states[bad]["state"] == "failed"
        assert states[bad]["last_error"]
        assert client.post(f"/api/cameras/{bad}/stop", headers=admin).json()["state"] == "stopped"
        assert client.get("/api/health/cameras").json()["status"] == "healthy"  # disabled: not expected
        stopped = client.post(f"/api/cameras/{good}/stop", headers=admin).json()
        assert (stopped["running"], stopped["enabled"], stopped["state"]) == (False, False, "stopped")
        manager = ctx_of(app).cameras
        assert manager is not None and manager.statuses() == {}  # no pipeline left behind


def _wait(read: Callable[[], T], done: Callable[[T], bool], timeout_s: float = 20.0) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.2)
