"""Issue 14, defect 1: a camera or database password planted in the settings and in a camera added
at run time never leaves the server: not in any API answer, page, `vigil config` output or log line."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.web_util import bearer, login, make_app
from vigil.cli import app as cli_app
from vigil.redact import redact
from vigil.sources import camera_name

SECRET = "Zq9leak" + uuid.uuid4().hex[:10]  # unique: any hit below is a leak


def test_redact_masks_userinfo_and_query_credentials() -> None:
    assert redact(f"rtsp://admin:{SECRET}@10.0.0.5:554/s failed") == "rtsp://***@10.0.0.5:554/s failed"
    assert redact(f"rtsp://admin:p@ss{SECRET}@h/x") == "rtsp://***@h/x"  # a raw '@' in the password
    assert (
        redact(f"http://cam/snap.cgi?user=admin&pwd={SECRET}&chn=1")
        == "http://cam/snap.cgi?user=***&pwd=***&chn=1"
    )
    assert redact(f"postgresql://vigil:{SECRET}@db:5432/vigil") == "postgresql://***@db:5432/vigil"
    assert redact("/videos/a=b.mp4 and rtsp://host/x") == "/videos/a=b.mp4 and rtsp://host/x"
    assert SECRET not in camera_name(f"http://cam/snap.cgi?user=admin&pwd={SECRET}")


def _wait(fetch: Callable[[], Any], done: Callable[[Any], bool], timeout_s: float = 30) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = fetch()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.3)


def test_a_planted_camera_password_appears_in_no_answer_page_or_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    configured = f"rtsp://admin:{SECRET}@127.0.0.1:9/config-stream"  # nothing listens on port 9
    app = make_app(
        tmp_path,
        cameras_ips=[configured],
        retry_backoff=0.2,
        runtime={"embed_processes": 0, "open_timeout_s": 2, "read_timeout_s": 2},
        web={"start_cameras": True},
    )
    seen: list[str] = []
    with TestClient(app) as client:
        admin, viewer = bearer(app), bearer(app, "viewer")
        added = client.post(
            "/api/cameras",
            json={"url": f"http://127.0.0.1:9/cgi-bin/snap.cgi?user=admin&pwd={SECRET}", "name": "cgi"},
            headers=admin,
        )
        seen.append(added.text)
        cameras = _wait(
            lambda: client.get("/api/cameras", headers=admin).json(),
            lambda cams: len(cams) == 2 and all(c["last_error"] for c in cams),
        )
        assert all(c["last_error"] for c in cameras), cameras  # the errors exist: they were redacted
        assert any("127.0.0.1" in (c["last_error"] or "") for c in cameras), "errors name the camera"
        for camera in cameras:
            for path in (f"/api/cameras/{camera['id']}", f"/api/cameras/{camera['id']}/snapshot.jpg"):
                seen += [client.get(path, headers=headers).text for headers in (admin, viewer)]
        for path in ("/api/cameras", "/api/system", "/api/health/cameras", "/metrics", "/api/jobs"):
            seen += [client.get(path, headers=headers).text for headers in (admin, viewer)]
        seen.append(client.get("/api/events", params={"timeout_s": 1}, headers=admin).text)
        login(client)
        for page in ("/live", "/cameras", "/system", "/jobs", "/visitors", "/audit"):
            seen.append(client.get(page).text)
    leaks = [text[:300] for text in seen if SECRET in text]
    assert not leaks, leaks
    lines = [record.getMessage() + (record.exc_text or "") for record in caplog.records]
    assert any("127.0.0.1:9" in line for line in lines), "the camera errors were logged"
    assert not [line for line in lines if SECRET in line]


def test_vigil_config_prints_no_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAMERAS_IPS", f"rtsp://admin:{SECRET}@10.0.0.5/s,http://c/x.cgi?pwd={SECRET}")
    monkeypatch.setenv("VIGIL_STORE__URL", f"postgresql://vigil:{SECRET}@db/vigil")
    result = CliRunner().invoke(cli_app, ["config"])
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output and "***@10.0.0.5" in result.output


def test_log_records_keep_their_argument_shape_for_other_formatters() -> None:
    """uvicorn's access formatter unpacks `record.args` itself: the redaction must keep it a tuple
    (flattening it broke every access log line of `vigil serve`)."""
    from uvicorn.logging import AccessFormatter

    from vigil.redact import install_log_redaction

    install_log_redaction()
    access = logging.getLogger("uvicorn.access")
    plain = access.makeRecord(
        "uvicorn.access",
        logging.INFO,
        "f",
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/api/system", "1.1", 200),
        None,
    )
    secret = access.makeRecord(
        "uvicorn.access",
        logging.INFO,
        "f",
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", f"/x?pwd={SECRET}", "1.1", 200),
        None,
    )
    formatter = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s')
    assert formatter.format(plain) == '127.0.0.1:5 - "GET /api/system HTTP/1.1" 200 OK'
    line = formatter.format(secret)
    assert SECRET not in line and "pwd=***" in line
