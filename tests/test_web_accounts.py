"""Issue 14 defect 4, web side: account management through the API and the Account / Users pages.

Roles (admin, viewer, anonymous) on every new route, the last enabled admin, sessions ended by
password, role and status changes (but not the caller's own after changing its password), disabled
accounts refused at once, no password echoed in 422 answers, CSRF on session mutations."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.web_util import ADMIN_PASSWORD, bearer, ctx_of, login, make_app

VIEWER_PASSWORD = "viewer-secret-pw"


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    return make_app(tmp_path, web={"rate_limit_per_min": 100000})


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def _viewer(app: FastAPI, name: str = "vera") -> int:
    return ctx_of(app).users.create(name, VIEWER_PASSWORD, "viewer").id


def _admin_id(app: FastAPI) -> int:
    account = ctx_of(app).users.by_name("admin")
    assert account is not None
    return account.id


def _csrf(client: TestClient, page: str = "/account") -> str:
    found = re.search(r'name="csrf-token" content="([^"]*)"', client.get(page).text)
    assert found and found.group(1)
    return found.group(1)


def test_anonymous_callers_are_refused_by_every_new_route(app: FastAPI, client: TestClient) -> None:
    user_id = _viewer(app)
    calls = [
        ("PATCH", f"/api/users/{user_id}", {"role": "admin"}),
        ("POST", f"/api/users/{user_id}/password", {"password": "new-password-1"}),
        ("POST", "/api/me/password", {"current_password": "x", "new_password": "new-password-1"}),
    ]
    for method, path, body in calls:
        assert client.request(method, path, json=body).status_code == 401, path
    for page in ("/account", "/users"):
        answer = client.get(page, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == f"/login?next={page}"
    assert ctx_of(app).users.get(user_id).role == "viewer"  # type: ignore[union-attr]


def test_viewers_manage_only_themselves(app: FastAPI, client: TestClient) -> None:
    viewer = bearer(app, "viewer")
    admin_id = _admin_id(app)
    refused = [
        ("GET", "/api/users", None),
        ("PATCH", f"/api/users/{admin_id}", {"disabled": True}),
        ("POST", f"/api/users/{admin_id}/password", {"password": "taken-over-pw"}),
        ("POST", "/api/keys", {"name": "k", "username": "admin"}),
    ]
    for method, path, body in refused:
        assert client.request(method, path, json=body, headers=viewer).status_code == 403, path
    # Own keys: create (token shown once), list (no token), revoke; another user's key is not theirs.
    created = client.post("/api/keys", json={"name": "mine"}, headers=viewer)
    assert created.status_code == 201 and created.json()["token"].startswith("vgl_")
    listed = client.get("/api/keys", headers=viewer).json()
    assert {key["name"] for key in listed} == {"test", "mine"} and all("token" not in key for key in listed)
    admin_key_id = ctx_of(app).users.create_key(admin_id, "admin's")[0]
    assert client.delete(f"/api/keys/{admin_key_id}", headers=viewer).status_code == 404
    assert client.delete(f"/api/keys/{created.json()['id']}", headers=viewer).status_code == 204
    assert ctx_of(app).users.authenticate("admin", "taken-over-pw") is None
    # Pages: their Account page, no Users page and no link to it.
    login(client, "viewer-user", "password-viewer-user")
    account = client.get("/account")
    assert account.status_code == 200 and 'href="/account"' in account.text
    assert 'href="/users"' not in account.text and client.get("/users").status_code == 403


def test_admins_change_role_disable_and_list_users(app: FastAPI, client: TestClient) -> None:
    admin = bearer(app)
    user_id = _viewer(app)
    promoted = client.patch(f"/api/users/{user_id}", json={"role": "admin"}, headers=admin)
    assert promoted.status_code == 200 and promoted.json()["role"] == "admin"
    disabled = client.patch(f"/api/users/{user_id}", json={"disabled": True}, headers=admin)
    assert disabled.status_code == 200 and disabled.json()["disabled"] is True
    listed = {user["username"]: user for user in client.get("/api/users", headers=admin).json()}
    assert listed["vera"]["disabled"] is True and listed["admin"]["disabled"] is False
    assert listed["vera"]["created_at"] and listed["vera"]["role"] == "admin"
    assert client.patch(f"/api/users/{user_id}", json={}, headers=admin).status_code == 422
    assert client.patch(f"/api/users/{user_id}", json={"role": "root"}, headers=admin).status_code == 422
    assert client.patch("/api/users/9999", json={"disabled": True}, headers=admin).status_code == 404
    enabled = client.patch(f"/api/users/{user_id}", json={"disabled": False, "role": "viewer"}, headers=admin)
    assert enabled.json() | {"created_at": None} == {
        "id": user_id,
        "username": "vera",
        "role": "viewer",
        "disabled": False,
        "created_at": None,
    }


def test_the_last_enabled_admin_cannot_be_demoted_or_disabled(app: FastAPI, client: TestClient) -> None:
    admin, admin_id = bearer(app, "admin", "admin"), _admin_id(app)
    for change in ({"role": "viewer"}, {"disabled": True}):
        answer = client.patch(f"/api/users/{admin_id}", json=change, headers=admin)
        assert answer.status_code == 409, change
        assert "last admin" in answer.json()["detail"]
    second = client.post(
        "/api/users", json={"username": "ada", "password": "second-admin-pw", "role": "admin"}, headers=admin
    ).json()
    assert (
        client.patch(f"/api/users/{second['id']}", json={"disabled": True}, headers=admin).status_code == 200
    )
    # ada is disabled: admin is the last *enabled* admin again.
    assert client.patch(f"/api/users/{admin_id}", json={"role": "viewer"}, headers=admin).status_code == 409
    assert client.get("/api/me", headers=admin).json()["role"] == "admin"


def test_a_disabled_users_session_and_api_key_stop_at_once(app: FastAPI, client: TestClient) -> None:
    user_id = _viewer(app)
    key = {"Authorization": f"Bearer {ctx_of(app).users.create_key(user_id, 'k')[1]}"}
    login(client, "vera", VIEWER_PASSWORD)
    assert client.get("/api/me").status_code == 200 and client.get("/api/me", headers=key).status_code == 200
    with TestClient(app) as admin_browser:
        csrf = login(admin_browser)
        answer = admin_browser.patch(
            f"/api/users/{user_id}", json={"disabled": True}, headers={"X-CSRF-Token": csrf}
        )
        assert answer.status_code == 200
    assert client.get("/api/me").status_code == 401
    assert client.get("/api/me", headers=key).status_code == 401
    assert client.get("/account", follow_redirects=False).status_code == 303
    assert ctx_of(app).users.authenticate("vera", VIEWER_PASSWORD) is None


def test_a_reset_password_is_the_one_that_logs_in(app: FastAPI, client: TestClient) -> None:
    user_id = _viewer(app)
    login(client, "vera", VIEWER_PASSWORD)
    with TestClient(app) as admin_client:
        reset = admin_client.post(
            f"/api/users/{user_id}/password", json={"password": "reset-by-admin"}, headers=bearer(app)
        )
        assert reset.status_code == 204
        missing = admin_client.post(
            "/api/users/9999/password", json={"password": "whatever-pw"}, headers=bearer(app)
        )
        assert missing.status_code == 404
    assert client.get("/api/me").status_code == 401  # the reset ended vera's session
    login(client, "vera", "reset-by-admin")
    assert client.get("/api/me").json()["username"] == "vera"
    assert ctx_of(app).users.authenticate("vera", VIEWER_PASSWORD) is None


def test_changing_ones_password_ends_the_other_sessions_but_not_this_one(
    app: FastAPI, client: TestClient
) -> None:
    _viewer(app)
    csrf = login(client, "vera", VIEWER_PASSWORD)
    with TestClient(app) as other_browser:
        login(other_browser, "vera", VIEWER_PASSWORD)
        change = {"current_password": VIEWER_PASSWORD, "new_password": "changed-by-vera"}
        answer = client.post("/api/me/password", json=change, headers={"X-CSRF-Token": csrf})
        assert answer.status_code == 204
        assert other_browser.get("/api/me").status_code == 401
    assert client.get("/api/me").json() == {"username": "vera", "role": "viewer", "via": "session"}
    # The renewed session has its own CSRF token, and it works for the next change.
    renewed = _csrf(client)
    assert renewed != csrf
    key = client.post("/api/keys", json={"name": "after"}, headers={"X-CSRF-Token": renewed})
    assert key.status_code == 201
    assert ctx_of(app).users.authenticate("vera", "changed-by-vera") is not None


def test_a_wrong_current_password_is_refused_and_the_session_stays(app: FastAPI, client: TestClient) -> None:
    _viewer(app)
    csrf = login(client, "vera", VIEWER_PASSWORD)
    change = {"current_password": "not-my-password", "new_password": "changed-by-vera"}
    answer = client.post("/api/me/password", json=change, headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 403 and answer.json()["detail"] == "the current password is wrong"
    assert client.get("/api/me").status_code == 200  # still logged in: not a 401
    assert ctx_of(app).users.authenticate("vera", VIEWER_PASSWORD) is not None


def test_wrong_current_passwords_are_throttled_like_failed_logins(app: FastAPI, client: TestClient) -> None:
    """A stolen session (or key) cannot guess the account's password through this route either."""
    viewer = bearer(app, "viewer")
    wrong = {"current_password": "guess-number-x", "new_password": "changed-by-thief"}
    statuses = [client.post("/api/me/password", json=wrong, headers=viewer).status_code for _ in range(6)]
    assert statuses == [403] * 5 + [429]  # web.login_free_failures = 5, then growing delays
    right = {"current_password": "password-viewer-user", "new_password": "changed-by-owner"}
    refused = client.post("/api/me/password", json=right, headers=viewer)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1  # not even tested
    assert ctx_of(app).users.authenticate("viewer-user", "password-viewer-user") is not None


