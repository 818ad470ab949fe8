"""Security of the web app: authentication, roles, CSRF, rate and size limits, audit, secrets."""

from __future__ import annotations

import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.web_util import ADMIN_PASSWORD, bearer, ctx_of, login, make_app
from vigil.errors import InvalidAccount
from vigil.store.accounts import Account
from vigil.store.passwords import hash_password, verify_password
from vigil.web.auth import SESSION_COOKIE, Sessions
from vigil.web.ratelimit import RateLimiter


def test_anonymous_callers_get_401_except_login_and_health(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    with TestClient(app) as client:
        assert client.get("/api/health").status_code == 200
        assert client.get("/login").status_code == 200
        for path in ("/api/me", "/api/users", "/api/keys", "/api/audit", "/api/track/jobs/x"):
            response = client.get(path)
            assert response.status_code == 401, path
            assert response.headers["www-authenticate"] == "Bearer"
        page = client.get("/audit", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/login?next=/audit"


def test_login_sets_a_session_and_wrong_passwords_are_refused(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    with TestClient(app) as client:
        page = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token
        form = {"username": "admin", "password": "nope", "csrf_token": token.group(1)}
        bad = client.post("/login", data=form)
        assert bad.status_code == 401 and "Wrong user name or password" in bad.text
        assert SESSION_COOKIE not in client.cookies
        login(client)
        assert client.get("/api/me").json() == {"username": "admin", "role": "admin", "via": "session"}


def test_login_without_its_form_token_is_refused(tmp_path: Path) -> None:
    with TestClient(make_app(tmp_path)) as client:
        response = client.post("/login", data={"username": "admin", "password": ADMIN_PASSWORD})
        assert response.status_code == 400
        assert SESSION_COOKIE not in client.cookies


def test_login_never_redirects_off_site(tmp_path: Path) -> None:
    with TestClient(make_app(tmp_path)) as client:
        page = client.get("/login", params={"next": "//evil.example/x"})
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token
        data = {"username": "admin", "password": ADMIN_PASSWORD, "csrf_token": token.group(1)}
        data["next"] = "https://evil.example/"
        response = client.post("/login", data=data, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/"


def test_session_mutations_need_the_csrf_token(tmp_path: Path) -> None:
    with TestClient(make_app(tmp_path)) as client:
        csrf = login(client)
        refused = client.post("/api/keys", json={"name": "k"})
        assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
        wrong = client.post("/api/keys", json={"name": "k"}, headers={"X-CSRF-Token": "x" + csrf})
        assert wrong.status_code == 403
        assert client.post("/api/keys", json={"name": "k"}, headers={"X-CSRF-Token": csrf}).status_code == 201
        # HTML forms carry it as a field
        assert client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303


def test_viewers_read_but_cannot_mutate(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    with TestClient(app) as client:
        viewer = bearer(app, "viewer")
        assert client.get("/api/me", headers=viewer).json()["role"] == "viewer"
        assert client.get("/api/users", headers=viewer).status_code == 403
        body = {"username": "x", "password": "long-enough", "role": "admin"}
        assert client.post("/api/users", json=body, headers=viewer).status_code == 403
        assert client.post("/api/track/jobs", json={"paths": ["/etc"]}, headers=viewer).status_code == 403
        admin = bearer(app, "admin")
        assert client.post("/api/users", json=body, headers=admin).status_code == 201
        assert client.post("/api/users", json=body, headers=admin).status_code == 409


def test_api_keys_are_stored_hashed_and_can_be_revoked(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    with TestClient(app) as client:
        admin = bearer(app, "admin")
        created = client.post("/api/keys", json={"name": "ci"}, headers=admin).json()
        token = created["token"]
        listed = client.get("/api/keys", headers=admin).json()
        assert all(token not in str(row) for row in listed)
        assert {row["name"] for row in listed} >= {"ci"}
        own = {"Authorization": f"Bearer {token}"}
        assert client.get("/api/me", headers=own).status_code == 200
        assert client.delete(f"/api/keys/{created['id']}", headers=admin).status_code == 204
        assert client.get("/api/me", headers=own).status_code == 401
        assert client.get("/api/me", headers={"Authorization": "Bearer vgl_forged"}).status_code == 401


def test_a_too_short_first_admin_password_stops_the_server(tmp_path: Path) -> None:
    # It used to be swallowed with the "created by another process" case: no admin, no message.
    with pytest.raises(InvalidAccount, match="at least 8 characters"):
        make_app(tmp_path, web={"admin_password": "short"})


def test_the_last_admin_cannot_be_deleted(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    with TestClient(app) as client:
        admin = bearer(app, "admin", username="admin")
        users = client.get("/api/users", headers=admin).json()
        assert [u["username"] for u in users] == ["admin"]
        response = client.delete(f"/api/users/{users[0]['id']}", headers=admin)
        assert response.status_code == 409 and "last admin" in response.json()["detail"]


def test_every_mutation_and_login_attempt_is_audited(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    with TestClient(app) as client:
        viewer = bearer(app, "viewer")
        client.post("/api/users", json={"username": "x", "password": "long-enough"}, headers=viewer)
        csrf = login(client)
        client.post("/api/keys", json={"name": "k"}, headers={"X-CSRF-Token": csrf})
        log = client.get("/api/audit", headers=bearer(app, "admin")).json()
        actions = [(e["actor"], e["action"], e["status"]) for e in log["items"]]
        assert ("viewer-user", "POST /api/users", 403) in actions
        assert ("admin", "login", 303) in actions
        assert ("admin", "POST /api/keys", 201) in actions
        page = client.get("/audit")
        assert page.status_code == 200 and "POST /api/keys" in page.text
        assert client.get("/audit", headers=viewer).status_code in (401, 403)


def test_mutations_are_rate_limited(tmp_path: Path) -> None:
    app = make_app(tmp_path, web={"rate_limit_per_min": 3})
    with TestClient(app) as client:
        admin = bearer(app, "admin")
        codes = [
            client.post("/api/keys", json={"name": f"k{i}"}, headers=admin).status_code for i in range(5)
        ]
        assert codes[:3] == [201, 201, 201]
        assert codes[3] == 429
        limited = client.post("/api/keys", json={"name": "k"}, headers=admin)
        assert int(limited.headers["retry-after"]) >= 1
        assert client.get("/api/me", headers=admin).status_code == 200  # reads are not limited


def test_rate_limiter_refills_over_time() -> None:
    now = [0.0]
    limiter = RateLimiter(2, 60.0, clock=lambda: now[0])
    assert limiter.acquire("a") == 0 and limiter.acquire("a") == 0
    assert limiter.acquire("a") == pytest.approx(30.0)
    assert limiter.acquire("b") == 0  # per client
    now[0] = 31.0
    assert limiter.acquire("a") == 0


def test_oversized_bodies_get_413(tmp_path: Path) -> None:
    app = make_app(tmp_path, web={"max_body_kb": 4})
    with TestClient(app) as client:
        admin = bearer(app, "admin")
        big = {"name": "x" * 5000}
        assert client.post("/api/keys", json=big, headers=admin).status_code == 413

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
            for _ in range(10):
                yield b"x" * 1024

        streamed = client.post("/api/keys", content=chunks(), headers=admin)
        assert streamed.status_code == 413


def test_security_headers_on_every_response(tmp_path: Path) -> None:
    with TestClient(make_app(tmp_path)) as client:
        for response in (client.get("/login"), client.get("/api/me")):
            assert response.headers["x-frame-options"] == "DENY"
            assert "script-src 'self'" in response.headers["content-security-policy"]


def test_sessions_are_signed_and_expire(tmp_path: Path) -> None:
    sessions = Sessions("key-1", ttl_s=3600)
    cookie = sessions.issue(Account(7, "bob", "viewer"))
    claim = sessions.read(cookie)
    assert claim is not None and claim.user_id == 7 and claim.version == 0
    assert Sessions("another-key", ttl_s=3600).read(cookie) is None
    assert sessions.read(cookie[:-2] + "xx") is None
    assert Sessions("key-1", ttl_s=-1).read(cookie) is None


def test_passwords_are_hashed_with_a_salt() -> None:
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first != second and "correct horse" not in first
    assert verify_password("correct horse", first) and not verify_password("wrong", first)
    assert not verify_password("x", "garbage")


def test_generated_secrets_are_private_files_and_stable(tmp_path: Path) -> None:
    app = make_app(tmp_path, web={"admin_password": None})
    data = tmp_path / "data"
    for name in ("secret_key", "admin_password"):
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o600
    password = (data / "admin_password").read_text().strip()
    with TestClient(app) as client:
        login(client, "admin", password)
    key = ctx_of(app).signing_key
    assert ctx_of(make_app(tmp_path)).signing_key == key  # reused after a restart


def test_secrets_from_env_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "key.txt"
    secret.write_text("from-a-file\n")
    monkeypatch.setenv("VIGIL_WEB__SECRET_KEY_FILE", str(secret))
    app = make_app(tmp_path)
    assert ctx_of(app).signing_key == "from-a-file"
    assert not (tmp_path / "data" / "secret_key").exists()
