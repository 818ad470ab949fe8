"""Issue 17 item 5 end to end: a real `vigil serve` with `anonymize.live.covered_roles: [viewer]`
and the hamilton clip as a looping file camera; an admin and a viewer each log in in Chromium and
watch /live. The viewer's picture is covered inside the face boxes where the admin's is clear:
checked on both browsers' screenshots of the live picture, and on one analysed frame fetched by
both sessions (pixels inside each face box). Set E2E_SCREENSHOT_DIR to keep the screenshots."""

from __future__ import annotations

import json
import os
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

from tests.conftest import SHARED
from tests.web_util import login

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]  # fmt: skip
PASSWORD = "privacy-e2e-admin-pw"
VIEWER_PASSWORD = "privacy-e2e-viewer-pw"
FRAMES = 8  # analysed frames compared pixel by pixel
MIN_BOX = 30  # px: smaller boxes hold too few pixels inside their lines to measure detail
DETAILED = 6.0  # `detail` of a well-lit clear face
MEASURABLE = 3.0  # `detail` under which a clear face is too flat to tell from a blurred one
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
        "VIGIL_SHARED_DIR": str(SHARED),
        "VIGIL_CAMERA_POLICY__MEDIA_ROOTS": json.dumps([str(SHARED / "media")]),
        "VIGIL_WEB__ADMIN_PASSWORD": PASSWORD,
        "VIGIL_ANONYMIZE__LIVE__COVERED_ROLES": '["viewer"]',
    }
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "vigil", "serve", "--port", str(port)],
            env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while not _up(base):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"vigil serve did not start: {log_path.read_text()[-3000:]}")
                time.sleep(0.3)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def _up(base: str) -> bool:
    try:
        return httpx.get(f"{base}/api/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _decode(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not an image"
    return np.asarray(image)


def face_boxes(image: np.ndarray) -> list[tuple[int, int, int, int]]:
    """The overlay's green face boxes (x1, y1, x2, y2) found in a picture: green outlines at least
    MIN_BOX wide and high whose four sides are green (boxes that touch or cross merge into shapes
    that fail this and are skipped). An opening removes the labels' thin strokes first."""
    b, g, r = (image[..., i].astype(int) for i in range(3))
    mask = ((g > 170) & (r < 110) & (b < 110)).astype(np.uint8)
    green = np.asarray(cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8)))
    count, _, stats, _ = cv2.connectedComponentsWithStats(green, connectivity=8)
    boxes = []
    for x, y, w, h, _ in stats[1:count]:
        if w < MIN_BOX or h < MIN_BOX:
            continue
        x2, y2 = x + w, y + h
        sides = (
            green[y:y2, x : x + 3],
            green[y:y2, x2 - 3 : x2],
            green[y : y + 3, x:x2],
            green[y2 - 3 : y2, x:x2],
        )
        if all(side.any(axis=1 if side.shape[0] > side.shape[1] else 0).mean() > 0.9 for side in sides):
            boxes.append((int(x), int(y), int(x2), int(y2)))
    return boxes