def test_an_api_key_changes_its_users_password(app: FastAPI, client: TestClient) -> None:
    viewer = bearer(app, "viewer")
    change = {"current_password": "password-viewer-user", "new_password": "changed-by-key"}
    answer = client.post("/api/me/password", json=change, headers=viewer)
    assert answer.status_code == 204 and "set-cookie" not in answer.headers
    assert client.get("/api/me", headers=viewer).status_code == 200  # keys keep working
    assert ctx_of(app).users.authenticate("viewer-user", "changed-by-key") is not None


MARKER = "Qp4-unique-pw-Lm"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/me/password", {"current_password": MARKER, "new_password": MARKER[:5]}),
        ("POST", "/api/me/password", {"current_password": MARKER, "new_password": MARKER, "x": MARKER}),
        ("POST", "/api/me/password", {"current_password": MARKER * 30, "new_password": MARKER + "-long"}),
        ("POST", "/api/users/{id}/password", {"password": MARKER[:5]}),
        ("POST", "/api/users/{id}/password", {"password": MARKER, "confirm": MARKER}),
        ("PATCH", "/api/users/{id}", {"role": MARKER}),
    ],
)
def test_invalid_bodies_never_echo_a_password(
    app: FastAPI, client: TestClient, method: str, path: str, body: dict[str, str]
) -> None:
    answer = client.request(method, path.format(id=_viewer(app)), json=body, headers=bearer(app))
    assert answer.status_code == 422
    assert MARKER[:5] not in answer.text and answer.json()["detail"]


