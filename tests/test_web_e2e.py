"""End-to-end in a real browser: Debian's Chromium driven by Playwright against `vigil serve`.

Log in, add a camera playing the hamilton clip, see the live picture with green face boxes
(screenshot + pixel check), open the recurrence page, filter, open a visitor page.
Set E2E_SCREENSHOT_DIR to keep the screenshots (the README's come from here)."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from tests.conftest import SHARED, shared_file

CHROMIUM = Path("/usr/bin/chromium")
ALL_IMAGES_LOADED = "() => Array.from(document.images).every(img => img.complete)"
PASSWORD = "e2e-admin-password"
# Headless Chromium on a closed network: no background connections, no sandbox as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


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
        "VIGIL_SHARED_DIR": str(SHARED),
        "VIGIL_CAMERA_POLICY__MEDIA_ROOTS": json.dumps([str(SHARED / "media")]),  # the clip added below
        "VIGIL_WEB__ADMIN_PASSWORD": PASSWORD,
    }
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "vigil", "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, process, tmp_path / "server.log")
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


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


def green_box_pixels(png: bytes) -> int:
    """Pixels of the overlay's pure green (BGR 0,255,0), tolerant to JPEG and scaling."""
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not an image"
    b, g, r = (image[..., i].astype(int) for i in range(3))
    return int(((g > 200) & (r < 90) & (b < 90)).sum())


def _wait_for_images(page: Any) -> None:
    """Polls with evaluate(): wait_for_function() evaluates strings, which the pages' CSP forbids."""
    for _ in range(150):
        if page.evaluate(ALL_IMAGES_LOADED):
            return
        page.wait_for_timeout(200)
    pytest.fail("images did not finish loading within 30 s")


