"""The activity history's pages (issue 18 item 4) and the per-camera activity switch (item 3):
who sees the Statistics and History pages, the camera API's `activity` (stored, refused for
configured cameras and viewers, applied to a running camera by restarting it), and the live
activity of a real pipeline on the asleep clip as the live page's tiles read it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import SHARED
from tests.waiting import until
from tests.web_util import bearer, ctx_of, login, make_app
from vigil.activity.history import NewSegment
from vigil.activity.labels import Activity as A
from vigil.activity.repository import ActivityRepository
from vigil.activity.result import CueSummary

ASLEEP = SHARED / "media" / "activity" / "asleep" / "akshint_test_video_sleep.mp4"
CUES = CueSummary(present=1.0, motion=0.01, eyes_closed=0.9, head_down=0.0, hand_at_ear=0.0,
                  hand_at_mouth=0.0, hands_in_front=0.0, voice=0.0, objects=[], sounds=[])  # fmt: skip


def test_pages_for_every_logged_in_user(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    start = datetime(2026, 12, 1, 9, tzinfo=UTC)
    ActivityRepository(ctx_of(app).store.db).add(
        [NewSegment("attic", A.ASLEEP, start, start + timedelta(hours=1), 0.9, CUES)]
    )
    with TestClient(app) as client:
        for path in ("/activity/statistics", "/activity/history"):
            answer = client.get(path, follow_redirects=False)
            assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
        bearer(app, "viewer")  # creates the viewer account
        login(client, "viewer-user", "password-viewer-user")
        stats = client.get("/activity/statistics")
        assert stats.status_code == 200
        assert 'href="/activity/statistics" class="active"' in stats.text  # the nav link, for viewers too
        assert '<option value="attic">attic</option>' in stats.text  # a camera known from its history
        assert 'id="acth-days"' in stats.text and "/static/vendor/chart.umd.min.js" in stats.text
        assert 'id="act-tab-files"' not in stats.text  # file analysis is for admins
        assert 'id="act-tab-clips"' not in stats.text  # clips too
        history = client.get("/activity/history")
        assert history.status_code == 200 and 'id="acth-activity"' in history.text
        assert '<option value="on_phone">On the phone</option>' in history.text
        client.get("/lang/fr")
        french = client.get("/activity/history").text
        assert "Historique d&#39;activité" in french  # escaped by Jinja
        assert '<option value="on_phone">Au téléphone</option>' in french
    with TestClient(app) as client:
        login(client)
        assert 'id="act-tab-files"' in client.get("/activity/statistics").text


TAB = re.compile(r'<a href="(?P<href>[^"]+)" class="(?P<cls>[^"]*)"[^>]*id="act-tab-(?P<tab>\w+)"')


def test_every_activity_tab_shows_the_tab_bar_with_itself_marked(tmp_path: Path) -> None:
    """The Video files tab (/activity) had no tab bar: no way back to Statistics or History."""
    with TestClient(make_app(tmp_path)) as client:
        login(client)
        for path, current in (("/activity/statistics", "stats"), ("/activity/history", "history"),
                              ("/activity", "files"), ("/activity/clips", "clips")):  # fmt: skip
            page = client.get(path)
            assert page.status_code == 200, path
            tabs = {m["tab"]: (m["href"], m["cls"]) for m in TAB.finditer(page.text)}
            assert tabs == {
                "stats": ("/activity/statistics", "active" if current == "stats" else ""),
                "history": ("/activity/history", "active" if current == "history" else ""),
                "files": ("/activity", "active" if current == "files" else ""),
                "clips": ("/activity/clips", "active" if current == "clips" else ""),
            }, path


def test_the_activity_switch_is_stored_and_refused_where_it_must_be(tmp_path: Path, hamilton: Path) -> None:
    config: dict[str, Any] = {"cameras": [{"url": str(hamilton), "name": "door", "activity": True}]}
    app = make_app(tmp_path, **config)
    with TestClient(app) as client:
        admin = bearer(app)
        cameras = {c["name"]: c for c in client.get("/api/cameras", headers=admin).json()}
        assert cameras["door"]["activity"] is True  # from the configuration
        door = cameras["door"]["id"]
        refused = client.patch(f"/api/cameras/{door}", json={"activity": False}, headers=admin)
        assert refused.status_code == 409 and "configuration" in refused.json()["detail"]
        added = client.post("/api/cameras", json={"url": str(ASLEEP), "name": "bedroom", "enabled": False},
                            headers=admin).json()  # fmt: skip
        assert added["activity"] is False
        url = f"/api/cameras/{added['id']}"
        assert client.patch(url, json={"activity": True}, headers=bearer(app, "viewer")).status_code == 403
        assert client.patch(url, json={"activity": True}, headers=bearer(app, "operator")).status_code == 403
        assert client.patch(url, json={"activity": None}, headers=admin).status_code == 422
        assert client.patch(url, json={"activity": "maybe"}, headers=admin).status_code == 422
        switched = client.patch(url, json={"activity": True}, headers=admin)
        assert switched.status_code == 200 and switched.json()["activity"] is True
        assert switched.json()["enabled"] is False  # a stopped camera stays stopped
        bearer(app, "viewer")  # creates the viewer account
        login(client, "viewer-user", "password-viewer-user")
        page = client.get("/cameras").text  # the viewer sees the switch, greyed
        toggle = f'class="camera-activity-toggle" id="camera-activity-{added["id"]}"'
        box = re.search(rf'<input type="checkbox"\s+{toggle}[^>]*>', page)
        assert box is not None and "checked" in box.group(0) and "disabled" in box.group(0)
    again = make_app(tmp_path, **config)  # a restart reads the switch from the store
    with TestClient(again) as client:
        cameras = {c["name"]: c for c in client.get("/api/cameras", headers=bearer(again)).json()}
        assert (cameras["bedroom"]["activity"], cameras["door"]["activity"]) == (True, True)


@pytest.mark.slow
def test_switching_activity_on_restarts_the_running_camera_with_it(tmp_path: Path, models_dir: Path) -> None:
    """Over HTTP (uvicorn), with a real pipeline on the asleep clip; the live page's tile is
    checked and photographed in Chromium while the camera says asleep."""
    import httpx

    from tests.test_web_e2e import CHROMIUM, CHROMIUM_ARGS, _keep
    from tests.web_util import ADMIN_PASSWORD, ServedApp

    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: run `make system-deps` (installs Debian's chromium)")
    app = make_app(tmp_path, shared_dir=models_dir.parent, runtime={"embed_processes": 0}, realtime=True)
    admin, viewer = bearer(app), bearer(app, "viewer")
    with ServedApp(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        body = {"url": str(ASLEEP), "name": "bedroom", "loop": True}
        camera = client.post("/api/cameras", json=body, headers=admin).json()
        url = f"/api/cameras/{camera['id']}"
        until(lambda: client.get(url, headers=admin).json()["state"] == "running", 60, "the camera to run")
        assert client.get("/api/activity/live", headers=viewer).json() == []
        manager = ctx_of(app).cameras
        assert manager.activity_state(camera["id"]) is None  # no activity thread in this pipeline

        assert client.patch(url, json={"activity": True}, headers=admin).json()["activity"] is True

        def asleep() -> dict[str, Any] | None:
            [tile] = client.get("/api/activity/live", headers=viewer).json()
            return tile if tile["activity"] == "asleep" else None

        tile = until(asleep, 120, "the live activity to say asleep")
        assert tile["running"] is True and tile["camera"] == "bedroom" and 0 < tile["confidence"] <= 1
        assert datetime.fromisoformat(tile["since"]) <= datetime.fromisoformat(tile["updated"])
        params = {"camera": "bedroom"}
        stored = until(
            lambda: client.get("/api/activity/segments", params=params, headers=viewer).json()["segments"],
            60,
            "a stored live segment",
        )
        assert stored[0]["activity"] == "asleep" and stored[0]["source"] == "live"

        from playwright.sync_api import expect, sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = browser.new_context(viewport={"width": 700, "height": 900}).new_page()
                page.goto(f"{base}/live")
                page.fill("input[name=username]", "admin")
                page.fill("input[name=password]", ADMIN_PASSWORD)
                page.click("button[type=submit]")
                tile_box = page.locator(f"#live-activity-{camera['id']}")
                expect(tile_box).to_have_attribute("data-activity", "asleep", timeout=20_000)
                expect(tile_box.locator(".act-name")).to_have_text("Asleep")
                expect(tile_box.locator(".act-confidence")).to_have_text(re.compile(r"^confidence \d{1,3}%$"))
                expect(tile_box.locator(".act-since")).to_contain_text("min)")
                fps = page.locator(f"#live-fps-{camera['id']}")
                expect(fps).to_have_text(re.compile(r"^\d+\.\d fps in, \d+\.\d fps analysed$"))
                # asleep's colour, from activity-common.js (loaded before live.js)
                expect(tile_box.locator(".act-swatch")).to_have_css("background-color", "rgb(57, 73, 171)")
                card = page.locator(f"#live-card-{camera['id']}")
                page.wait_for_timeout(1500)  # a few MJPEG pictures
                _keep("live-tile-en.png", card.screenshot(), tmp_path)
                page.context.add_cookies([{"name": "vigil_lang", "value": "fr", "url": base}])
                page.reload(wait_until="commit")
                expect(tile_box.locator(".act-name")).to_have_text("Sommeil", timeout=20_000)
                confidence = re.compile(r"^confiance \d{1,3}\u00a0%$")  # a no-break space before %
                expect(tile_box.locator(".act-confidence")).to_have_text(confidence)
                expect(fps).to_have_text(re.compile(r"^\d+,\d i/s reçues, \d+,\d i/s analysées$"))  # 33,7
                page.wait_for_timeout(1500)
                _keep("live-tile-fr.png", card.screenshot(), tmp_path)
                # Switched off: the page sees it on its next poll of /api/cameras and reloads.
                assert client.patch(url, json={"activity": False}, headers=admin).json()["activity"] is False
                expect(tile_box).to_have_count(0, timeout=20_000)
                expect(card).to_be_visible()
            finally:
                browser.close()

        assert client.get("/api/activity/live", headers=viewer).json() == []
        assert manager.is_running(camera["id"]) and manager.activity_state(camera["id"]) is None
        segments = client.get("/api/activity/segments", params=params, headers=viewer).json()
        assert not any(s["open"] for s in segments["segments"])  # the restart closed the open one
