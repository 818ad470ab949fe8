"""The sound each live activity tile hears, in Chromium on the real app over HTTP (issue 18 item 3):
running cameras on real files, one asking for a microphone that does not exist (a warning naming
it, the server's reason on hover), one hearing hamilton's AAC track, one without an audio track,
one picture only; in English and French. Screenshots go to the test's folder (and
E2E_SCREENSHOT_DIR when set)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sound_cameras import sound_app, sound_cameras
from tests.test_web_e2e import CHROMIUM, CHROMIUM_ARGS, _keep
from tests.web_util import ServedApp, log_in_page

pytestmark = pytest.mark.slow
MISSING = "no-such-microphone"
WARN = "rgb(241, 196, 15)"  # vigil.css's --warn


def test_the_live_tiles_say_what_is_heard(tmp_path: Path, models_dir: Path, hamilton: Path) -> None:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: run `make system-deps` (installs Debian's chromium)")
    from playwright.sync_api import expect, sync_playwright

    cameras = sound_cameras(hamilton, ("mic", "stream", "silent", "picture"))
    app = sound_app(tmp_path, models_dir, cameras, MISSING)
    shots = tmp_path / "shots"
    shots.mkdir()
    with ServedApp(app) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            page.set_default_timeout(60_000)
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            log_in_page(page, base, "/live")
            ids = {
                page.locator(f"figure[data-camera-name={name}]").get_attribute("data-camera-id"): name
                for name in ("mic", "stream", "silent", "picture")
            }
            line = {name: page.locator(f"#live-sound-{camera_id}") for camera_id, name in ids.items()}

            expect(line["mic"]).to_have_text(f"Sound: none — no microphone '{MISSING}' found")
            assert line["mic"].evaluate("e => getComputedStyle(e).color") == WARN
            assert MISSING in (line["mic"].get_attribute("title") or "")  # the server's reason
            expect(line["stream"]).to_have_text("Sound: camera stream (AAC, 44.1 kHz)")
            assert line["stream"].evaluate("e => getComputedStyle(e).color") != WARN
            expect(line["silent"]).to_have_text("Sound: none — the camera's stream has no audio track")
            expect(line["picture"]).to_have_text("Sound: none (picture only)")
            _keep("sound-en.png", page.screenshot(full_page=True), shots)

            context.add_cookies([{"name": "vigil_lang", "value": "fr", "url": base}])
            page.goto(f"{base}/live")
            expect(line["mic"]).to_have_text(f"Son : aucun — micro « {MISSING} » introuvable")
            expect(line["stream"]).to_have_text("Son : flux de la caméra (AAC, 44,1 kHz)")
            expect(line["silent"]).to_have_text("Son : aucun — le flux de la caméra n'a pas de piste audio")
            expect(line["picture"]).to_have_text("Son : aucun (image seule)")
            _keep("sound-fr.png", page.screenshot(full_page=True), shots)
            assert not errors, errors
        finally:
            browser.close()
