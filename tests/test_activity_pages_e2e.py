"""The activity Statistics and History pages in Chromium (issue 18 item 4), on the real app over
HTTP with a store seeded with segments over three days: the charts hold the seeded hours and are
drawn, the transitions matrix and the history rows are the seeded ones, the CSV downloads, the
cameras page's activity switch reaches the API; in English and French, in the Paris time zone.
Screenshots go to the test's folder (and E2E_SCREENSHOT_DIR when set)."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from tests.conftest import SHARED
from tests.test_web_e2e import CHROMIUM, CHROMIUM_ARGS, _keep
from tests.web_util import ServedApp, bearer, ctx_of, log_in_page, make_app
from vigil.activity.history import NewSegment
from vigil.activity.labels import Activity as A
from vigil.activity.repository import ActivityRepository
from vigil.activity.result import CueSummary
from vigil.store.schema import Visitor
from vigil.web.routes import activity_pages

pytestmark = pytest.mark.slow
CUES = CueSummary(present=1.0, motion=0.2, eyes_closed=0.0, head_down=0.6, hand_at_ear=0.0, hand_at_mouth=0.0,
                  hands_in_front=0.4, voice=0.1, objects=["book", "food"], sounds=["speech"])  # fmt: skip
# One morning at the desk and lunch in the kitchen, 1, 2 and 3 days ago (UTC; Paris is +1 h).
DESK = [(A.READING, 60), (A.ON_PHONE, 10), (A.READING, 30), (A.ASLEEP, 45)]
LUNCH = (A.EATING, 30)
DAYS_AGO = (1, 2, 3)
ZONE = "Europe/Paris"  # the browser's: days are cut at Paris midnights
# The total per activity, and per chart dataset: drawn values are hours (bars) and minutes (lines).
EXPECTED_S = {"reading": 3 * 90 * 60.0, "on_phone": 3 * 10 * 60.0, "asleep": 3 * 45 * 60.0,
              "eating": 3 * 30 * 60.0}  # fmt: skip

LOADED = "document.getElementById('acth-app').dataset.loaded"  # set once a filter's data is drawn
CHART_SUMS = """() => Object.fromEntries(Object.entries(window.acthCharts).map(([name, chart]) => [name,
  Object.fromEntries(chart.data.datasets.map((d) => [d.activity, d.data.reduce((a, b) => a + b, 0)]))]))"""
# Share of a canvas's pixels that are not background (the charts drew something).
INKED = """(id) => {
  const canvas = document.getElementById(id);
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let inked = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) inked++;
  return inked / (canvas.width * canvas.height);
}"""


def _seed(repository: ActivityRepository, today: date, visitor: uuid.UUID) -> None:
    """The kitchen's lunches are a recognised visitor's."""
    segments: list[NewSegment] = []
    for ago in DAYS_AGO:
        at = datetime.combine(today - timedelta(days=ago), time(8, 0), UTC)
        for activity, minutes in DESK:
            segments.append(NewSegment("desk", activity, at, at + timedelta(minutes=minutes), 0.8, CUES))
            at += timedelta(minutes=minutes)
        noon = datetime.combine(today - timedelta(days=ago), time(11, 0), UTC)
        end = noon + timedelta(minutes=LUNCH[1])
        lunch = NewSegment("kitchen", LUNCH[0], noon, end, 0.7, CUES, "live", visitor)
        segments.append(lunch)
    repository.add(segments)


def test_statistics_history_csv_and_the_activity_switch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: run `make system-deps` (installs Debian's chromium)")
    from playwright.sync_api import expect, sync_playwright

    monkeypatch.setattr(activity_pages, "HISTORY_PAGE_SIZE", 10)  # 15 segments: two pages
    app = make_app(tmp_path)
    ctx = ctx_of(app)
    visitor = uuid.uuid4()
    with ctx.store.db.writer.begin() as conn:
        now = datetime.now(UTC)
        conn.execute(insert(Visitor).values(id=visitor, name="Marie", first_seen_at=now, last_seen_at=now))
    _seed(ActivityRepository(ctx.store.db), datetime.now(UTC).date(), visitor)
    clip = SHARED / "media" / "activity" / "asleep" / "akshint_test_video_sleep.mp4"
    camera = ctx.cameras.create(str(clip), "bedroom", enabled=False)  # never started: no models needed
    admin_key = bearer(app)
    shots = Path("/tmp/actpages")
    shots.mkdir(parents=True, exist_ok=True)

    with ServedApp(app) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000}, timezone_id=ZONE)
            page = context.new_page()
            page.set_default_timeout(20_000)
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            log_in_page(page, base, "/activity/statistics")
            page.wait_for_function(f"() => {LOADED}")

            sums = page.evaluate(CHART_SUMS)
            for chart, unit in (("days", 3600), ("weeks", 3600), ("trend", 60)):
                drawn = {a: round(v * unit) for a, v in sums[chart].items()}
                assert drawn == {a: round(s) for a, s in EXPECTED_S.items()}, (chart, drawn)
            for canvas in ("acth-days", "acth-weeks", "acth-trend"):
                assert page.evaluate(INKED, canvas) > 0.02, f"{canvas} is blank"
            # The transitions matrix: before (rows) -> after (columns), the desk's mornings.
            counts = {
                cell.get_attribute("id"): int(cell.get_attribute("data-count") or -1)
                for cell in page.locator("#acth-transitions td").all()
            }
            assert {k: v for k, v in counts.items() if v} == {
                "acth-tr-reading-on_phone": 3, "acth-tr-on_phone-reading": 3, "acth-tr-reading-asleep": 3,
            }  # fmt: skip
            assert page.locator("#acth-totals tbody tr").count() == 4
            reading = page.locator("#acth-totals tbody tr[data-activity=reading] td")
            expect(reading.nth(1)).to_have_text("4 h 30 min")
            shares = page.locator("#acth-totals tbody td:nth-child(3)").all_inner_texts()
            assert shares and all(re.fullmatch(r"\d+\.\d%", s) for s in shares), shares  # "43.5%"
            _keep("statistics-en.png", page.screenshot(full_page=True), shots)

            # One camera: the kitchen's lunches only, and no transition.
            page.select_option("#acth-camera", "kitchen")
            page.click("#acth-apply")
            page.wait_for_function(f"() => {LOADED}.startsWith('kitchen|')")
            sums = page.evaluate(CHART_SUMS)
            assert {a: round(v * 3600) for a, v in sums["days"].items()} == {"eating": 5400}
            expect(page.locator("#acth-transitions-none")).to_be_visible()
            assert "camera=kitchen" in page.url

            # History: the 15 segments, newest first (yesterday's lunch), 10 a page; then filtered,
            # then the CSV.
            page.goto(f"{base}/activity/history")
            page.wait_for_function(f"() => {LOADED}")
            rows = page.locator("#acth-segments tbody tr")
            expect(rows).to_have_count(10)
            assert rows.first.get_attribute("data-activity") == "eating"
            first = rows.first.locator("td").all_inner_texts()
            assert first[:2] == ["kitchen", "Marie"] and first[5] == "30 min 00 s" and first[6] == "0.70"
            assert rows.first.locator("a").get_attribute("href") == f"/visitors/{visitor}"
            assert "12:00" in first[3]  # 11:00 UTC shown in Paris time
            # Shares as percentages, like the CLI (a bare 0.6 read like a count); motion is no share.
            # (The cue names in key order: the template's tojson sorts them.)
            cues = "hands in front 40%, head down 60%, motion 0.200, voice 10%, book, food, speech"
            assert first[7] == cues, first
            expect(page.locator("#acth-status")).to_have_text("15 segments")
            _keep("history-en.png", page.screenshot(full_page=True), shots)
            expect(page.locator("#acth-prev")).to_be_hidden()
            page.click("#acth-next")
            expect(rows).to_have_count(5)  # the oldest: three days ago, 09:00 Paris reading last
            expect(page.locator("#acth-page")).to_have_text("Page 2 of 2")
            assert rows.last.locator("td").all_inner_texts()[2] == "Reading" and "page=2" in page.url
            expect(page.locator("#acth-next")).to_be_hidden()
            page.click("#acth-prev")
            expect(rows).to_have_count(10)
            page.select_option("#acth-activity", "on_phone")
            page.click("#acth-apply")
            expect(rows).to_have_count(3)
            href = page.get_attribute("#acth-csv", "href")
            assert href is not None and "activity=on_phone" in href
            download = page.request.get(f"{base}{href}")
            assert download.ok
            table = list(csv.DictReader(io.StringIO(download.text())))
            assert [(r["camera"], r["activity"], r["duration_s"]) for r in table] == [
                ("desk", "on_phone", "600.000")
            ] * 3

            # French: the same pages in the other language.
            context.add_cookies([{"name": "vigil_lang", "value": "fr", "url": base}])  # what /lang/fr sets
            page.goto(f"{base}/activity/statistics")
            page.wait_for_function(f"() => {LOADED}")
            legend = page.evaluate("() => window.acthCharts.days.data.datasets.map((d) => d.label)")
            assert set(legend) == {"Sommeil", "Repas", "Lecture", "Au téléphone"}
            # French numbers: a decimal comma in the axes (hours: 0,5 ...) and the shares.
            ticks = page.evaluate("() => window.acthCharts.days.scales.y.ticks.map((t) => t.label)")
            assert any("," in t for t in ticks) and not any("." in t for t in ticks), ticks
            shares = page.locator("#acth-totals tbody td:nth-child(3)").all_inner_texts()
            # "43,5 %": a decimal comma and French's no-break space before %.
            assert shares and all(re.fullmatch(r"\d+,\d\u00a0%", s) for s in shares), shares
            _keep("statistics-fr.png", page.screenshot(full_page=True), shots)
            page.goto(f"{base}/activity/history")
            page.wait_for_function(f"() => {LOADED}")
            expect(page.locator("#acth-segments tbody tr").first).to_contain_text("Repas")
            first = page.locator("#acth-segments tbody tr").first.locator("td").all_inner_texts()
            assert first[6] == "0,70", first
            # Cue names, objects and sounds in French; the percent sign after a no-break space.
            cues = "mains devant 40\u00a0%, tête baissée 60\u00a0%, mouvement 0,200, voix 10\u00a0%"
            assert first[7] == cues + ", livre, nourriture ou vaisselle, parole", first
            _keep("history-fr.png", page.screenshot(full_page=True), shots)

            # The cameras page's switch: on, and the API says so.
            page.goto(f"{base}/cameras")
            toggle = page.locator(f"#camera-activity-{camera.id}")
            expect(toggle).not_to_be_checked()
            toggle.check()
            expect(page.locator("#cameras-message")).to_contain_text("activé")
            answer = page.request.get(f"{base}/api/cameras/{camera.id}", headers=admin_key)
            assert answer.json()["activity"] is True
            page.reload()
            expect(page.locator(f"#camera-activity-{camera.id}")).to_be_checked()
            _keep("cameras-fr.png", page.screenshot(full_page=True), shots)
            assert not errors, errors
        finally:
            browser.close()