def test_session_mutations_of_accounts_need_the_csrf_token(app: FastAPI, client: TestClient) -> None:
    user_id = _viewer(app)
    csrf = login(client)
    calls = [
        ("PATCH", f"/api/users/{user_id}", {"disabled": True}),
        ("POST", f"/api/users/{user_id}/password", {"password": "without-token"}),
        ("POST", "/api/me/password", {"current_password": ADMIN_PASSWORD, "new_password": "without-token"}),
    ]
    for method, path, body in calls:
        answer = client.request(method, path, json=body)
        assert answer.status_code == 403 and "CSRF" in answer.json()["detail"], path
    assert ctx_of(app).users.get(user_id).disabled is False  # type: ignore[union-attr]
    assert ctx_of(app).users.authenticate("admin", ADMIN_PASSWORD) is not None
    with_token = client.patch(
        f"/api/users/{user_id}", json={"disabled": True}, headers={"X-CSRF-Token": csrf}
    )
    assert with_token.status_code == 200


def test_the_pages_show_accounts_and_keys_but_never_a_token(app: FastAPI, client: TestClient) -> None:
    user_id = _viewer(app)
    ctx_of(app).users.set_disabled(user_id, True)
    admin_id = _admin_id(app)
    _, token = ctx_of(app).users.create_key(admin_id, "grafana")
    login(client)
    account = client.get("/account")
    assert account.status_code == 200 and 'id="password-form"' in account.text and "grafana" in account.text
    assert token[:10] in account.text and token not in account.text
    assert '<script src="/static/accounts.js" defer></script>' in account.text
    users = client.get("/users")
    assert users.status_code == 200 and 'href="/users"' in users.text
    row = re.search(rf'<tr class="user-row user-disabled" id="user-row-{user_id}".*?</tr>', users.text, re.S)
    assert row and "vera" in row.group(0) and "Enable" in row.group(0)
    own = re.search(rf'id="user-row-{admin_id}".*?</tr>', users.text, re.S)
    assert own and "(you)" in own.group(0) and 'data-action="delete"' not in own.group(0)
    french = client.get("/account", headers={"Accept-Language": "fr"})
    assert "Changer mon mot de passe" in french.text and "Mes clés d&#39;API" in french.text
    assert client.get("/static/accounts.js").status_code == 200


def test_account_texts_exist_in_english_and_french() -> None:
    from vigil.web.messages.accounts import MESSAGES

    assert MESSAGES["en"].keys() == MESSAGES["fr"].keys()
    assert all(MESSAGES["fr"][key] != MESSAGES["en"][key] for key in ("nav.users", "account.title"))
