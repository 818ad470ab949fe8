"""End-to-end in Chromium (issue 18 item 6): on a real `vigil serve`, the admin uploads the asleep
clip on the Activity page, starts the analysis, watches the progress, then sees the timeline drawn
by the locally served Chart.js (the asleep colour's pixels on its canvas), the distribution, the
segments table and the download links, and analyses one frame. Set E2E_SCREENSHOT_DIR to keep the
screenshots."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import SHARED
from tests.test_web_alerts_serve import PASSWORD, server  # noqa: F401 (the `vigil serve` fixture)
from tests.test_web_e2e import CHROMIUM, CHROMIUM_ARGS, _keep
from tests.test_web_watchlist_e2e import _log_in

pytestmark = pytest.mark.slow
CLIP = SHARED / "media" / "activity" / "asleep" / "akshint_test_video_sleep.mp4"
ASLEEP_RGB = (0x39, 0x49, 0xAB)  # activity-common.js's colour for `asleep`

# Share of the timeline canvas's pixels in a colour, read in the page (the canvas is same-origin).
COLOUR_SHARE = """([id, rgb]) => {
  const canvas = document.getElementById(id);
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let hits = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (Math.abs(data[i] - rgb[0]) < 8 && Math.abs(data[i + 1] - rgb[1]) < 8
        && Math.abs(data[i + 2] - rgb[2]) < 8 && data[i + 3] > 200) hits++;
  }
  return hits / (canvas.width * canvas.height);
}"""


def test_admin_analyses_a_clip_and_sees_the_timeline(
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
            page = browser.new_context(viewport={"width": 1400, "height": 1200}).new_page()
            page.set_default_timeout(30_000)
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            _log_in(page, server, "/activity", "admin", PASSWORD)
            page.set_input_files("#act-file", str(CLIP))
            page.fill("#act-interval", "0.5")
            page.click("#act-start")
            expect(page.locator("#act-result")).to_be_visible(timeout=180_000)
            expect(page.locator("#act-percent")).to_have_text("100%")
            expect(page.locator("#act-dominant")).to_have_attribute("data-activity", "asleep")
            assert page.locator("#act-segments tbody tr[data-activity=asleep]").count() >= 1
            # The cues as the CLI writes them: "motion 0.018, eyes closed 100%, head down 0%, voice 0%".
            cues = page.locator("#act-segments tbody tr td").nth(4).inner_text()
            assert re.fullmatch(
                r"motion \d\.\d{3}, eyes closed \d{1,3}%, head down \d{1,3}%, voice \d{1,3}%(, .+)?", cues
            ), cues
            timeline = page.evaluate(COLOUR_SHARE, ["act-timeline", list(ASLEEP_RGB)])
            distribution = page.evaluate(COLOUR_SHARE, ["act-distribution", list(ASLEEP_RGB)])
            assert timeline > 0.05, f"the timeline shows the asleep segment ({timeline:.3f} of its pixels)"
            assert distribution > 0.01, f"the distribution shows asleep ({distribution:.3f})"
            job = page.get_attribute("#act-csv", "href")
            assert job is not None and job.endswith("/result.csv")
            assert page.get_attribute("#act-json", "href") == job.replace(".csv", ".json")

            page.fill("#act-frame-at", "3")
            page.click("#act-frame-start")
            expect(page.locator("#act-frame-activity")).to_have_attribute("data-activity", "asleep")
            expect(page.locator("#act-frame-people")).to_contain_text("1")
            shares = (
                r"eyes closed \d{1,3}%, head down \d{1,3}%, hand at the ear \d{1,3}%, hands in front \d{1,3}%"
            )
            expect(page.locator("#act-frame-cues")).to_have_text(re.compile(f"^{shares}"))
            _keep("activity.png", page.screenshot(full_page=True), tmp_path)

            # In French: the status names its subject and agrees with it, numbers have a decimal comma.
            page.context.add_cookies([{"name": "vigil_lang", "value": "fr", "url": server}])
            page.goto(f"{server}/activity")
            page.set_input_files("#act-file", str(CLIP))
            page.fill("#act-interval", "0.5")
            page.click("#act-start")
            expect(page.locator("#act-result")).to_be_visible(timeout=180_000)
            expect(page.locator("#act-state")).to_have_text("Analyse terminée.")
            cells = page.locator("#act-segments tbody tr").first.locator("td").all_inner_texts()
            assert re.fullmatch(r"\d+,\d", cells[0]) and re.fullmatch(r"\d,\d\d", cells[3]), cells
            # French percentages: a no-break space before % (Intl.NumberFormat), as on every page.
            assert re.match(r"mouvement \d,\d{3}, yeux fermés \d{1,3}\u00a0%", cells[4]), cells
            expect(page.locator("#act-percent")).to_have_text("100\u00a0%")
            assert re.fullmatch(r"\d+,\d", page.locator("#act-duration").inner_text())
            _keep("activity-fr.png", page.screenshot(full_page=True), tmp_path)
            assert not errors, errors
        finally:
            browser.close()
