"""Login brute force (issue 14, defect 3): proxy headers only from trusted proxies, a per-IP limit
on login attempts, and growing per-account delays that refuse guesses without testing them."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import SHARED
from tests.web_util import ADMIN_PASSWORD, ctx_of, make_app
from vigil.config import load_settings
from vigil.errors import ConfigError
from vigil.store.audit import AuditRecord
from vigil.web.auth import SESSION_COOKIE
from vigil.web.login_throttle import DelayPolicy, LoginThrottle, LoginThrottled

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def attempt(
    client: httpx.Client | TestClient, username: str, password: str, **headers: str
) -> httpx.Response:
    """One login through the real form, as a new browser (the form's page first, for its CSRF token)."""
    client.cookies.clear()
    token = CSRF_FIELD.search(client.get("/login").text)
    assert token, "login form without CSRF token"
    form = {"username": username, "password": password, "csrf_token": token.group(1)}
    return client.post("/login", data=form, headers=headers, follow_redirects=False)


def login_records(records: list[AuditRecord]) -> list[AuditRecord]:
    return [r for r in records if r.action == "login"]


# ------------------------------------------------------------------ settings
def test_trusted_proxies_take_ip_addresses_and_networks_only() -> None:
    good = ["10.0.0.5", "10.0.0.0/24", "::1", "fd00::/8"]
    assert load_settings(web={"trusted_proxies": good}).web.trusted_proxies == good
    assert load_settings().web.trusted_proxies == [], "no proxy is trusted by default"
    for bad in ("proxy.local", "*", "10.0.0.1/8", "10.0.0.300"):
        with pytest.raises(ConfigError) as refused:
            load_settings(web={"trusted_proxies": ["10.0.0.5", bad]})
        assert f"{bad!r} is not an IP address or CIDR network" in str(refused.value)
        assert "web.trusted_proxies.1" in str(refused.value)


# ------------------------------------------------------------------ `vigil serve`, real HTTP
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(tmp_path: Path, **env: str) -> Iterator[str]:
    """`vigil serve` as operators run it (its own uvicorn settings), with `env` added."""
    port = _free_port()
    full_env = {
        **os.environ,
        "VIGIL_DATA_DIR": str(tmp_path / "data"),
        "VIGIL_SHARED_DIR": str(SHARED),
        "VIGIL_WEB__ADMIN_PASSWORD": ADMIN_PASSWORD,
        "VIGIL_WEB__START_CAMERAS": "false",
        **env,
    }
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "vigil", "serve", "--port", str(port)],
            env=full_env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(base, process, log_path)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_until_up(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"vigil serve exited: {log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail("vigil serve did not answer within 60 s")


def _audited_logins(admin: httpx.Client) -> list[AuditRecord]:
    items = admin.get("/api/audit", params={"limit": 1000}).json()["items"]
    return [AuditRecord(**{**item, "at": datetime.fromisoformat(item["at"])}) for item in items]


def _admin(base: str) -> httpx.Client:
    admin = httpx.Client(base_url=base, timeout=10)
    assert attempt(admin, "admin", ADMIN_PASSWORD).status_code == 303
    return admin


@pytest.fixture
def default_server(tmp_path: Path) -> Iterator[str]:
    # uvicorn reads FORWARDED_ALLOW_IPS when it handles proxy headers itself: it must not re-enable them.
    yield from _serve(tmp_path, FORWARDED_ALLOW_IPS="*")


@pytest.fixture
def proxied_server(tmp_path: Path) -> Iterator[str]:
    yield from _serve(tmp_path, VIGIL_WEB__TRUSTED_PROXIES=json.dumps(["127.0.0.1"]))


def test_forwarded_for_from_an_untrusted_peer_neither_escapes_the_limit_nor_reaches_the_audit_log(
    default_server: str,
) -> None:
    """Before: uvicorn believed X-Forwarded-For from 127.0.0.1, so rotating it gave each guess a new
    IP (no limit) and put the spoofed IPs into the audit log."""
    admin = _admin(default_server)  # the admin's login is 1 of the 10 attempts of 127.0.0.1
    spoofed = [f"198.51.100.{i}" for i in range(1, 13)]
    with httpx.Client(base_url=default_server, timeout=10) as attacker:
        answers = [
            attempt(attacker, f"guess{i}", "wrong-password", **{"X-Forwarded-For": ip})
            for i, ip in enumerate(spoofed)
        ]
    statuses = [a.status_code for a in answers]
    assert statuses.count(401) <= 9 and statuses[-1] == 429, statuses
    refused = answers[-1]
    assert int(refused.headers["retry-after"]) >= 1
    assert "Too many login attempts from your address" in refused.text
    logins = login_records(_audited_logins(admin))
    assert logins and {r.ip for r in logins} == {"127.0.0.1"}
    assert {r.status for r in logins} == {303, 401, 429}


def test_forwarded_for_from_a_trusted_proxy_is_the_client_audited_and_limited(proxied_server: str) -> None:
    admin = _admin(proxied_server)
    rotating = [f"203.0.113.{i}" for i in range(1, 13)]
    with httpx.Client(base_url=proxied_server, timeout=10) as proxy:
        spread = [
            attempt(proxy, f"guess{i}", "wrong", **{"X-Forwarded-For": ip}) for i, ip in enumerate(rotating)
        ]
        assert [a.status_code for a in spread] == [401] * len(rotating), "one attempt per client IP"
        one_ip = {"X-Forwarded-For": "192.0.2.77"}
        repeated = [attempt(proxy, f"other{i}", "wrong", **one_ip).status_code for i in range(11)]
    assert repeated[:10] == [401] * 10 and repeated[10] == 429, repeated
    audited_ips = {r.ip for r in login_records(_audited_logins(admin))}
    assert audited_ips == {"127.0.0.1", "192.0.2.77", *rotating}  # the admin logged in directly


# ------------------------------------------------------------------ per-account delays
class FakeClock:
    """The throttle's clock, which also stamps the failures it records; moved on by the test."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


POLICY = {"login_free_failures": 3, "login_delay_base_s": 10, "login_delay_max_s": 40}


@pytest.fixture
def delayed_app(tmp_path: Path) -> tuple[FastAPI, FakeClock]:
    """An app whose per-account delays follow a test clock (the per-IP limit is out of the way)."""
    app = make_app(tmp_path, web={"login_attempts_per_min": 10000, **POLICY})
    ctx, clock = ctx_of(app), FakeClock()
    throttle = ctx.login_throttle
    ctx.login_throttle = LoginThrottle(throttle.failures, throttle.policy, throttle.per_client, clock)
    ctx.users.create("alice", "alice-password", "viewer")
    ctx.users.create("bob", "bob-password", "viewer")
    return app, clock


def _outcome(response: httpx.Response) -> tuple[int, str | None]:
    return response.status_code, response.headers.get("retry-after")


def test_after_the_free_failures_each_attempt_waits_longer_and_is_not_tested(
    delayed_app: tuple[FastAPI, FakeClock],
) -> None:
    app, clock = delayed_app
    with TestClient(app) as client:
        assert [attempt(client, "alice", "wrong").status_code for _ in range(3)] == [401] * 3
        refused = attempt(client, "alice", "alice-password")  # the right password, during the delay
        assert _outcome(refused) == (429, "10")
        assert "Too many failed logins with this user name. Try again in 10 s." in refused.text
        assert SESSION_COOKIE not in client.cookies
        clock.advance(10)
        assert attempt(client, "alice", "wrong").status_code == 401  # tested again after the delay
        assert _outcome(attempt(client, "alice", "wrong")) == (429, "20")  # the delay doubled
        clock.advance(19)
        assert _outcome(attempt(client, "alice", "alice-password")) == (429, "1")
        clock.advance(1)
        assert attempt(client, "alice", "wrong").status_code == 401
        assert _outcome(attempt(client, "alice", "wrong")) == (429, "40")
        clock.advance(40)
        assert attempt(client, "alice", "wrong").status_code == 401
        assert _outcome(attempt(client, "alice", "wrong")) == (429, "40"), "capped at login_delay_max_s"
    records = login_records(ctx_of(app).audit.page(100)[1])
    refusals = [r for r in records if r.status == 429]
    assert len(refusals) == 5 and {(r.actor, r.target) for r in refusals} == {("alice", "refused (account)")}


def test_a_success_after_the_delay_clears_the_count(delayed_app: tuple[FastAPI, FakeClock]) -> None:
    app, clock = delayed_app
    with TestClient(app) as client:
        for _ in range(3):
            attempt(client, "alice", "wrong")
        clock.advance(10)
        assert attempt(client, "alice", "alice-password").status_code == 303
        assert [attempt(client, "alice", "wrong").status_code for _ in range(3)] == [401] * 3
        assert attempt(client, "alice", "wrong").status_code == 429


def test_the_count_restarts_after_a_quiet_period(delayed_app: tuple[FastAPI, FakeClock]) -> None:
    app, clock = delayed_app
    with TestClient(app) as client:
        for _ in range(5):
            clock.advance(40)
            attempt(client, "alice", "wrong")
        clock.advance(24 * 3600)  # login_failures_reset_h
        assert [attempt(client, "alice", "wrong").status_code for _ in range(3)] == [401] * 3
        assert _outcome(attempt(client, "alice", "wrong")) == (429, "10")


def test_other_accounts_are_not_delayed(delayed_app: tuple[FastAPI, FakeClock]) -> None:
    app, _ = delayed_app
    with TestClient(app) as client:
        for _ in range(4):
            attempt(client, "alice", "wrong")
        assert attempt(client, "alice", "alice-password").status_code == 429
        assert attempt(client, "bob", "bob-password").status_code == 303
        assert attempt(client, "admin", ADMIN_PASSWORD).status_code == 303


def test_unknown_names_are_delayed_like_existing_ones(delayed_app: tuple[FastAPI, FakeClock]) -> None:
    """Otherwise the delays would tell which accounts exist. Names are compared lower-cased."""
    app, clock = delayed_app

    def sequence(client: TestClient, spellings: list[str]) -> list[tuple[int, str | None]]:
        outcomes = []
        for name in spellings:
            outcomes.append(_outcome(attempt(client, name, "wrong")))
            clock.advance(5)
        return outcomes

    with TestClient(app) as client:
        known = sequence(client, ["alice", "Alice", "ALICE", "alice", "alice", "alice"])
        unknown = sequence(client, ["nobody", "Nobody", "NOBODY", "nobody", "nobody", "nobody"])
    assert known == unknown == [(401, None)] * 3 + [(429, "5"), (401, None), (429, "15")]


def test_the_per_ip_limit_answers_with_a_page_in_the_users_language(tmp_path: Path) -> None:
    app = make_app(tmp_path, web={"login_attempts_per_min": 2})
    with TestClient(app, headers={"Accept-Language": "fr"}) as client:
        assert [attempt(client, f"name{i}", "wrong").status_code for i in range(2)] == [401, 401]
        refused = attempt(client, "admin", ADMIN_PASSWORD)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) in range(25, 31)
    assert refused.headers["content-type"].startswith("text/html")
    assert "Trop de tentatives de connexion depuis votre adresse. Réessayez dans" in refused.text
    newest = login_records(ctx_of(app).audit.page(100)[1])[0]
    assert (newest.actor, newest.status, newest.target) == ("admin", 429, "refused (client)")


def test_concurrent_attempts_cannot_share_one_opening(delayed_app: tuple[FastAPI, FakeClock]) -> None:
    """Attempts racing through the same end of a delay: the count is raised atomically, so one passes."""
    app, clock = delayed_app
    throttle = ctx_of(app).login_throttle
    for _ in range(3):
        throttle.admit("alice", "client")
    clock.advance(10)
    outcomes: list[str] = []
    start = threading.Barrier(8)

    def racer() -> None:
        start.wait()
        try:
            throttle.admit("alice", "client")
            outcomes.append("admitted")
        except LoginThrottled:
            outcomes.append("refused")

    threads = [threading.Thread(target=racer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(outcomes) == ["admitted"] + ["refused"] * 7


def test_delay_policy_doubles_and_caps() -> None:
    policy = DelayPolicy(free_failures=5, base_s=2, max_s=900, reset_s=86400)
    assert [policy.delay_after(n) for n in (0, 4, 5, 6, 7, 12)] == [0, 0, 2, 4, 8, 256]
    assert policy.delay_after(14) == 900 and policy.delay_after(10**9) == 900
