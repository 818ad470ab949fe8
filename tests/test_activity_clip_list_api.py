"""`GET /api/clips` (the saved clips, newest first) and `DELETE /api/clips/{camera_id}/{name}`,
admin only; and the pruning after `POST /api/save-clip` through `vigil serve` with a looping file
camera whose activity is on (`activity.clips_keep_days`, `clips_max_mb`)."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import shared_file
from tests.test_activity_clip import _fill_from_file, sync_clip  # noqa: F401 (fixture)
from tests.web_util import bearer, ctx_of, login, make_app, wait_buffered
from vigil.activity.clip import clip_folder, named_clip_folder, save_clip
from vigil.activity.ring import PacketRing

DAY = 86400.0


def _age(path: Path, days: float) -> None:
    when = time.time() - days * DAY
    os.utime(path, (when, when))


def test_clips_are_listed_newest_first_and_deleted(sync_clip: Path, tmp_path: Path) -> None:  # noqa: F811
    """Clips saved into two cameras' folders (as the save route does), the cameras never started."""
    app = make_app(tmp_path)
    ctx = ctx_of(app)
    url = str(shared_file("media/activity/asleep/akshint_test_video_sleep.mp4"))  # inside media_roots
    desk = ctx.cameras.create(url, "desk", enabled=False)
    hall = ctx.cameras.create(url, "hall", enabled=False)
    ring = PacketRing(seconds=8.0)
    _fill_from_file(ring, sync_clip, wall0=1_700_000_000.0)
    data = tmp_path / "data"
    old = save_clip(ring, 3.0, clip_folder(data, desk.id), "desk")
    new = save_clip(ring, 5.0, clip_folder(data, desk.id), "desk")
    middle = save_clip(ring, 4.0, clip_folder(data, hall.id), "hall")
    _age(old.path, 2)
    _age(middle.path, 1)
    (data / "secret.txt").write_text("not a clip")
    with TestClient(app, headers=bearer(app)) as client:
        body = client.get("/api/clips").json()
        assert [c["name"] for c in body["clips"]] == [new.path.name, middle.path.name, old.path.name]
        assert (body["keep_days"], body["max_mb"]) == (30.0, 1000.0)
        assert body["total_size"] == old.size + new.size + middle.size
        first = body["clips"][0]
        assert first["camera_id"] == desk.id and first["camera"] == "desk" and first["size"] == new.size
        assert abs(first["duration_s"] - 5.0) < 0.1 and first["has_audio"] is True
        assert (first["video_codec"], first["audio_codec"]) == ("h264", "aac")
        assert first["start"].startswith("2023-11-14T22:13:")  # the clip's wall clock, from its name
        assert first["download"] == f"/api/clips/{desk.id}/{new.path.name}"
        assert client.get(first["download"]).content == new.path.read_bytes()
        only_hall = client.get("/api/clips", params={"camera": hall.id}).json()
        assert [c["name"] for c in only_hall["clips"]] == [middle.path.name]
        assert only_hall["clips"][0]["camera_id"] == hall.id
        assert client.get("/api/clips", params={"camera": 999}).status_code == 404

        # Delete: the file goes, the listing follows; a second time, 404.
        gone = client.delete(first["download"])
        assert gone.status_code == 204 and not new.path.exists()
        assert [c["name"] for c in client.get("/api/clips").json()["clips"]] == [
            middle.path.name,
            old.path.name,
        ]
        assert client.delete(first["download"]).status_code == 404
        # Other paths: 404 (never a file outside the camera's clip folder), nothing removed.
        for name in ("..%2Fsecret.txt", "..%2F..%2Fsecret.txt", ".hidden.mp4", "x.txt"):
            assert client.delete(f"/api/clips/{desk.id}/{name}").status_code == 404, name
        assert client.delete(f"/api/clips/{desk.id}/{middle.path.name}").status_code == 404  # hall's
        assert client.delete(f"/api/clips/999/{old.path.name}").status_code == 404
        assert (data / "secret.txt").exists() and middle.path.exists() and old.path.exists()

        # Admin only: a viewer and an anonymous client are refused, nothing is removed.
        viewer = bearer(app, role="viewer", username="watcher")
        assert client.get("/api/clips", headers=viewer).status_code == 403
        assert client.delete(f"/api/clips/{desk.id}/{old.path.name}", headers=viewer).status_code == 403
    with TestClient(app) as anonymous:
        assert anonymous.get("/api/clips").status_code == 401
        assert anonymous.delete(f"/api/clips/{desk.id}/{old.path.name}").status_code == 401
    assert old.path.exists()


