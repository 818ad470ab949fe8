"""A camera moves to the waiting server when the server that ran it goes away
(vigil/web/camera_takeover.py, CameraManager.take_over): two real servers over one database, a
real file camera. The waiting server takes the camera once the first lets it go, but never a
camera the first stopped, nor one renamed there meanwhile under its old name (it would run the
same camera twice)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.conftest import SHARED
from tests.web_util import bearer, ctx_of, make_app
from vigil.store.camera_claims import camera_claims, camera_key
from vigil.store.database import connect
from vigil.web.cameras import LOST_CLAIM

CLIP = SHARED / "media" / "video" / "hamilton_640x360.mp4"
PERIOD_S = 0.2
CLAIMED = "camera door runs on another Vigil server of this database"


def _server(tmp_path: Path, db_url: str, cameras: list[dict[str, Any]]) -> FastAPI:
    web = {"start_cameras": True, "camera_takeover_s": PERIOD_S}
    return make_app(tmp_path, db_url, runtime={"embed_processes": 0}, cameras=cameras, web=web)


def _within(seconds: float, condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_the_waiting_server_takes_the_camera_when_the_first_stops(tmp_path: Path, db_url: str) -> None:
    door = [{"url": str(CLIP), "name": "door", "loop": True}]
    first, second = _server(tmp_path / "a", db_url, door), _server(tmp_path / "b", db_url, door)
    first_client = TestClient(first)
    first_client.__enter__()
    try:
        with TestClient(second):
            cameras = ctx_of(second).cameras
            door_b = cameras.cameras()[0]
            assert ctx_of(first).cameras.is_running(ctx_of(first).cameras.cameras()[0].id)
            time.sleep(5 * PERIOD_S)
            assert not cameras.is_running(door_b.id), "held by the first server"
            assert cameras.runtime(door_b.id).start_error == CLAIMED
            first_client.__exit__(None, None, None)  # the first server stops: its claims go
            assert _within(10, lambda: cameras.is_running(door_b.id)), cameras.runtime(door_b.id)
            assert cameras.runtime(door_b.id).start_error is None
    finally:
        first_client.__exit__(None, None, None)


def test_a_camera_stopped_on_the_first_server_stays_stopped(tmp_path: Path, pg_url: str) -> None:
    door = [{"url": str(CLIP), "name": "door", "loop": True}]
    first, second = _server(tmp_path / "a", pg_url, door), _server(tmp_path / "b", pg_url, door)
    with TestClient(first) as client_a, TestClient(second):
        door_a = ctx_of(first).cameras.cameras()[0]
        cameras = ctx_of(second).cameras
        door_b = cameras.cameras()[0]
        assert client_a.post(f"/api/cameras/{door_a.id}/stop", headers=bearer(first)).status_code == 200
        assert _within(2, lambda: not cameras.get(door_b.id).enabled), "the stored flag is read again"
        time.sleep(5 * PERIOD_S)
        assert not cameras.is_running(door_b.id), "an operator stopped it: nobody runs it"


def test_a_camera_renamed_on_the_first_server_is_not_run_twice(tmp_path: Path, pg_url: str) -> None:
    first = _server(tmp_path / "a", pg_url, [])
    with TestClient(first) as client_a:
        added = client_a.post(
            "/api/cameras", json={"url": str(CLIP), "name": "hall", "loop": True}, headers=bearer(first)
        )
        assert added.status_code == 201, added.text
        camera_id = added.json()["id"]
        second = _server(tmp_path / "b", pg_url, [])  # it lists the camera from the database
        with TestClient(second):
            cameras = ctx_of(second).cameras
            assert not cameras.is_running(camera_id)
            renamed = client_a.patch(
                f"/api/cameras/{camera_id}", json={"name": "lobby"}, headers=bearer(first)
            )
            assert renamed.status_code == 200 and ctx_of(first).cameras.is_running(camera_id)
            # "hall" is free now, but the camera is "lobby", which the first server runs.
            assert _within(2, lambda: cameras.get(camera_id).name == "lobby")
            time.sleep(5 * PERIOD_S)
            assert not cameras.is_running(camera_id), "the same camera would run on both servers"


def _kill_claims_session(pg_url: str, camera: str) -> None:
    """Ends, on the database, the session that holds `camera`'s claim (a network cut, a restarted
    pooler): the database drops its locks."""
    key = camera_key(camera) & 0xFFFFFFFFFFFFFFFF  # a bigint lock is stored as classid, objid halves
    admin = connect(pg_url)
    try:
        with admin.writer.begin() as conn:
            killed = conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                    "AND classid = CAST(:high AS oid) AND objid = CAST(:low AS oid)"
                ),
                {"high": key >> 32, "low": key & 0xFFFFFFFF},
            ).all()
    finally:
        admin.dispose()
    assert len(killed) == 1, killed


def test_a_server_whose_lost_claim_was_taken_stops_the_camera(tmp_path: Path, pg_url: str) -> None:
    door = [{"url": str(CLIP), "name": "door", "loop": True}]
    first = make_app(  # no takeover thread: its check is called below, after the second's
        tmp_path / "a", pg_url, runtime={"embed_processes": 0}, cameras=door,
        web={"start_cameras": True, "camera_takeover_s": 0},
    )  # fmt: skip
    second = _server(tmp_path / "b", pg_url, door)
    with TestClient(first), TestClient(second):
        a, b = ctx_of(first).cameras, ctx_of(second).cameras
        door_a, door_b = a.cameras()[0].id, b.cameras()[0].id
        assert a.is_running(door_a) and not b.is_running(door_b)
        _kill_claims_session(pg_url, "door")
        assert _within(10, lambda: b.is_running(door_b)), b.runtime(door_b)
        assert a.is_running(door_a), "the first server has not checked its claims yet"
        assert a.take_over() == []
        assert not a.is_running(door_a) and b.is_running(door_b)
        assert a.runtime(door_a).start_error == LOST_CLAIM


def test_a_lost_claim_nobody_took_is_taken_again_without_a_stop(
    tmp_path: Path, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    door = [{"url": str(CLIP), "name": "door", "loop": True}]
    first = _server(tmp_path / "a", pg_url, door)
    with TestClient(first):
        cameras = ctx_of(first).cameras
        door_a = cameras.cameras()[0].id
        _kill_claims_session(pg_url, "door")
        assert _within(10, lambda: "taken again" in caplog.text), caplog.text
        assert cameras.is_running(door_a) and cameras.runtime(door_a).start_error is None
        other_db = connect(pg_url)
        other = camera_claims(other_db)
        try:
            assert not other.claim("door"), "claimed again by the first server"
        finally:
            other.close()
            other_db.dispose()
