"""The cameras page's sound choice for the activity (issue 18 item 3) in Chromium, on the real app
over HTTP: shown only while a camera's activity is on, a choice is saved through the API (the
default sent as null), the add form sends its choice; in English and French. Screenshots go to
the test's folder (and E2E_SCREENSHOT_DIR when set)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SHARED
from tests.test_web_e2e import CHROMIUM, CHROMIUM_ARGS, _keep
from tests.web_util import ServedApp, bearer, ctx_of, log_in_page, make_app

pytestmark = pytest.mark.slow
CLIP = SHARED / "media" / "activity" / "asleep" / "akshint_test_video_sleep.mp4"


def test_the_sound_choice_on_the_cameras_page(tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: run `make system-deps` (installs Debian's chromium)")
    from playwright.sync_api import expect, sync_playwright

    app = make_app(tmp_path, activity={"live_audio": "stream"})
    manager = ctx_of(app).cameras
    # Never started: no models needed, nothing analysed.
    bedroom = manager.create(str(CLIP), "bedroom", enabled=False, activity=True).id
    hall = manager.create(str(CLIP), "hall", enabled=False).id
    admin_key = bearer(app)
    shots = tmp_path / "shots"
    shots.mkdir()

    with ServedApp(app) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)

        def saved(camera_id: int) -> Any:
            return page.request.get(f"{base}/api/cameras/{camera_id}", headers=admin_key).json()[
                "activity_audio"
            ]

        try:
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            page = context.new_page()
            page.set_default_timeout(20_000)
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            log_in_page(page, base, "/cameras")

            choice = page.locator(f"#camera-audio-{bedroom}")
            expect(choice).to_be_visible()  # activity on
            expect(choice).to_have_value("")
            assert choice.locator("option:checked").inner_text() == "default (camera stream)"
            expect(page.locator(f"#camera-audio-{hall}")).to_be_hidden()  # activity off

            choice.select_option("microphone")
            expect(page.locator("#cameras-message")).to_have_text(
                "Sound of the activity: microphone; the camera restarted if it was running."
            )
            assert saved(bedroom) == "microphone"

            page.check(f"#camera-activity-{hall}")  # activity on: its sound choice appears
            expect(page.locator(f"#camera-audio-{hall}")).to_be_visible()
            page.select_option(f"#camera-audio-{hall}", "none")
            expect(page.locator("#cameras-message")).to_contain_text("none (picture only)")
            assert saved(hall) == "none"
            page.uncheck(f"#camera-activity-{hall}")
            expect(page.locator(f"#camera-audio-{hall}")).to_be_hidden()
            assert saved(hall) == "none"  # kept for when the activity is on again

            # The add form: the choice shows once the activity is ticked and is sent with it.
            expect(page.locator("#camera-activity-audio")).to_be_hidden()
            page.check("#camera-activity")
            expect(page.locator("#camera-activity-audio")).to_be_visible()
            page.fill("#camera-url", "usb:9")  # no such device: the camera is added, then fails to open
            page.fill("#camera-name", "porch")
            page.select_option("#camera-activity-audio", "stream")
            _keep("cameras-audio-en.png", page.screenshot(full_page=True), shots)
            with page.expect_navigation():
                page.click("#camera-add")
            cameras = page.request.get(f"{base}/api/cameras", headers=admin_key).json()
            porch = next(c for c in cameras if c["name"] == "porch")
            assert (porch["activity"], porch["activity_audio"]) == (True, "stream")
            expect(page.locator(f"#camera-audio-{porch['id']}")).to_have_value("stream")
            expect(page.locator(f"#camera-audio-{bedroom}")).to_have_value("microphone")  # read back

            # French: the default named in French, and going back to it sends null.
            context.add_cookies([{"name": "vigil_lang", "value": "fr", "url": base}])  # what /lang/fr sets
            page.goto(f"{base}/cameras")
            choice = page.locator(f"#camera-audio-{bedroom}")
            assert choice.locator("option:checked").inner_text() == "micro"
            choice.select_option("")
            expect(page.locator("#cameras-message")).to_have_text(
                "Son de l'activité : par défaut (flux de la caméra) ; la caméra a redémarré si elle tournait."
            )
            assert saved(bedroom) is None
            page.check("#camera-activity")
            _keep("cameras-audio-fr.png", page.screenshot(full_page=True), shots)
            assert not errors, errors
        finally:
            browser.close()
