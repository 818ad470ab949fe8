"""One server per camera and database (vigil/store/camera_claims.py): a second `vigil serve` over
the same database does not start a camera the first one runs, says why, and takes it once the first
stops it. Claims on both backends (PostgreSQL advisory locks, SQLite lock files), then two real
servers over one PostgreSQL database with a real file camera."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from tests.conftest import SHARED
from tests.web_util import bearer, ctx_of, make_app
from vigil.store.camera_claims import camera_claims, camera_key
from vigil.store.database import connect


def test_a_camera_is_claimed_by_one_process_at_a_time(db_url: str) -> None:
    first_db, second_db = connect(db_url), connect(db_url)  # two processes' connections
    first, second = camera_claims(first_db), camera_claims(second_db)
    try:
        assert first.claim("door") and first.claim("door"), "a holder may ask again"
        assert not second.claim("door")
        assert second.claim("hall"), "another camera is free"
        first.release("door")
        assert second.claim("door")
        assert not first.claim("door") and not first.claim("hall")
        second.close()  # every claim released
        assert first.claim("door") and first.claim("hall")
    finally:
        first.close()
        second.close()
        first_db.dispose()
        second_db.dispose()


def test_camera_keys_are_stable_and_distinct() -> None:
    assert camera_key("door") == camera_key("door") != camera_key("Door")
    assert -(2**63) <= camera_key("door") < 2**63


def test_the_second_server_leaves_the_camera_to_the_first(tmp_path: Path, pg_url: str) -> None:
    clip = SHARED / "media" / "video" / "hamilton_640x360.mp4"
    camera = [{"url": str(clip), "name": "door", "loop": True}]
    options = {"runtime": {"embed_processes": 0}, "cameras": camera, "web": {"start_cameras": True}}
    first = make_app(tmp_path / "a", pg_url, **options)
    second = make_app(tmp_path / "b", pg_url, **options)
    with TestClient(first) as client_a, TestClient(second) as client_b:
        door_a, door_b = ctx_of(first).cameras.cameras()[0], ctx_of(second).cameras.cameras()[0]
        assert ctx_of(first).cameras.is_running(door_a.id)
        assert not ctx_of(second).cameras.is_running(door_b.id)
        error = ctx_of(second).cameras.runtime(door_b.id).start_error
        assert error == "camera door runs on another Vigil server of this database"
        refused = client_b.post(f"/api/cameras/{door_b.id}/start", headers=bearer(second))
        assert refused.status_code == 409 and "another Vigil server" in refused.json()["detail"]
        assert client_a.post(f"/api/cameras/{door_a.id}/stop", headers=bearer(first)).status_code == 200
        started = client_b.post(f"/api/cameras/{door_b.id}/start", headers=bearer(second))
        assert started.status_code == 200 and ctx_of(second).cameras.is_running(door_b.id)
        again = client_a.post(f"/api/cameras/{door_a.id}/start", headers=bearer(first))
        assert again.status_code == 409, "now the second server holds it"
