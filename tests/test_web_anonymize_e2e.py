"""End-to-end in Chromium (issue 17): on a real `vigil serve`, the admin picks a video file on the
Anonymise page, starts it, watches the progress, then sees the before/after comparison (the face
covered on the right only) and downloads the anonymised video. Set E2E_SCREENSHOT_DIR to keep the
screenshots."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from tests.conftest import SHARED
from tests.test_web_alerts_serve import PASSWORD, server  # noqa: F401 (the `vigil serve` fixture)
from tests.test_web_e2e import CHROMIUM, CHROMIUM_ARGS, _keep
from tests.test_web_watchlist_e2e import _log_in

pytestmark = pytest.mark.slow
CLIP = SHARED / "media" / "video" / "single_face.mp4"


def test_admin_uploads_compares_and_downloads(
    shared_models: None,
    server: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: run `make system-deps` (installs Debian's chromium)")
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            # The reviewer's screen width: the 1288 px comparison image overflowed it.
            page = browser.new_context(
                viewport={"width": 1280, "height": 1000}, accept_downloads=True
            ).new_page()
            page.set_default_timeout(30_000)
            _log_in(page, server, "/anonymize", "admin", PASSWORD)
            page.set_input_files("#anon-file", str(CLIP))
            page.select_option("#anon-faces", "pixelate")
            page.click("#anon-start")
            expect(page.locator("#anon-result")).to_be_visible(timeout=120_000)
            expect(page.locator("#anon-percent")).to_have_text("100%")
            image = page.locator("#anon-compare")
            page.wait_for_function("() => document.getElementById('anon-compare').naturalWidth > 0")
            shot = page.screenshot(full_page=True)
            _keep("anonymize.png", shot, tmp_path)
            box = image.bounding_box()
            assert box is not None and box["width"] > 600
            assert box["x"] + box["width"] <= 1280, "the comparison fits the page"
            assert page.evaluate("document.documentElement.scrollWidth") <= 1280, "no horizontal scroll"
            picture = cv2.imdecode(np.frombuffer(image.screenshot(), np.uint8), cv2.IMREAD_COLOR)
            assert picture is not None
            half = picture.shape[1] // 2
            left, right = picture[:, : half - 4].astype(int), picture[:, half + 4 : 2 * half - 4].astype(int)
            width = min(left.shape[1], right.shape[1])
            changed = np.abs(left[:, :width] - right[:, :width]).max(axis=2) > 40
            assert 0.005 < changed.mean() < 0.3, "only the face differs between before and after"
            with page.expect_download() as download:
                page.click("#anon-download")
            saved = tmp_path / "download.mp4"
            download.value.save_as(saved)
            with av.open(str(saved)) as container:
                assert container.streams.video[0].codec_context.name == "h264"
                assert sum(1 for _ in container.decode(video=0)) == 72

            # In French: the status agrees with "l'anonymisation"; a no-break space before %, on
            # this page (JS) as on the jobs page (rendered by the server).
            page.context.add_cookies([{"name": "vigil_lang", "value": "fr", "url": server}])
            page.goto(f"{server}/anonymize")
            expect(page.locator("#anon-percent")).to_have_text("0\u00a0%")
            page.set_input_files("#anon-file", str(CLIP))
            page.click("#anon-start")
            expect(page.locator("#anon-result")).to_be_visible(timeout=120_000)
            expect(page.locator("#anon-state")).to_have_text("Anonymisation terminée.")
            expect(page.locator("#anon-percent")).to_have_text("100\u00a0%")
            page.wait_for_function("() => document.getElementById('anon-compare').naturalWidth > 0")
            _keep("anonymize-fr.png", page.screenshot(full_page=True), tmp_path)
            page.goto(f"{server}/jobs")
            expect(page.locator(".job-percent").first).to_have_text("100\u00a0%")
            served = page.request.get(f"{server}/jobs").text()
            assert '<span class="job-percent">100\u00a0%</span>' in served
        finally:
            browser.close()


def test_a_failed_job_does_not_show_a_complete_bar(
    shared_models: None,
    server: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A job on a file that is no video fails at once; its progress then reads 1 (every input
    ended), but the Anonymise, Activity and Jobs pages show a red bar without "100%"."""
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: run `make system-deps` (installs Debian's chromium)")
    from playwright.sync_api import expect, sync_playwright

    not_a_video = str(SHARED / "media" / "activity" / "labels.csv")  # inside the media roots
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.set_default_timeout(30_000)
            _log_in(page, server, "/anonymize", "admin", PASSWORD)
            for prefix in ("anon", "act"):
                if prefix == "act":
                    page.goto(f"{server}/activity")
                page.fill(f"#{prefix}-path", not_a_video)
                page.click(f"#{prefix}-start")
                expect(page.locator(f"#{prefix}-error")).to_contain_text("labels.csv")
                expect(page.locator(f"#{prefix}-bar")).to_have_class("failed")
                expect(page.locator(f"#{prefix}-percent")).to_have_text("")
                _keep(f"{prefix}_failed.png", page.screenshot(full_page=True), tmp_path)
            page.goto(f"{server}/jobs")
            rows = page.locator(".job-row")
            expect(rows).to_have_count(2)
            for index in range(2):  # as the server renders them, then after the script's poll
                expect(rows.nth(index).locator(".job-state")).to_have_text("failed")
                expect(rows.nth(index).locator(".job-bar")).to_have_class("job-bar failed")
                expect(rows.nth(index).locator(".job-percent")).to_have_text("")
            assert page.locator(".job-bar").evaluate_all("bars => bars.map((bar) => bar.value)") == [1, 1]
            page.wait_for_timeout(2_000)  # a poll of /api/jobs redraws the rows with jobs.js
            expect(page.locator(".job-percent").first).to_have_text("")
            _keep("jobs_failed.png", page.screenshot(full_page=True), tmp_path)
        finally:
            browser.close()