def detail(image: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Mean absolute difference between neighbouring pixels (grey) inside `box` shrunk by 5 px
    (off the box's lines): what a blur removes. Steadier than a Laplacian's variance on small,
    dark faces, where JPEG's block edges weigh as much as the face."""
    x1, y1, x2, y2 = box
    inside = np.ascontiguousarray(image[y1 + 5 : y2 - 5, x1 + 5 : x2 - 5])
    grey = cv2.cvtColor(inside, cv2.COLOR_BGR2GRAY).astype(float)
    return float(np.abs(np.diff(grey, axis=0)).mean() + np.abs(np.diff(grey, axis=1)).mean())


def _same_frame(clear: np.ndarray, covered: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> bool:
    """Whether two pictures show the same analysed frame: equal (JPEG aside) away from the boxes,
    their padded covers and labels."""
    outside = np.ones(clear.shape[:2], bool)
    for x1, y1, x2, y2 in boxes:
        w, h = x2 - x1, y2 - y1
        outside[max(0, y1 - h // 2 - 20) : y2 + h // 2, max(0, x1 - w // 2) : x2 + w // 2] = False
    if outside.mean() < 0.3:
        return False  # too little left to tell
    return float(np.abs(clear.astype(int) - covered.astype(int))[outside].mean()) < 3


def _keep(name: str, data: bytes, tmp_path: Path) -> None:
    (tmp_path / name).write_bytes(data)
    target = os.environ.get("E2E_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / name, Path(target) / name)


def _log_in(browser: Any, server: str, username: str, password: str) -> Any:
    from playwright.sync_api import expect

    page = browser.new_context(viewport={"width": 1100, "height": 800}).new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{server}/login?next=/live")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{server}/live")
    return page


def _screenshot_with_faces(page: Any, camera_id: int) -> tuple[bytes, list[tuple[int, int, int, int]]]:
    """A screenshot of the live picture once it shows a face box of a measurable size."""
    image = page.locator(f"#live-img-{camera_id}")
    deadline = time.monotonic() + 90  # the clip's first faces on a loaded 2-core machine
    while time.monotonic() < deadline:
        page.wait_for_timeout(500)
        if image.evaluate("img => img.naturalWidth") == 0:
            continue
        shot = image.screenshot()
        boxes = face_boxes(_decode(shot))
        if boxes:
            return shot, boxes
    raise AssertionError("no face box in the live picture within 90 s")


def test_a_viewer_sees_the_live_faces_covered_where_the_admin_sees_them_clear(
    server: str, tmp_path: Path, hamilton: Path
) -> None:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: run `make system-deps` (installs Debian's chromium)")
    from playwright.sync_api import expect, sync_playwright

    with httpx.Client(base_url=server, timeout=60) as api:
        csrf = login(api, "admin", PASSWORD)  # type: ignore[arg-type]
        headers = {"X-CSRF-Token": csrf}
        user = {"username": "viewer1", "password": VIEWER_PASSWORD, "role": "viewer"}
        assert api.post("/api/users", json=user, headers=headers).status_code == 201
        camera = api.post(
            "/api/cameras", json={"name": "stage", "url": str(hamilton), "loop": True}, headers=headers
        )
        assert camera.status_code == 201, camera.text
        camera_id = int(camera.json()["id"])

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            admin = _log_in(browser, server, "admin", PASSWORD)
            viewer = _log_in(browser, server, "viewer1", VIEWER_PASSWORD)
            expect(viewer.locator(f"#live-covered-{camera_id}")).to_be_visible()  # told why it is blurred
            expect(admin.locator(f"#live-covered-{camera_id}")).to_have_count(0)
            admin.goto(f"{server}/cameras")  # the admin sees who gets faces hidden, per camera
            expect(admin.locator(f"#camera-privacy-{camera_id}")).to_have_text("viewer")
            _keep("cameras_admin_page.png", admin.screenshot(), tmp_path)
            admin.goto(f"{server}/live")

            # 1. What each browser shows: inside the green boxes of its own picture.
            shots = {}
            for name, page in (("admin", admin), ("viewer", viewer)):
                shot, boxes = _screenshot_with_faces(page, camera_id)
                _keep(f"live_{name}.png", shot, tmp_path)
                _keep(f"live_{name}_page.png", page.screenshot(), tmp_path)
                shots[name] = [detail(_decode(shot), box) for box in boxes]
            print("screenshots' detail inside face boxes:", shots)
            assert max(shots["viewer"]) * 2 < min(shots["admin"]), shots

            # 2. Analysed frames fetched by both sessions at once (the same pixels outside the
            # faces): inside every face box, covered for the viewer only.
            checked = detailed = 0
            deadline = time.monotonic() + 60
            while checked < FRAMES and time.monotonic() < deadline:
                answers = [
                    page.request.get(f"{server}/api/cameras/{camera_id}/frame.jpg")
                    for page in (admin, viewer)
                ]
                if any(a.status != 200 for a in answers):
                    continue
                clear, covered = (_decode(a.body()) for a in answers)
                boxes = face_boxes(covered)
                if not boxes or not _same_frame(clear, covered, boxes):
                    time.sleep(0.1)
                    continue
                _keep(f"frame_{checked}_admin.jpg", answers[0].body(), tmp_path)
                _keep(f"frame_{checked}_viewer.jpg", answers[1].body(), tmp_path)
                pairs = [(round(detail(clear, box), 2), round(detail(covered, box), 2)) for box in boxes]
                print(f"frame {checked}: boxes {boxes}, detail inside (admin, viewer) {pairs}")
                # Measured: 10-16 clear vs 0.7-1.3 covered on the lit singer; 3.5-4 vs 0.75-1.2 on
                # small dark faces in the audience; out-of-focus ones 1.05-2.1 vs 0.4-0.8 (too flat
                # to tell a blur by its detail with a margin: below MEASURABLE, not checked).
                for clear_detail, covered_detail in pairs:
                    assert clear_detail < MEASURABLE or covered_detail * 2 < clear_detail, (
                        checked,
                        boxes,
                        pairs,
                    )
                    assert clear_detail < DETAILED or covered_detail * 4 < clear_detail, (
                        checked,
                        boxes,
                        pairs,
                    )
                    detailed += clear_detail >= DETAILED
                checked += 1
                time.sleep(1.0)  # the next check on another part of the clip
            assert checked == FRAMES, (
                f"only {checked} frames with face boxes fetched by both sessions at once"
            )
            assert detailed > 0, "no well-lit face compared"
        finally:
            browser.close()
