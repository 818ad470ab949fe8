"""End-to-end in Chromium (issue 15): a real `vigil serve`, an admin and an operator, each in their
own browser context.

(a) the admin enrols lin_manuel_miranda on the Watchlist page from his photo plus a faceless one,
    which the page lists as refused with its reason;
(b) the admin adds the hamilton clip as a camera; the operator, on the Alerts page, gets the toast
    for his face from the live pipeline (through /api/alerts/stream) and the alert in the list;
(c) the operator confirms it with a note on the Alerts page, which shows the decision (and still
    does after a reload).
Set E2E_SCREENSHOT_DIR to keep the screenshots."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from tests.test_web_alerts_serve import PASSWORD, server  # noqa: F401 (the `vigil serve` fixture)
from tests.test_web_e2e import CHROMIUM, CHROMIUM_ARGS, _keep

pytestmark = pytest.mark.slow
ALERT_WAIT_MS = 90_000  # the clip's first good faces on a loaded 2-core machine (usually ~15 s)
OPERATOR_PASSWORD = "operator-e2e-password"


def _log_in(page: Any, base: str, path: str, username: str, password: str) -> None:
    page.goto(f"{base}{path}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}{path}")


def test_admin_enrols_operator_gets_the_toast_and_confirms(
    server: str,  # noqa: F811
    hamilton: Path,
    tmp_path: Path,
) -> None:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: run `make system-deps` (installs Debian's chromium)")
    from playwright.sync_api import expect, sync_playwright

    from tests.conftest import SHARED

    photo = SHARED / "media" / "faces" / "people" / "lin_manuel_miranda" / "ref.png"
    wall = tmp_path / "wall.jpg"
    cv2.imwrite(str(wall), np.full((400, 300, 3), 128, np.uint8))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            admin = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            admin.set_default_timeout(30_000)
            _log_in(admin, server, "/watchlist", "admin", PASSWORD)

            # (a) enrol from the Watchlist page: one photo kept, the faceless one refused with its reason
            admin.fill("#enrol-name", "Lin-Manuel Miranda")
            admin.fill("#enrol-category", "vip")
            admin.set_input_files("#enrol-photos", [str(photo), str(wall)])
            admin.click("#enrol-submit")
            card = admin.locator(".person-card[data-name='Lin-Manuel Miranda']")
            expect(card).to_be_visible(timeout=60_000)  # the first enrolment loads the models
            expect(card.locator(".person-refs")).to_have_text("1 reference photo(s)")
            expect(admin.locator(".refusal[data-reason=no_face]")).to_have_text("wall.jpg: no face found")
            assert card.locator("img.person-thumb").evaluate("img => img.complete && img.naturalWidth") > 0
            _keep("watchlist.png", admin.screenshot(full_page=True), tmp_path)

            user = {"username": "operator1", "password": OPERATOR_PASSWORD, "role": "operator"}
            admin.evaluate("(user) => window.vigil.api('POST', '/api/users', user)", user)

            # (b) the operator's Alerts page, then the camera: the toast comes from the live pipeline
            operator = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            operator.set_default_timeout(30_000)
            _log_in(operator, server, "/alerts", "operator1", OPERATOR_PASSWORD)
            expect(operator.locator("#alerts-empty")).to_be_visible()
            camera = {"name": "stage", "url": str(hamilton)}
            admin.evaluate("(camera) => window.vigil.api('POST', '/api/cameras', camera)", camera)

            toast = operator.locator(".toast").first
            expect(toast).to_be_visible(timeout=ALERT_WAIT_MS)
            expect(toast.locator(".toast-text")).to_contain_text("Lin-Manuel Miranda on stage (score ")
            score = float(re.findall(r"score ([0-9.]+)", toast.locator(".toast-text").inner_text())[0])
            assert score >= 0.55  # a match: probable alerts get no toast
            alert_id = toast.get_attribute("data-alert-id")
            row = operator.locator(f"#alert-{alert_id}")
            expect(row).to_be_visible()  # the list got it from the same stream
            expect(row.locator(".status-pill")).to_have_text("to decide")
            expect(operator.locator("#alerts-badge")).not_to_be_hidden()
            _keep("alerts-toast.png", operator.screenshot(), tmp_path)

            # (c) confirm it with a note: the page shows who decided, and so does a fresh load
            row.locator(".alert-note").fill("seen on stage")
            row.locator("button.alert-confirm").click()
            decided = operator.locator(f"#alert-{alert_id}")
            expect(decided.locator(".status-pill")).to_have_text("confirmed")
            expect(decided.locator(".alert-decision")).to_contain_text("by operator1")
            expect(decided.locator(".alert-note-text")).to_have_text("seen on stage")
            expect(decided.locator("form.alert-decide")).to_have_count(0)
            assert decided.locator(".alert-add-ref").count() == 0  # operators cannot add references
            _keep("alerts-decided.png", operator.screenshot(), tmp_path)
            operator.reload()
            expect(operator.locator(f"#alert-{alert_id} .alert-decision")).to_contain_text("by operator1")
        finally:
            browser.close()


def test_admin_rejects_undoes_the_lesson_adds_a_face_and_removes_the_person(tmp_path: Path) -> None:
    """The admin's controls in Chromium, over an in-process server (no camera, no photo model): a
    rejection on the Alerts page says what it taught, the person page lists the lesson and its Undo
    (confirm dialog) forgets it, a confirmation with "add this face to the references" adds one, and
    the Watchlist page's Remove (confirm dialog) erases the person."""
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: run `make system-deps` (installs Debian's chromium)")
    from playwright.sync_api import expect, sync_playwright

    from tests.test_web_alerts import kept_faces, person, pushed, stored_alert
    from tests.web_util import ADMIN_PASSWORD, ServedApp, ctx_of, make_app

    app = make_app(tmp_path)
    host = ctx_of(app).watchlist
    ada = person(host, "Ada Example", 3)
    cousin, twin = stored_alert(host, ada, "door"), stored_alert(host, ada, "hall", track=2)
    kept_faces(host, cousin, 40, count=2)
    kept_faces(host, twin, 50)
    with ServedApp(app) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(30_000)
            page.on("dialog", lambda dialog: dialog.accept())
            _log_in(page, base, "/alerts", "admin", ADMIN_PASSWORD)

            card = page.locator(f"#alert-{cousin}")
            card.locator(".alert-note").fill("her cousin")
            card.locator("button.alert-reject").click()
            expect(card.locator(".status-pill")).to_have_text("rejected")
            expect(page.locator("#alerts-message")).to_have_text("Learned: 2 face(s) are not this person.")

            card = page.locator(f"#alert-{twin}")
            card.locator(".alert-add-ref").check()
            card.locator("button.alert-confirm").click()
            expect(card.locator(".status-pill")).to_have_text("confirmed")
            expect(page.locator("#alerts-message")).to_have_text(
                "The face was added to the reference photos."
            )
            assert host.people.get(ada).references == 2

            fresh = stored_alert(host, ada, "lobby", track=3)
            pushed(host, fresh)  # as the live monitor's listener does: the stream carries it
            expect(page.locator(f"#alert-{fresh}")).to_be_visible()
            page.locator(f".toast[data-alert-id='{fresh}'] a.toast-link").click()  # same page: the hash
            expect(page.locator(f"#alert-{fresh}")).to_have_class(re.compile(r"\balert-focus\b"))

            page.goto(f"{base}/watchlist/{ada}")
            expect(page.locator(".reference-photo")).to_have_count(2)
            lesson = page.locator(f"tr.lesson[data-alert-id='{cousin}']")
            expect(lesson).to_contain_text("her cousin")
            _keep("watchlist-person.png", page.screenshot(full_page=True), tmp_path)
            lesson.locator("button.lesson-undo").click()
            expect(lesson).to_have_count(0)
            expect(page.locator("#watchlist-message")).to_have_text("Forgotten: 2 face(s).")
            assert host.lessons(ada) == []

            page.goto(f"{base}/watchlist")
            page.locator(f"#person-{ada} button.person-remove").click()
            expect(page.locator(f"#person-{ada}")).to_have_count(0)
            expect(page.locator("#watchlist-message")).to_have_text(
                "Ada Example was removed from the watchlist."
            )
            assert host.people.people() == []
        finally:
            browser.close()
