"""The watchlist and alerts pages (issue 15), rendered by the app: who sees them (operators and
admins; viewers 403, anonymous visitors sent to the login form), what each role is offered (the
enrolment, undo and "add this face" controls are the admin's), the live alerts wiring every page of
an operator carries and a viewer's does not, the visitor page's "Add to watchlist" form, and the
en/fr texts. The scripts themselves run in Chromium in tests/test_web_watchlist_e2e.py."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import get_args

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.test_web_alerts import kept_faces, person, stored_alert
from tests.web_util import bearer, ctx_of, make_app
from vigil.store.repository import FaceObservation
from vigil.types import FaceEmbedding
from vigil.watchlist.errors import RefusalReason
from vigil.web.i18n import CATALOGS
from vigil.web.messages.watchlist import MESSAGES

Keys = dict[str, dict[str, str]]


@pytest.fixture
def app(tmp_path: Path) -> Iterator[FastAPI]:
    app = make_app(tmp_path)
    with TestClient(app):
        yield app


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    return TestClient(app, follow_redirects=False)


@pytest.fixture
def keys(app: FastAPI) -> Keys:
    return {role: bearer(app, role) for role in ("admin", "operator", "viewer")}


def test_who_sees_the_pages(app: FastAPI, client: TestClient, keys: Keys) -> None:
    lin = person(ctx_of(app).watchlist, "Lin", 1)
    for path in ("/watchlist", f"/watchlist/{lin}", "/alerts"):
        anonymous = client.get(path)
        assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login"), path
        viewer = client.get(path, headers=keys["viewer"])
        assert viewer.status_code == 403 and "needs the operator or admin role" in viewer.text, path
        for role in ("operator", "admin"):
            assert client.get(path, headers=keys[role]).status_code == 200, (path, role)
    missing = client.get(f"/watchlist/{uuid.uuid4()}", headers=keys["operator"])
    assert missing.status_code == 404 and 'id="person-missing"' in missing.text


def test_every_operator_page_carries_the_live_alerts_and_no_viewer_page_does(
    client: TestClient, keys: Keys
) -> None:
    for role in ("operator", "admin"):
        page = client.get("/live", headers=keys[role]).text
        assert 'src="/static/alerts-live.js"' in page and 'id="alert-toasts"' in page, role
        assert 'href="/alerts"' in page and 'id="alerts-badge"' in page and 'href="/watchlist"' in page, role
    viewer = client.get("/live", headers=keys["viewer"]).text
    assert "alerts-live.js" not in viewer and "alert-toasts" not in viewer
    assert 'href="/alerts"' not in viewer and 'href="/watchlist"' not in viewer
    assert client.get("/static/alerts-live.js").status_code == 200


def test_the_watchlist_page_lists_people_and_offers_enrolment_to_admins(
    app: FastAPI, client: TestClient, keys: Keys
) -> None:
    host = ctx_of(app).watchlist
    lin = person(host, "Lin-Manuel Miranda", 1)
    host.people.add_person("Nobody Photographed", [], "no photo yet", "vip")
    page = client.get("/watchlist", headers=keys["operator"]).text
    assert re.search(rf'id="person-{lin}"[^>]*data-name="Lin-Manuel Miranda"', page)
    thumbs = re.findall(r'class="person-thumb" src="(/api/watchlist/images/[^"]+)"', page)
    assert len(thumbs) == 1  # the photographed person's, signed; the other shows "no photo"
    assert client.get(thumbs[0].replace("&amp;", "&"), headers=keys["operator"]).status_code == 200
    assert "no photo yet" in page and "vip" in page and "1 reference photo(s)" in page
    assert 'id="enrol-form"' not in page and "person-remove" not in page  # the admin's controls
    admin = client.get("/watchlist", headers=keys["admin"]).text
    assert 'id="enrol-form"' in admin and admin.count('class="person-remove danger"') == 2
    texts = re.search(r"data-reason-texts='([^']+)'", admin)
    assert texts and "no face found" in texts.group(1)  # refusals are worded in the page's language


def test_the_person_page_shows_photos_and_lessons_with_undo_for_admins(
    app: FastAPI, client: TestClient, keys: Keys
) -> None:
    host = ctx_of(app).watchlist
    lin = person(host, "Lin", 1)
    alert = stored_alert(host, lin, camera="hall")
    kept_faces(host, alert, 30, count=2)
    host.decide(alert, "rejected", "op1", "his cousin")
    page = client.get(f"/watchlist/{lin}", headers=keys["operator"]).text
    assert page.count('class="reference-photo"') == 1
    row = re.search(rf'<tr class="lesson" data-alert-id="{alert}">(.*?)</tr>', page, re.S)
    assert row and "hall" in row.group(1) and "his cousin" in row.group(1) and "op1" in row.group(1)
    assert 'class="lesson-faces">2<' in row.group(1)
    assert "lesson-undo" not in page and 'id="photos-form"' not in page
    admin = client.get(f"/watchlist/{lin}", headers=keys["admin"]).text
    assert "lesson-undo" in admin and 'id="photos-form"' in admin and 'id="person-remove"' in admin
    assert f'href="/alerts?person={lin}"' in admin


def test_the_alerts_page_keeps_valid_filters_and_drops_others(
    app: FastAPI, client: TestClient, keys: Keys
) -> None:
    lin = person(ctx_of(app).watchlist, "Lin", 1)
    page = client.get(f"/alerts?camera=door&level=match&status=lost&person={lin}", headers=keys["operator"])
    filters = re.search(r"data-filters='([^']+)'", page.text)
    assert filters is not None
    assert '"camera": "door"' in filters.group(1) and '"level": "match"' in filters.group(1)
    assert '"status": ""' in filters.group(1) and f'"person": "{lin}"' in filters.group(1)
    assert "Only Lin&#39;s alerts." in page.text or "Only Lin's alerts." in page.text
    assert 'data-admin="false"' in page.text
    assert 'data-admin="true"' in client.get("/alerts", headers=keys["admin"]).text
    odd = client.get("/alerts?person=nobody", headers=keys["operator"])
    assert odd.status_code == 200 and '"person": ""' in odd.text


def test_the_visitor_page_offers_add_to_watchlist_to_admins(
    app: FastAPI, client: TestClient, keys: Keys
) -> None:
    store = ctx_of(app).store
    vector = np.random.default_rng(1).normal(size=128).astype(np.float32)
    crop = np.full((120, 90, 3), 90, np.uint8)
    obs = FaceObservation("cam-a", 1, datetime.now(UTC), FaceEmbedding(vector, "m1"), 0.9, crop)
    visitor = store.observe(obs).visitor_id
    admin = client.get(f"/visitors/{visitor}", headers=keys["admin"]).text
    assert f'id="watchlist-add-form" data-visitor-id="{visitor}"' in admin
    assert 'src="/static/watchlist.js"' in admin
    for role in ("operator", "viewer"):
        assert "watchlist-add-form" not in client.get(f"/visitors/{visitor}", headers=keys[role]).text


def test_texts_exist_in_both_languages_for_every_refusal_and_status() -> None:
    assert MESSAGES["en"].keys() == MESSAGES["fr"].keys()
    for reason in get_args(RefusalReason):
        assert f"refusal.{reason}" in MESSAGES["en"], reason
    for status in ("open", "confirmed", "rejected", "expired"):
        assert MESSAGES["fr"][f"alerts.status.{status}"] != MESSAGES["en"][f"alerts.status.{status}"]
    assert CATALOGS["fr"]["nav.alerts"] == "Alertes"


def test_pages_use_no_inline_script(app: FastAPI, client: TestClient, keys: Keys) -> None:
    """The CSP allows scripts from files only: the pages must not rely on inline ones."""
    lin = person(ctx_of(app).watchlist, "Lin", 1)
    for path in ("/watchlist", f"/watchlist/{lin}", "/alerts", "/live"):
        page = client.get(path, headers=keys["admin"]).text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), path
        assert not re.search(r"\son[a-z]+=", page), path  # no inline event handlers either
