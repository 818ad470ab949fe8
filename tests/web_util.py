"""Helpers for web tests: build an app over a temp data dir, log in, get API keys."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import SHARED
from vigil.config import VigilSettings, load_settings
from vigil.web.app import create_web_app
from vigil.web.context import WebContext

ADMIN_PASSWORD = "admin-secret-pw"


def web_settings(tmp_path: Path, **overrides: Any) -> VigilSettings:
    """Settings for a test server: temp data dir, known admin password, no camera workers."""
    web = {"admin_password": ADMIN_PASSWORD, "start_cameras": False, **overrides.pop("web", {})}
    # Web tests add cameras from the shared media, their temp dir and dead loopback ports; the
    # policy's own tests (test_web_camera_policy.py) pass their own `camera_policy`.
    policy = {"media_roots": [SHARED, tmp_path], "allow_loopback": True}
    camera_policy = overrides.pop("camera_policy", policy)
    return load_settings(data_dir=tmp_path / "data", web=web, camera_policy=camera_policy, **overrides)


def make_app(tmp_path: Path, db_url: str | None = None, **overrides: Any) -> FastAPI:
    return create_web_app(web_settings(tmp_path, **overrides), db_url)


def ctx_of(app: FastAPI) -> WebContext:
    ctx = app.state.ctx
    assert isinstance(ctx, WebContext)
    return ctx


def wait_buffered(app: FastAPI, camera_id: int, seconds: float, timeout: float = 90.0) -> None:
    """Until the camera's clip ring holds `seconds` of video (a loaded machine starts cameras
    late: a fixed sleep before a save-clip gave a shorter clip, or a 503)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        activity = ctx_of(app).cameras.live_activity(camera_id)
        ring = None if activity is None else activity.clips
        if ring is not None and ring.span_s >= seconds:
            return
        time.sleep(0.2)
    raise AssertionError(f"camera {camera_id} did not buffer {seconds} s of video in {timeout} s")


def login(client: TestClient, username: str = "admin", password: str = ADMIN_PASSWORD) -> str:
    """Logs the client in through the real form; returns the session's CSRF token."""
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, "login form without CSRF token"
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    me = client.get("/audit" if username == "admin" else "/live")
    csrf = re.search(r'name="csrf-token" content="([^"]*)"', me.text)
    assert csrf and csrf.group(1), "pages must carry the session's CSRF token"
    return csrf.group(1)


def bearer(app: FastAPI, role: str = "admin", username: str | None = None) -> dict[str, str]:
    """An Authorization header for a (new, when needed) user of `role`."""
    users = ctx_of(app).users
    name = username or f"{role}-user"
    account = next((a for a in users.all() if a.username == name), None)
    if account is None:
        account = users.create(name, "password-" + name, role)  # type: ignore[arg-type]
    _, token = users.create_key(account.id, "test")
    return {"Authorization": f"Bearer {token}"}


class ServedApp:
    """The app over real HTTP (uvicorn in a thread): streams and the thread pool behave as in
    production, which the in-process TestClient does not reproduce."""

    def __init__(self, app: FastAPI) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(20)
        assert not self.thread.is_alive(), "server did not shut down (a stream kept it busy)"


def log_in_page(page: Any, base: str, path: str) -> None:
    """A Playwright page logged in as the test admin, at `base + path`."""
    page.goto(f"{base}{path}")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}{path}")
