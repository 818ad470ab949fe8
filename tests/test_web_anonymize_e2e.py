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
        finally:
            browser.close()
