"""`POST /api/save-clip` and the clip download through `vigil serve` with a looping file camera
(the sync clip of test_activity_clip.py) whose activity is on."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.test_activity_clip import assert_in_sync, sync_clip  # noqa: F401 (fixture)


@pytest.mark.slow
def test_the_save_clip_api_saves_and_serves_a_clip(sync_clip: Path, tmp_path: Path) -> None:  # noqa: F811
    """`vigil serve` with a looping file camera with activity on: POST /api/save-clip, then the
    download, in sync; the refusals say why without the camera's URL."""
    from fastapi.testclient import TestClient

    from tests.web_util import bearer, make_app

    cameras = [
        {"url": str(sync_clip), "name": "desk", "loop": True, "activity": True},
        {"url": str(sync_clip), "name": "hall", "loop": True},
    ]
    app = make_app(tmp_path, web={"start_cameras": True}, cameras=cameras, realtime=True)
    with TestClient(app, headers=bearer(app)) as client:
        listed = {c["name"]: c["id"] for c in client.get("/api/cameras").json()}
        desk, hall = listed["desk"], listed["hall"]
        assert client.post("/api/save-clip", json={"camera": desk, "seconds": 0.5}).status_code == 422
        assert client.post("/api/save-clip", json={"camera": 999, "seconds": 4}).status_code == 404
        off = client.post("/api/save-clip", json={"camera": hall, "seconds": 4})
        assert off.status_code == 503 and "activity analysis on" in off.json()["detail"]
        assert str(sync_clip) not in off.text
        viewer = bearer(app, role="viewer", username="watcher")
        assert client.post("/api/save-clip", headers=viewer, json={"camera": desk}).status_code == 403
        time.sleep(7.0)  # the file plays in real time: 7 s buffered
        too_long = client.post("/api/save-clip", json={"camera": desk, "seconds": 31})
        assert too_long.status_code == 422 and "clip_buffer_s" in too_long.json()["detail"]
        saved = client.post("/api/save-clip", json={"camera": desk, "seconds": 4})
        assert saved.status_code == 200, saved.text
        body = saved.json()
        assert body["camera"] == "desk" and body["video_codec"] == "h264" and body["audio_codec"] == "aac"
        assert abs(body["duration_s"] - 4.0) < 0.05 and body["size"] > 10_000
        assert body["download"] == f"/api/clips/{desk}/{body['name']}"
        on_disk = tmp_path / "data" / "clips" / f"id={desk}" / body["name"]  # kept by camera id
        assert on_disk.stat().st_size == body["size"]
        got = client.get(body["download"])
        assert got.status_code == 200 and got.headers["content-type"] == "video/mp4"
        assert got.content == on_disk.read_bytes()
        assert client.get(body["download"], headers=viewer).status_code == 403
        assert client.get(f"/api/clips/{desk}/..%2Fvigil.db").status_code == 404
        assert client.get(f"/api/clips/{desk}/nothing.mp4").status_code == 404
    downloaded = tmp_path / "downloaded.mp4"
    downloaded.write_bytes(got.content)
    assert_in_sync(downloaded, 4.0)
