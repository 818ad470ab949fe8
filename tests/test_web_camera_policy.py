"""The camera policy: what a camera added at run time (API/UI) may point at (issue 14, defect 5)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from tests.web_util import bearer, ctx_of, make_app
from vigil.config import load_settings
from vigil.web.camera_policy import CameraPolicy, CameraUrlRefused

OUTSIDE = "video files must be inside a media directory"


def _add(client: TestClient, headers: dict[str, str], url: str) -> Any:
    return client.post("/api/cameras", json={"url": url, "enabled": False}, headers=headers)


def test_files_outside_the_media_roots_get_one_answer_whether_they_exist_or_not(
    tmp_path: Path, hamilton: Path
) -> None:
    media = tmp_path / "media"
    media.mkdir()
    shutil.copy(hamilton, media / "door.mp4")
    (media / "escape.mp4").symlink_to(hamilton)  # a link out of the root is outside too
    app = make_app(tmp_path, camera_policy={"media_roots": [media]})
    with TestClient(app) as client:
        admin = bearer(app)
        answers = {
            url: _add(client, admin, url)
            for url in (
                "/etc/passwd",
                "/etc/no-such-file",
                f"file://{hamilton}",
                str(tmp_path / "missing.mp4"),
                str(media / "escape.mp4"),
                str(media / ".." / ".." / "etc" / "passwd"),
            )
        }
        assert all(a.status_code == 422 for a in answers.values()), {u: a.text for u, a in answers.items()}
        details = {a.json()["detail"] for a in answers.values()}
        assert len(details) == 1 and OUTSIDE in details.pop()  # no file-existence oracle
        inside = _add(client, admin, str(media / "door.mp4"))
        assert inside.status_code == 201, inside.text
        assert _add(client, admin, str(media / "gone.mp4")).status_code == 422
        moved = client.patch(
            f"/api/cameras/{inside.json()['id']}", json={"url": "/etc/passwd"}, headers=admin
        )
        assert moved.status_code == 422 and OUTSIDE in moved.json()["detail"]
        assert client.get("/api/cameras", headers=admin).json()[0]["url"] == str(media / "door.mp4")


def test_default_media_root_is_the_data_dirs_media(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data")
    assert CameraPolicy.of(settings).media_roots == [(tmp_path / "data" / "media").resolve()]
    with pytest.raises(CameraUrlRefused, match=OUTSIDE):
        CameraPolicy.of(load_settings(data_dir=tmp_path, camera_policy={"media_roots": []})).check(
            str(tmp_path / "data" / "media" / "x.mp4")
        )


def test_unreadable_names_inside_a_media_root_are_refused_not_a_server_error(tmp_path: Path) -> None:
    """Found by the schemathesis run: a name longer than the file system allows (ENAMETOOLONG) made
    `is_file()` raise, a 500. Any name that cannot be checked is simply no video file."""
    policy = CameraPolicy.of(load_settings(data_dir=tmp_path, camera_policy={"media_roots": [tmp_path]}))
    with pytest.raises(CameraUrlRefused, match="no video file"):
        policy.check(str(tmp_path / ("0" * 1000)))


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:8000/x", "loopback"),
        ("rtsp://localhost:554/stream", "loopback"),  # a name that resolves to loopback
        ("http://[::1]:8000/", "loopback"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://0.0.0.0:8000/", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("rtsp://[fe80::1]/s", "link-local"),
    ],
)
def test_loopback_and_link_local_hosts_are_refused(tmp_path: Path, url: str, reason: str) -> None:
    app = make_app(tmp_path, camera_policy={})
    with TestClient(app) as client:
        answer = _add(client, bearer(app), url)
        assert answer.status_code == 422 and reason in answer.json()["detail"], answer.text
        assert client.get("/api/cameras", headers=bearer(app)).json() == []


def test_lan_cameras_are_accepted_and_the_flags_open_loopback(tmp_path: Path) -> None:
    app = make_app(tmp_path, camera_policy={})
    with TestClient(app) as client:
        admin = bearer(app)
        for url in ("rtsp://user:pw@192.168.1.20:554/s", "http://10.0.0.5/video.mjpg", "usb:0"):
            assert _add(client, admin, url).status_code == 201, url
    opened = CameraPolicy.of(
        load_settings(data_dir=tmp_path, camera_policy={"allow_loopback": True, "allow_link_local": True})
    )
    opened.check("http://127.0.0.1:8000/x")
    opened.check("http://169.254.169.254/")


def test_allowed_schemes_limit_the_url_kinds(tmp_path: Path) -> None:
    app = make_app(tmp_path, camera_policy={"allowed_schemes": ["rtsps"]})
    with TestClient(app) as client:
        admin = bearer(app)
        assert _add(client, admin, "rtsps://10.0.0.5/s").status_code == 201
        for url in ("rtsp://10.0.0.5/s", "usb:0", "/etc/passwd"):
            answer = _add(client, admin, url)
            assert answer.status_code == 422 and "allowed: rtsps" in answer.json()["detail"], url


def test_configured_cameras_are_trusted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "vigil.yaml"
    config.write_text(yaml.safe_dump({"cameras": [{"url": "rtsp://127.0.0.1:9/yaml", "name": "yaml"}]}))
    monkeypatch.setenv("CAMERAS_IPS", "http://localhost:9/ips")
    monkeypatch.setenv("VIGIL_CONFIG_FILE", str(config))
    app = make_app(tmp_path, camera_policy={})
    with TestClient(app) as client:
        listed = client.get("/api/cameras", headers=bearer(app)).json()
        assert sorted(c["url"] for c in listed) == ["http://localhost:9/ips", "rtsp://127.0.0.1:9/yaml"]
        assert all(c["source"] == "config" for c in listed)
        manager = ctx_of(app).cameras
        for info in manager.cameras():
            manager.check_source(info)  # the policy does not apply to them


def test_a_stored_camera_the_policy_now_refuses_does_not_start_or_snapshot(tmp_path: Path) -> None:
    app = make_app(tmp_path, db_url=None, camera_policy={"media_roots": [tmp_path]})
    with TestClient(app) as client:
        admin = bearer(app)
        camera = _add(client, admin, "rtsp://10.0.0.5/s").json()
        manager = ctx_of(app).cameras
        manager.policy = CameraPolicy.of(
            load_settings(data_dir=tmp_path, camera_policy={"allowed_schemes": []})
        )
        started = client.post(f"/api/cameras/{camera['id']}/start", headers=admin)
        assert started.status_code == 503 and "does not allow rtsp" in started.json()["detail"]
        snapshot = client.get(f"/api/cameras/{camera['id']}/snapshot.jpg", headers=admin)
        assert snapshot.status_code == 422 and "does not allow rtsp" in snapshot.json()["detail"]
