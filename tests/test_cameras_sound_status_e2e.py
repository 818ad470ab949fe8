"""The cameras page says, under a running camera's Sound choice, what its activity hears (the live
tiles' words, activity-common.js's showSound), in Chromium on the real app over HTTP: real
cameras on hamilton, one asking for a microphone that does not exist (a warning naming it, the
server's reason on hover), one hearing the stream's AAC track, and a stopped camera with activity
on (no line); in English and French. Screenshots go to the test's folder (and E2E_SCREENSHOT_DIR
when set)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sound_cameras import sound_app, sound_cameras
from tests.test_web_e2e import CHROMIUM, CHROMIUM_ARGS, _keep
from tests.web_util import ServedApp, ctx_of, log_in_page

pytestmark = pytest.mark.slow
MISSING = "no-such-microphone"
WARN = "rgb(241, 196, 15)"  # vigil.css's --warn


def test_the_cameras_page_says_what_is_heard(tmp_path: Path, models_dir: Path, hamilton: Path) -> None:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: run `make system-deps` (installs Debian's chromium)")
    from playwright.sync_api import expect, sync_playwright

    app = sound_app(tmp_path, models_dir, sound_cameras(hamilton, ("mic", "stream")), MISSING)
    stopped = ctx_of(app).cameras.create(str(hamilton), "stopped", enabled=False, activity=True).id
    shots = tmp_path / "shots"
    shots.mkdir()
    with ServedApp(app) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            page = context.new_page()
            page.set_default_timeout(60_000)
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            log_in_page(page, base, "/cameras")
            ids = {
                name: page.locator(f"tr[data-camera-name={name}]").get_attribute("data-camera-id")
                for name in ("mic", "stream")
            }
            line = {name: page.locator(f"#camera-sound-{camera_id}") for name, camera_id in ids.items()}

            expect(line["mic"]).to_have_text(f"Sound: none — no microphone '{MISSING}' found")
            assert line["mic"].evaluate("e => getComputedStyle(e).color") == WARN
            assert MISSING in (line["mic"].get_attribute("title") or "")  # the server's reason
            expect(line["stream"]).to_have_text("Sound: camera stream (AAC, 44.1 kHz)")
            assert line["stream"].evaluate("e => getComputedStyle(e).color") != WARN
            assert line["stream"].get_attribute("title") == ""
            expect(page.locator(f"#camera-sound-{stopped}")).to_have_text("")  # stopped: nothing heard
            _keep("cameras-sound-en.png", page.screenshot(full_page=True), shots)

            context.add_cookies([{"name": "vigil_lang", "value": "fr", "url": base}])
            page.goto(f"{base}/cameras")
            expect(line["mic"]).to_have_text(f"Son : aucun — micro « {MISSING} » introuvable")
            assert line["mic"].evaluate("e => getComputedStyle(e).color") == WARN
            expect(line["stream"]).to_have_text("Son : flux de la caméra (AAC, 44,1 kHz)")
            _keep("cameras-sound-fr.png", page.screenshot(full_page=True), shots)
            assert not errors, errors
        finally:
            browser.close()