def test_a_renamed_camera_keeps_its_clips(sync_clip: Path, tmp_path: Path) -> None:  # noqa: F811
    """Clips are kept by camera id: renamed (`PATCH /api/cameras/{id}`), a camera lists, downloads
    and deletes the clips it saved under its old name, those of before clips were kept by id too
    (its name's folder, moved at the first look); a new camera given the old name has none. A
    name that is no safe path changes nothing on disk; one the API refuses stays refused."""
    app = make_app(tmp_path)
    ctx = ctx_of(app)
    url = str(shared_file("media/activity/asleep/akshint_test_video_sleep.mp4"))
    desk = ctx.cameras.create(url, "desk", enabled=False)
    ring = PacketRing(seconds=8.0)
    _fill_from_file(ring, sync_clip, wall0=1_700_000_000.0)
    data = tmp_path / "data"
    saved = save_clip(ring, 5.0, clip_folder(data, desk.id), "desk")  # as POST /api/save-clip does
    before = save_clip(ring, 3.0, named_clip_folder(data, "desk"), "desk")  # kept by name, before
    _age(before.path, 1)
    contents = [saved.path.read_bytes(), before.path.read_bytes()]
    with TestClient(app, headers=bearer(app)) as client:  # its start moves `before` by id
        renamed = client.patch(f"/api/cameras/{desk.id}", json={"name": "study"})
        assert renamed.status_code == 200 and renamed.json()["name"] == "study"
        listed = client.get("/api/clips", params={"camera": desk.id}).json()["clips"]
        assert [(c["camera"], c["camera_id"], c["name"]) for c in listed] == [
            ("study", desk.id, saved.path.name),
            ("study", desk.id, before.path.name),
        ]
        for clip, original, content in zip(listed, (saved, before), contents, strict=True):
            got = client.get(clip["download"])
            assert got.status_code == 200 and got.content == content
            assert abs(clip["duration_s"] - original.duration_s) < 0.1
        assert not named_clip_folder(data, "desk").exists()  # moved, not copied

        # The old name, given to a new camera, brings none of them.
        other = client.post("/api/cameras", json={"url": url, "name": "desk", "enabled": False})
        assert other.status_code in (200, 201), other.text
        assert client.get("/api/clips", params={"camera": other.json()["id"]}).json()["clips"] == []

        # Names: '..' is a camera name, never a path; one with a slash is refused as before.
        assert client.patch(f"/api/cameras/{desk.id}", json={"name": ".."}).status_code == 200
        assert len(client.get("/api/clips", params={"camera": desk.id}).json()["clips"]) == 2
        assert client.patch(f"/api/cameras/{desk.id}", json={"name": "a/../b"}).status_code == 422
        assert sorted(p.name for p in (data / "clips").iterdir()) == [f"id={desk.id}"]
        gone = client.delete(f"/api/clips/{desk.id}/{before.path.name}")
        assert gone.status_code == 204
        assert [p.name for p in clip_folder(data, desk.id).iterdir()] == [saved.path.name]


def test_the_clips_page_offers_the_cameras_with_activity_on(tmp_path: Path) -> None:
    """No camera with activity on: the page says where to turn it on, and has no form; a stopped
    one is offered disabled, and with no running one the save button is disabled."""
    app = make_app(tmp_path)
    url = str(shared_file("media/activity/asleep/akshint_test_video_sleep.mp4"))
    ctx_of(app).cameras.create(url, "hall", enabled=False)
    with TestClient(app) as client:
        login(client)
        page = client.get("/activity/clips")
        assert page.status_code == 200
        assert 'id="actc-no-camera"' in page.text and 'id="actc-form"' not in page.text
        porch = ctx_of(app).cameras.create(url, "porch", enabled=False, activity=True)
        page = client.get("/activity/clips").text
        assert f'<option value="{porch.id}" disabled>porch (stopped)</option>' in page
        assert "hall" not in page.split('id="actc-camera"', 1)[1].split("</select>", 1)[0]
        assert re.search(r'<button type="submit" id="actc-save" disabled>', page)
        assert "Clips older than 30 days are deleted after each save." in page
        client.get("/lang/fr")
        assert "Chaque caméra garde au plus 1000 Mo d&#39;extraits" in client.get("/activity/clips").text


@pytest.mark.slow
def test_a_save_prunes_old_clips_and_never_the_new_one(sync_clip: Path, tmp_path: Path) -> None:  # noqa: F811
    """Old clips (by mtime) of the camera and of a removed one go after a save; then a size
    limit smaller than the new clip alone keeps it and removes the rest of that camera."""
    cameras = [{"url": str(sync_clip), "name": "desk", "loop": True, "activity": True}]
    app = make_app(
        tmp_path,
        web={"start_cameras": True},
        cameras=cameras,
        realtime=True,
        activity={"clips_keep_days": 7, "clips_max_mb": 0},
    )
    data = tmp_path / "data"
    desk_id = next(c.id for c in ctx_of(app).cameras.cameras() if c.name == "desk")
    desk_folder, gone_folder = clip_folder(data, desk_id), clip_folder(data, desk_id + 100)
    for folder in (desk_folder, gone_folder):
        folder.mkdir(parents=True)
    old = desk_folder / "desk_20261101T000000Z_10s.mp4"
    recent = desk_folder / "desk_20261205T000000Z_10s.mp4"
    orphan = gone_folder / "removed_20261101T000000Z_10s.mp4"
    for path, days in ((old, 8), (recent, 6), (orphan, 30)):
        path.write_bytes(b"\0" * 1000)
        _age(path, days)
    with TestClient(app, headers=bearer(app)) as client:
        desk = next(c["id"] for c in client.get("/api/cameras").json() if c["name"] == "desk")
        assert desk == desk_id
        wait_buffered(app, desk, 3.5)  # the file plays in real time
        saved = client.post("/api/save-clip", json={"camera": desk, "seconds": 3})
        assert saved.status_code == 200, saved.text
        body = saved.json()
        assert body["pruned"] == 2
        assert not old.exists() and not orphan.exists() and recent.exists()
        assert (desk_folder / body["name"]).exists()
        listed = client.get("/api/clips").json()["clips"]
        assert [c["name"] for c in listed] == [body["name"], recent.name]
        assert listed[1]["duration_s"] is None  # not a video: listed, so it can be deleted

        ctx_of(app).settings.activity.clips_max_mb = 0.001  # 1000 bytes: less than a 3 s clip
        again = client.post("/api/save-clip", json={"camera": desk, "seconds": 3})
        assert again.status_code == 200, again.text
        assert again.json()["pruned"] == 2  # the first save's clip and the recent one
        assert [p.name for p in desk_folder.glob("*.mp4")] == [again.json()["name"]]
