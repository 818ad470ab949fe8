"""Integration (issue 15): a real `vigil serve` with the hamilton clip as a file camera and
lin_manuel_miranda enrolled through the API before the camera starts. An SSE client and a
WebSocket client (operator API key) both receive his alert from the live pipeline; the operator
confirms it through the API, both streams hear of the decision, and a viewer gets 403."""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from tests.conftest import SHARED
from tests.web_util import login

PASSWORD = "serve-alerts-admin-pw"
LIN = SHARED / "media" / "faces" / "people" / "lin_manuel_miranda" / "ref.png"
ALERT_WAIT_S = 90  # the clip's first faces, on a loaded 2-core machine
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    env = {
        **os.environ,
        "VIGIL_DATA_DIR": str(tmp_path / "data"),
        "VIGIL_CAMERA_POLICY__MEDIA_ROOTS": json.dumps([str(SHARED / "media")]),
        "VIGIL_WEB__ADMIN_PASSWORD": PASSWORD,
    }
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "vigil", "serve", "--port", str(port)],
            env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
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


def _api_key(admin: httpx.Client, csrf: str, username: str, role: str) -> dict[str, str]:
    """A new account of `role` and an API key for it."""
    password = f"{username}-password-1234"
    created = admin.post(
        "/api/users",
        json={"username": username, "password": password, "role": role},
        headers={"X-CSRF-Token": csrf},
    )
    assert created.status_code == 201, created.text
    key = admin.post("/api/keys", json={"name": "test", "username": username}, headers={"X-CSRF-Token": csrf})
    assert key.status_code == 201, key.text
    return {"Authorization": f"Bearer {key.json()['token']}"}


def _read_sse(base: str, key: dict[str, str], out: queue.Queue[Any], ready: threading.Event) -> None:
    try:
        with (
            httpx.Client(base_url=base, headers=key, timeout=None) as client,
            client.stream("GET", f"/api/alerts/stream?timeout_s={ALERT_WAIT_S + 30}") as stream,
        ):
            for line in stream.iter_lines():
                if line == ": connected":
                    ready.set()
                elif line.startswith("data: "):
                    out.put(json.loads(line[6:]))
    except httpx.HTTPError as exc:  # the server stops at the end of the test
        out.put(exc)


def _read_ws(socket: ClientConnection, out: queue.Queue[Any]) -> None:
    try:
        for message in socket:
            out.put(json.loads(message))
    except Exception as exc:  # the test closes the socket at the end
        out.put(exc)


def _next_event(events: queue.Queue[Any], wanted: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            event = events.get(timeout=left)
        except queue.Empty:
            break
        assert not isinstance(event, Exception), event
        if event["type"] == wanted:
            return dict(event)
    raise AssertionError(f"no {wanted} event within {timeout:.0f} s")


def test_live_alert_reaches_sse_and_websocket_and_an_operator_confirms_it(
    server: str, hamilton: Path
) -> None:
    with httpx.Client(base_url=server, timeout=60) as admin:
        csrf = login(admin, "admin", PASSWORD)  # type: ignore[arg-type]
        operator = _api_key(admin, csrf, "operator1", "operator")
        viewer = _api_key(admin, csrf, "viewer1", "viewer")
        files = [("photos", ("ref.png", LIN.read_bytes(), "image/png"))]
        enrolled = admin.post(
            "/api/watchlist", data={"name": "Lin-Manuel Miranda"}, files=files, headers={"X-CSRF-Token": csrf}
        )
        assert enrolled.status_code == 201, enrolled.text
        assert enrolled.json()["accepted"] == 1

        sse_events: queue.Queue[Any] = queue.Queue()
        ws_events: queue.Queue[Any] = queue.Queue()
        sse_ready = threading.Event()
        threading.Thread(
            target=_read_sse, args=(server, operator, sse_events, sse_ready), daemon=True
        ).start()
        ws_url = server.replace("http", "ws", 1) + "/api/alerts/ws"
        with connect(ws_url, additional_headers=operator, open_timeout=10) as ws:
            threading.Thread(target=_read_ws, args=(ws, ws_events), daemon=True).start()
            assert sse_ready.wait(10), "the SSE stream did not open"

            camera = admin.post(
                "/api/cameras", json={"name": "stage", "url": str(hamilton)}, headers={"X-CSRF-Token": csrf}
            )
            assert camera.status_code == 201, camera.text

            from_sse = _next_event(sse_events, "watchlist_alert", ALERT_WAIT_S)["alert"]
            from_ws = _next_event(ws_events, "watchlist_alert", 10)["alert"]
            assert from_sse["id"] == from_ws["id"]
            assert (from_sse["person"], from_sse["camera"], from_sse["status"]) == (
                "Lin-Manuel Miranda",
                "stage",
                "open",
            )
            assert from_sse["level"] in ("probable", "match") and from_sse["score"] >= 0.45
            crop = httpx.get(server + from_sse["crop_url"], headers=operator)
            assert crop.status_code == 200 and crop.headers["content-type"] == "image/webp"

            url = f"/api/alerts/{from_sse['id']}/decision"
            refused = httpx.post(server + url, json={"decision": "confirmed"}, headers=viewer)
            assert refused.status_code == 403
            assert httpx.get(server + "/api/alerts", headers=viewer).status_code == 403
            decided = httpx.post(
                server + url, json={"decision": "confirmed", "note": "seen on stage"}, headers=operator
            )
            assert decided.status_code == 200, decided.text
            assert (decided.json()["status"], decided.json()["decided_by"]) == ("confirmed", "operator1")
            for events in (sse_events, ws_events):
                told = _next_event(events, "watchlist_alert_decided", 10)["alert"]
                assert (told["id"], told["status"]) == (from_sse["id"], "confirmed")
            again = httpx.post(server + url, json={"decision": "rejected"}, headers=operator)
            assert again.status_code == 409