def _keep(name: str, data: bytes, tmp_path: Path) -> None:
    (tmp_path / name).write_bytes(data)
    target = os.environ.get("E2E_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / name, Path(target) / name)


def test_login_add_camera_live_boxes_and_recurrence(server: str, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: run `make system-deps` (installs Debian's chromium)")
    from playwright.sync_api import expect, sync_playwright

    video = shared_file("media/video/hamilton_640x360.mp4")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(30_000)
        try:
            # 1. log in (the live page redirects to the login form)
            page.goto(f"{server}/live")
            expect(page).to_have_url(f"{server}/login?next=/live")
            page.fill("input[name=username]", "admin")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            expect(page).to_have_url(f"{server}/live")
            expect(page.locator("#live-empty")).to_be_visible()  # no camera yet: invited to add one

            # 2. add a camera playing the clip
            page.click("#live-add-camera")
            page.fill("#camera-url", str(video))
            page.fill("#camera-name", "stage")
            page.check("#camera-loop")
            page.click("#camera-add-form button[type=submit]")
            row = page.locator(".camera-row[data-camera-name=stage]")
            expect(row).to_be_visible(timeout=30_000)  # the add opens the file first: slow on a busy box
            expect(row.locator(".camera-state")).to_have_class("camera-state state-running", timeout=30_000)

            # 3. the live view shows the picture with green boxes
            page.goto(f"{server}/live")
            image = page.locator(".live-img").first
            expect(image).to_be_visible()
            best, shot = 0, b""
            deadline = time.monotonic() + 45
            while time.monotonic() < deadline and best < 300:
                page.wait_for_timeout(1000)
                if image.evaluate("img => img.naturalWidth") == 0:
                    continue
                current = image.screenshot()
                if green_box_pixels(current) > best:
                    best, shot = green_box_pixels(current), current
                    _keep("live.png", page.screenshot(), tmp_path)
            assert shot, "the live picture never loaded"
            assert best >= 300, f"no green face boxes in the live picture ({best} green pixels)"
            frame = cv2.imdecode(np.frombuffer(shot, np.uint8), cv2.IMREAD_COLOR)
            assert frame is not None and float(frame.std()) > 20, "the live picture is blank"

            # 4. the recurrence page: wait for a visitor, filter, open it
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                page.goto(f"{server}/visitors?min_visits=1&window=7d")
                if page.locator(".visitor-card").count() > 0:
                    break
                page.wait_for_timeout(2000)
            page.fill("#filter-min-visits", "1")
            page.fill("#filter-window", "7d")
            if page.is_checked("#filter-loyal"):
                page.uncheck("#filter-loyal")
            page.click("#filter-apply")
            expect(page).to_have_url(re.compile(r"min_visits=1"))
            cards = page.locator(".visitor-card")
            expect(cards.first).to_be_visible()
            _wait_for_images(page)
            # the reference photos come through signed URLs: they must really load in the browser
            assert page.locator("img.visitor-reference").first.evaluate("img => img.naturalWidth") > 0
            _keep("visitors.png", page.screenshot(), tmp_path)
            cards.first.locator(".visitor-link").click()
            expect(page.locator("#visitor-detail")).to_be_visible()
            expect(page.locator("#sighting-timeline .sighting").first).to_be_visible()
            _wait_for_images(page)
            _keep("visitor.png", page.screenshot(), tmp_path)
        finally:
            browser.close()


def test_jobs_page_follows_a_tracking_job_and_cancels_it(server: str, tmp_path: Path) -> None:
    """The Jobs page's script polls /api/jobs: the bar moves, then an admin cancels the job
    (confirm dialog, CSRF header) and the page shows it cancelled."""
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: run `make system-deps` (installs Debian's chromium)")
    from playwright.sync_api import expect, sync_playwright

    video = shared_file("media/video/expressions_640x360.mp4")  # 472 frames: long enough to watch
    job = {"paths": [str(video)], "out_dir": str(tmp_path / "out"), "workers": 1, "chunk_size": 10}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(30_000)
        try:
            page.goto(f"{server}/jobs")
            page.fill("input[name=username]", "admin")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            expect(page).to_have_url(f"{server}/jobs")
            expect(page.locator("#jobs-none")).to_be_visible()
            # Start a job the way a page script would (session cookie + CSRF header).
            job_id = page.evaluate("(body) => window.vigil.api('POST', '/api/track/jobs', body)", job)["id"]
            expect(page.locator(f"#job-{job_id}")).to_be_visible()  # the poll saw a new job: reload
            row = page.locator(f"#job-{job_id}")
            for _ in range(300):
                if float(row.locator(".job-bar").evaluate("bar => bar.value")) > 0:
                    break
                page.wait_for_timeout(100)
            else:
                pytest.fail("the progress bar never moved")
            expect(row.locator(".job-state")).to_have_text("running")
            page.on("dialog", lambda dialog: dialog.accept())
            row.locator("button.job-cancel").click()
            expect(row.locator(".job-state")).to_have_text("cancelled", timeout=60_000)
            expect(row.locator("button.job-cancel")).to_be_hidden()
            _keep("jobs.png", page.screenshot(), tmp_path)
        finally:
            browser.close()


def test_api_docs_page_renders_the_operations_after_login(server: str, tmp_path: Path) -> None:
    """/docs was a blank page (the CSP blocked Swagger UI's CDN and inline script); now it shows
    the API's operations, from the app's own files, after a login."""
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: run `make system-deps` (installs Debian's chromium)")
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(30_000)
        blocked: list[str] = []
        page.on(
            "console",
            lambda message: blocked.append(message.text) if "Content Security" in message.text else None,
        )
        try:
            page.goto(f"{server}/docs")
            page.fill("input[name=username]", "admin")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            expect(page).to_have_url(f"{server}/docs")
            expect(page.locator(".opblock").first).to_be_visible()
            assert page.locator(".opblock").count() > 30
            assert not blocked, blocked
            _keep("docs.png", page.screenshot(), tmp_path)
        finally:
            browser.close()


def test_users_page_creates_a_user_who_changes_password_and_gets_an_api_key(
    server: str, tmp_path: Path
) -> None:
    """Issue 14 defect 4: an admin adds a user on the Users page; that user logs in, changes their
    password on the Account page (and stays logged in), creates an API key shown once, and it works."""
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: run `make system-deps` (installs Debian's chromium)")
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(30_000)
        try:
            _log_in(page, server, "/users", "admin", PASSWORD)
            page.fill("#user-name", "clara")
            page.fill("#user-password", "first-password")
            page.click("#user-add")
            row = page.locator(".user-row[data-username=clara]")
            expect(row.locator(".user-status")).to_have_text("enabled")
            expect(row.locator("select.user-role")).to_have_value("viewer")
            _keep("users.png", page.screenshot(full_page=True), tmp_path)
            page.click("form[action='/logout'] button")

            _log_in(page, server, "/account", "clara", "first-password")
            expect(page.locator("#account-role")).to_have_text("viewer")
            page.fill("#current-password", "first-password")
            page.fill("#new-password", "second-password")
            page.fill("#repeat-password", "second-password")
            page.click("#password-submit")
            expect(page).to_have_url(f"{server}/account?notice=password_changed")  # still logged in
            expect(page.locator("#accounts-message")).to_contain_text("Password changed")

            page.fill("#key-name", "grafana")
            page.click("#key-create")
            expect(page.locator("#key-created")).to_be_visible()
            token = page.locator("#key-token").inner_text()
            assert token.startswith("vgl_") and len(token) > 40
            expect(page.locator(".key-row .key-prefix")).to_have_text(f"{token[:10]}…")
            _keep("account.png", page.screenshot(full_page=True), tmp_path)
            me = httpx.get(f"{server}/api/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
            assert me.json()["username"] == "clara"
            page.reload()
            expect(page.locator(".key-row .key-name")).to_have_text("grafana")
            assert token not in page.content(), "the token is shown once"
        finally:
            browser.close()


def _log_in(page: Any, server: str, path: str, username: str, password: str) -> None:
    """Through the login form `path` redirects to; lands on `path`."""
    from playwright.sync_api import expect

    page.goto(f"{server}{path}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{server}{path}")
