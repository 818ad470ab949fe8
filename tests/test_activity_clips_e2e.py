"""The activity Clips page in Chromium, on the real app over HTTP with a looping file camera whose
activity is on (the flash-and-beep clip, H.264 + AAC, played in real time): save a clip, see it
listed, play it in the page's player, download it, save one more in French, delete one. A stopped
camera with activity on is offered, disabled. Screenshots go to the test's folder (and
E2E_SCREENSHOT_DIR when set)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import shared_file
from tests.test_activity_clip import sync_clip  # noqa: F401 (fixture)
from tests.test_web_e2e import CHROMIUM, CHROMIUM_ARGS, _keep
from tests.web_util import ServedApp, ctx_of, log_in_page, make_app, wait_buffered

pytestmark = pytest.mark.slow
LOADED = "document.getElementById('actc-app').dataset.loaded"  # the clip count once listed
PLAYER = "document.getElementById('actc-player')"


def _save(page: Any, seconds: int, count: int) -> None:
    """Saves a clip from the form and waits for the list to hold `count` clips."""
    page.fill("#actc-seconds", str(seconds))
    page.click("#actc-save")
    page.wait_for_function(f"() => {LOADED} === '{count}'", timeout=30_000)


def test_save_list_play_and_delete_a_clip(sync_clip: Path, tmp_path: Path) -> None:  # noqa: F811
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: run `make system-deps` (installs Debian's chromium)")
    from playwright.sync_api import expect, sync_playwright

    cameras = [{"url": str(sync_clip), "name": "desk", "loop": True, "activity": True}]
    app = make_app(tmp_path, web={"start_cameras": True}, cameras=cameras, realtime=True)
    url = str(shared_file("media/activity/asleep/akshint_test_video_sleep.mp4"))
    porch = ctx_of(app).cameras.create(url, "porch", enabled=False, activity=True)
    desk_id = next(c.id for c in ctx_of(app).cameras.cameras() if c.name == "desk")
    folder = tmp_path / "data" / "clips" / f"id={desk_id}"  # kept by camera id
    shots = tmp_path / "shots"
    shots.mkdir()

    with ServedApp(app) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1300, "height": 900})
            page = context.new_page()
            page.set_default_timeout(20_000)
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("dialog", lambda dialog: dialog.accept())  # the delete's confirmation
            log_in_page(page, base, "/activity/clips")
            page.wait_for_function(f"() => {LOADED} === '0'")
            expect(page.locator("#actc-status")).to_have_text("No saved clip.")
            expect(page.locator("#act-tab-clips")).to_have_attribute("aria-current", "page")
            # The stopped camera is offered, disabled; the running one is chosen.
            porch_option = page.locator(f"#actc-camera option[value='{porch.id}']")
            expect(porch_option).to_be_disabled()
            expect(porch_option).to_have_text("porch (stopped)")
            expect(page.locator("#actc-camera option:checked")).to_have_text("desk")

            wait_buffered(app, desk_id, 5.0)  # the file plays in real time
            _save(page, 4, 1)
            expect(page.locator("#actc-message")).to_contain_text("Saved desk_")
            (saved,) = folder.glob("*.mp4")
            row = page.locator("#actc-clips tbody tr").first
            assert row.get_attribute("data-name") == saved.name
            cells = row.locator("td").all_inner_texts()
            assert cells[0] == "desk" and cells[2] == "4.0 s" and cells[4] == "aac", cells
            assert cells[3] == f"{saved.stat().st_size / 1e6:.1f} MB"
            expect(page.locator("#actc-status")).to_have_text(f"1 clip, {cells[3]}")

            # Played in the page: Chromium reads the MP4 (H.264 + AAC) and its 4 s.
            row.locator(".actc-play").click()
            page.wait_for_function(f"() => {PLAYER}.readyState >= 1")
            duration = page.evaluate(f"() => {PLAYER}.duration")
            assert abs(duration - 4.0) < 0.1, duration
            assert page.evaluate(f"() => {PLAYER}.videoWidth") == 320
            page.wait_for_function(f"() => {PLAYER}.currentTime > 0.5", timeout=10_000)  # it plays
            page.evaluate(f"() => {PLAYER}.pause()")
            href = row.locator(".actc-download").get_attribute("href")
            assert href is not None
            download = page.request.get(f"{base}{href}")
            assert download.ok and download.body() == saved.read_bytes()
            _keep("clips-en.png", page.screenshot(full_page=True), shots)

            # French: the same page in the other language, one clip more (newest first).
            context.add_cookies([{"name": "vigil_lang", "value": "fr", "url": base}])
            page.goto(f"{base}/activity/clips")
            page.wait_for_function(f"() => {LOADED} === '1'")
            expect(page.locator("h1")).to_have_text("Extraits")
            _save(page, 3, 2)
            expect(page.locator("#actc-message")).to_contain_text("enregistré (3,0 s)")
            rows = page.locator("#actc-clips tbody tr")
            assert rows.nth(1).get_attribute("data-name") == saved.name
            newest = rows.first.get_attribute("data-name")
            assert newest is not None and (folder / newest).is_file()
            assert rows.first.locator("td").nth(2).inner_text() == "3,0 s"
            expect(page.locator("#actc-status")).to_contain_text("2 extraits")
            _keep("clips-fr.png", page.screenshot(full_page=True), shots)

            # Delete the first clip (confirmed): gone from the list and from the disk.
            rows.nth(1).locator(".actc-delete").click()
            page.wait_for_function(f"() => {LOADED} === '1'")
            expect(page.locator("#actc-message")).to_have_text(f"{saved.name} supprimé.")
            assert not saved.exists() and (folder / newest).is_file()
            assert rows.first.get_attribute("data-name") == newest
            assert not errors, errors
        finally:
            browser.close()
