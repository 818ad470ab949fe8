"""Revocable sessions (issue 14, defect 2): logout, password and role changes end a user's
signed session cookies, which would otherwise stay valid for `web.session_ttl_h`."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.web_util import ADMIN_PASSWORD, bearer, ctx_of, login, make_app
from vigil.errors import LastAdmin
from vigil.web.auth import SESSION_COOKIE


def _replay(client: TestClient, cookie: str, path: str = "/api/me") -> int:
    """Status of `path` asked with exactly `cookie` as the session (a stolen or old copy)."""
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, cookie)
    return int(client.get(path, follow_redirects=False).status_code)


def test_a_cookie_captured_before_logout_is_refused_after_it(tmp_path: Path) -> None:
    with TestClient(make_app(tmp_path)) as client:
        csrf = login(client)
        captured = client.cookies[SESSION_COOKIE]
        assert _replay(client, captured) == 200
        logout = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
        assert logout.status_code == 303
        assert _replay(client, captured) == 401
        page = _replay(client, captured, "/audit")
        assert page == 303  # pages send the visitor back to the login form
        login(client)  # a new login works again
        assert client.get("/api/me").status_code == 200


def test_logout_ends_the_users_other_sessions_but_not_api_keys(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    with TestClient(app) as laptop, TestClient(app) as phone:
        key = bearer(app, "admin", "admin")
        csrf = login(laptop)
        login(phone)
        assert phone.get("/api/me").status_code == 200
        laptop.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
        assert phone.get("/api/me").status_code == 401
        phone.cookies.clear()
        assert phone.get("/api/me", headers=key).json()["via"] == "api_key"


def test_role_and_password_changes_end_the_users_sessions(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    with TestClient(app) as client:
        users = ctx_of(app).users
        bob = users.create("bob", "bob-password", "admin")
        login(client, "bob", "bob-password")
        assert client.get("/api/me").json()["role"] == "admin"
        users.set_role(bob.id, "viewer")
        assert client.get("/api/me").status_code == 401
        login(client, "bob", "bob-password")
        assert client.get("/api/me").json()["role"] == "viewer"
        users.set_password(bob.id, "new-bob-password")
        assert client.get("/api/me").status_code == 401
        login(client, "bob", "new-bob-password")
        assert client.get("/api/me").status_code == 200


def test_the_last_admin_keeps_the_admin_role(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    with TestClient(app):
        users = ctx_of(app).users
        admin = next(a for a in users.all() if a.username == "admin")
        with pytest.raises(LastAdmin):
            users.set_role(admin.id, "viewer")
        assert users.authenticate("admin", ADMIN_PASSWORD) is not None
