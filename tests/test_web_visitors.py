"""Visitors area of the web app: the recurrence API, the pages, the admin repairs and their rights.

A real store (SQLite in the app's temp data dir) is filled through `IdentityStore.observe` with
synthetic embeddings and small crops, over today and the previous days (server's local calendar)."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.web_util import ADMIN_PASSWORD, bearer, ctx_of, make_app
from vigil.store.repository import FaceObservation, IdentityStore
from vigil.store.schema import Prototype, Sighting, Visit, Visitor
from vigil.types import FaceEmbedding

PEOPLE = np.random.default_rng(11).normal(size=(4, 128)).astype(np.float32)  # cos ≈ 0 between people


def local_today() -> date:
    """Read when a scene is built, not at import: a run that crosses midnight must not split the days."""
    return datetime.now().astimezone().date()


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute)).astimezone()


def observation(
    person: int, when: datetime, track: int, camera: str = "cam-a", shade: int = 100
) -> FaceObservation:
    noise = np.random.default_rng(track).normal(size=128).astype(np.float32) * 0.02
    image = np.full((64, 48, 3), shade, np.uint8)
    image[8:24, 8:40] = (0, 0, 255)  # something to decode and check
    return FaceObservation(
        camera, track, when, FaceEmbedding(PEOPLE[person] + noise, "m1"), 0.5 + shade / 1000, image
    )


@dataclass
class Scene:
    app: FastAPI
    regular: uuid.UUID  # yesterday, 2 days ago and today 09:00 (cam-b): 3 visits
    returning: uuid.UUID  # yesterday and today 10:30: 2 visits
    newcomer: uuid.UUID  # today 11:00 only
    gone: uuid.UUID  # yesterday only
    today: date

    @property
    def yesterday(self) -> date:
        return self.today - timedelta(days=1)

    @property
    def store(self) -> IdentityStore:
        return ctx_of(self.app).store


def fill(store: IdentityStore, today: date) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID, uuid.UUID]:
    two_days_ago, yesterday = today - timedelta(days=2), today - timedelta(days=1)
    regular = store.observe(observation(0, at(two_days_ago, 15), 1)).visitor_id
    store.observe(observation(0, at(yesterday, 15), 2))
    store.observe(observation(0, at(today, 9), 3, camera="cam-b", shade=180))
    returning = store.observe(observation(1, at(yesterday, 10), 4)).visitor_id
    store.observe(observation(1, at(today, 10, 30), 5, shade=200))
    newcomer = store.observe(observation(2, at(today, 11), 6)).visitor_id
    gone = store.observe(observation(3, at(yesterday, 12), 7)).visitor_id
    return regular, returning, newcomer, gone


@pytest.fixture
def scene(tmp_path: Path) -> Iterator[Scene]:
    app = make_app(tmp_path, store={"same_person_similarity": 0.9})
    today = local_today()
    regular, returning, newcomer, gone = fill(ctx_of(app).store, today)
    assert len({regular, returning, newcomer, gone}) == 4, "each synthetic person must be one visitor"
    yield Scene(app, regular, returning, newcomer, gone, today)


@pytest.fixture
def client(scene: Scene) -> Iterator[TestClient]:
    with TestClient(scene.app) as c:
        yield c


def session_login(client: TestClient, username: str, password: str) -> str:
    """Logs in through the form; returns the session's CSRF token (read from the visitors page)."""
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token
    data = {"username": username, "password": password, "csrf_token": token.group(1)}
    assert client.post("/login", data=data, follow_redirects=False).status_code == 303
    page = client.get("/visitors")
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert csrf
    return csrf.group(1)


def decode(content: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(content, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not an image"
    return np.asarray(image)


def ids_of(body: dict[str, object]) -> list[str]:
    items = body["items"]
    assert isinstance(items, list)
    return [str(item["visitor_id"]) for item in items]


# ------------------------------------------------------------------------------ API reads
def test_loyal_visitors_are_seen_today_with_earlier_visits(scene: Scene, client: TestClient) -> None:
    auth = bearer(scene.app, "viewer")
    day = scene.today.isoformat()
    loyal = client.get(f"/api/visitors/loyal?date={day}", headers=auth).json()
    assert loyal["total"] == 2 and loyal["loyal"] is True
    assert ids_of(loyal) == [str(scene.regular), str(scene.returning)]  # by arrival: 09:00, 10:30
    first, second = loyal["items"]
    assert first["visits_in_window"] == 3 and first["past_visits"] == 2
    assert first["frequency"] == "seen 3 times this week" and first["cameras"] == ["cam-b"]
    assert datetime.fromisoformat(second["arrival"]) == at(scene.today, 10, 30)
    assert second["today_photo"]["url"].startswith("/api/images/")
    assert second["reference_photo"]["thumb_url"] != second["reference_photo"]["url"]
    same = client.get(f"/api/visitors?loyal=true&date={day}", headers=auth).json()
    assert ids_of(same) == ids_of(loyal)
    by_visits = client.get(f"/api/visitors/loyal?date={day}&sort=visits", headers=auth).json()
    by_last_seen = client.get(f"/api/visitors/loyal?date={day}&sort=last_seen", headers=auth).json()
    assert ids_of(by_visits) == [str(scene.regular), str(scene.returning)]
    assert ids_of(by_last_seen) == [str(scene.returning), str(scene.regular)] and by_last_seen["total"] == 2
    assert client.get(f"/api/visitors/loyal?date={day}&offset=5", headers=auth).json()["total"] == 2
    stricter = client.get(f"/api/visitors/loyal?date={day}&min_visits=2", headers=auth).json()
    assert ids_of(stricter) == [str(scene.regular)]
    everyone_today = client.get(f"/api/visitors/loyal?date={day}&min_visits=0", headers=auth).json()
    assert set(ids_of(everyone_today)) == {str(scene.regular), str(scene.returning), str(scene.newcomer)}
    short = client.get(f"/api/visitors/loyal?date={day}&window=1d&min_visits=1", headers=auth).json()
    assert short["total"] == 0 and short["window_days"] == 1  # earlier visits fall outside a 1-day window
    yesterday = client.get(f"/api/visitors/loyal?date={scene.yesterday}", headers=auth).json()
    assert ids_of(yesterday) == [str(scene.regular)]


def test_window_listing_sorts_and_paginates(scene: Scene, client: TestClient) -> None:
    auth = bearer(scene.app, "viewer")
    url = f"/api/visitors?date={scene.today}&window=2w"
    everyone = client.get(url, headers=auth).json()
    assert everyone["total"] == 4 and everyone["window_days"] == 14
    by_visits = client.get(url + "&sort=visits", headers=auth).json()
    assert ids_of(by_visits)[:2] == [str(scene.regular), str(scene.returning)]
    by_last_seen = client.get(url + "&sort=last_seen", headers=auth).json()
    assert ids_of(by_last_seen) == [
        str(v) for v in (scene.newcomer, scene.returning, scene.regular, scene.gone)
    ]
    pages = [client.get(f"{url}&sort=last_seen&limit=3&offset={o}", headers=auth).json() for o in (0, 3)]
    assert [len(p["items"]) for p in pages] == [3, 1] and all(p["total"] == 4 for p in pages)
    assert ids_of(pages[0]) + ids_of(pages[1]) == ids_of(by_last_seen)
    two = client.get(url + "&min_visits=2", headers=auth).json()
    assert set(ids_of(two)) == {str(scene.regular), str(scene.returning)}


@pytest.mark.parametrize(
    "query",
    ["window=0d", "window=2y", "window=400", "date=2026-13-01", "date=1000-01-01", "sort=name",
     "limit=0", "limit=201", "offset=-1", "min_visits=-1", "loyal=maybe"],
)  # fmt: skip
def test_bad_list_parameters_are_422(scene: Scene, client: TestClient, query: str) -> None:
    response = client.get(f"/api/visitors?{query}", headers=bearer(scene.app, "viewer"))
    assert response.status_code == 422, response.text


def test_detail_and_sighting_timeline(scene: Scene, client: TestClient) -> None:
    auth = bearer(scene.app, "viewer")
    detail = client.get(f"/api/visitors/{scene.regular}", headers=auth).json()
    assert detail["sighting_count"] == 3 and detail["visit_count"] == 3
    assert detail["cameras"] == ["cam-a", "cam-b"] and detail["reference_photo"]["url"]
    timeline = client.get(f"/api/visitors/{scene.regular}/sightings?limit=2", headers=auth).json()
    assert timeline["total"] == 3 and len(timeline["items"]) == 2
    newest = timeline["items"][0]
    assert datetime.fromisoformat(newest["captured_at"]) == at(scene.today, 9) and newest["camera"] == "cam-b"
    assert newest["photo"]["thumb_url"].startswith("/api/images/") and newest["model"] == "m1"
    rest = client.get(f"/api/visitors/{scene.regular}/sightings?limit=2&offset=2", headers=auth).json()
    assert len(rest["items"]) == 1 and rest["items"][0]["similarity"] is None  # the founding sighting
    assert client.get(f"/api/visitors/{uuid.uuid4()}", headers=auth).status_code == 404
    assert client.get(f"/api/visitors/{uuid.uuid4()}/sightings", headers=auth).status_code == 404
    assert client.get("/api/visitors/not-a-uuid", headers=auth).status_code == 422


def test_signed_photo_urls_serve_the_crops(scene: Scene, client: TestClient) -> None:
    auth = bearer(scene.app, "viewer")
    item = client.get(f"/api/visitors/loyal?date={scene.today}", headers=auth).json()["items"][1]
    full = client.get(item["today_photo"]["url"], headers=auth)
    assert full.status_code == 200 and full.headers["content-type"] == "image/webp"
    image = decode(full.content)
    assert (
        image.shape == (64, 48, 3) and image[16, 24, 2] > 200 and image[40, 24, 0] > 150
    )  # red band, shade 200
    thumb = client.get(item["reference_photo"]["thumb_url"], headers=auth)
    assert thumb.status_code == 200 and cv2.imdecode(np.frombuffer(thumb.content, np.uint8), 1) is not None
    assert client.get(item["today_photo"]["url"]).status_code == 401  # a signed URL alone is not enough


# ------------------------------------------------------------------------------ API rights and repairs
def test_anonymous_callers_get_401(scene: Scene, client: TestClient) -> None:
    v = scene.regular
    reads = ["/api/visitors", "/api/visitors/loyal", f"/api/visitors/{v}", f"/api/visitors/{v}/sightings"]
    for method, url in [("GET", u) for u in reads] + [("DELETE", f"/api/visitors/{v}")]:
        assert client.request(method, url).status_code == 401, url
    assert (
        client.post(f"/api/visitors/{scene.regular}/merge", json={"absorb": str(scene.gone)}).status_code
        == 401
    )


def test_viewers_cannot_repair_identities(scene: Scene, client: TestClient) -> None:
    auth = bearer(scene.app, "viewer")
    v = scene.regular
    assert (
        client.post(f"/api/visitors/{v}/merge", json={"absorb": str(scene.gone)}, headers=auth).status_code
        == 403
    )
    assert (
        client.post(f"/api/visitors/{v}/split", json={"sightings": [str(v)]}, headers=auth).status_code == 403
    )
    assert client.patch(f"/api/visitors/{v}", json={"name": "x"}, headers=auth).status_code == 403
    assert client.delete(f"/api/visitors/{v}", headers=auth).status_code == 403
    assert scene.store.counts()["visitors"] == 4


def test_admin_merges_splits_renames_and_erases(scene: Scene, client: TestClient) -> None:
    auth, store = bearer(scene.app, "admin"), scene.store
    merged = client.post(
        f"/api/visitors/{scene.returning}/merge", json={"absorb": str(scene.gone)}, headers=auth
    )
    assert merged.status_code == 200 and merged.json()["sighting_count"] == 3
    assert client.get(f"/api/visitors/{scene.gone}", headers=auth).status_code == 404
    again = client.post(
        f"/api/visitors/{scene.returning}/merge", json={"absorb": str(scene.gone)}, headers=auth
    )
    assert again.status_code == 404 and str(scene.gone) in again.json()["detail"]
    itself = client.post(
        f"/api/visitors/{scene.returning}/merge", json={"absorb": str(scene.returning)}, headers=auth
    )
    assert itself.status_code == 409 and "itself" in itself.json()["detail"]
    extra = client.post(
        f"/api/visitors/{scene.returning}/merge", json={"absorb": str(scene.gone), "x": 1}, headers=auth
    )
    assert extra.status_code == 422

    timeline = client.get(f"/api/visitors/{scene.returning}/sightings", headers=auth).json()["items"]
    moved = timeline[-1]["sighting_id"]  # the absorbed visitor's sighting (oldest)
    split = client.post(f"/api/visitors/{scene.returning}/split", json={"sightings": [moved]}, headers=auth)
    assert split.status_code == 201, split.text
    new_id = split.json()["new_visitor_id"]
    assert (
        client.get(f"/api/visitors/{new_id}/sightings", headers=auth).json()["items"][0]["sighting_id"]
        == moved
    )
    everything = [
        s["sighting_id"]
        for s in client.get(f"/api/visitors/{scene.returning}/sightings", headers=auth).json()["items"]
    ]
    refused = client.post(
        f"/api/visitors/{scene.returning}/split", json={"sightings": everything}, headers=auth
    )
    assert refused.status_code == 409 and "at least one sighting" in refused.json()["detail"]
    foreign = client.post(f"/api/visitors/{scene.returning}/split", json={"sightings": [moved]}, headers=auth)
    assert foreign.status_code == 409

    named = client.patch(
        f"/api/visitors/{new_id}", json={"name": "Ada", "label": "staff"}, headers=auth
    ).json()
    assert (named["name"], named["label"]) == ("Ada", "staff")
    cleared = client.patch(f"/api/visitors/{new_id}", json={"label": None}, headers=auth).json()
    assert (cleared["name"], cleared["label"]) == ("Ada", None)

    victim = scene.regular
    files_before = store.crops.all_files()
    erased = client.delete(f"/api/visitors/{victim}", headers=auth)
    assert erased.status_code == 200 and erased.json()["files_removed"] == 2 * (3 + 1)
    assert not any(str(victim) in f for f in store.crops.all_files()) and len(files_before) - 4 == len(
        store.crops.all_files()
    )
    with store.db.reader.connect() as conn:
        owned = (Visitor.id, Sighting.visitor_id, Visit.visitor_id, Prototype.visitor_id)
        for column in owned:
            assert conn.execute(select(func.count()).where(column == victim)).scalar_one() == 0
    assert client.delete(f"/api/visitors/{victim}", headers=auth).status_code == 404


# ------------------------------------------------------------------------------ pages
def test_visitors_page_in_english_and_french(scene: Scene, client: TestClient) -> None:
    session_login(client, "admin", ADMIN_PASSWORD)
    page = client.get("/visitors")
    assert page.status_code == 200 and "Loyal customers" in page.text
    cards = re.findall(r'class="card visitor-card" data-visitor-id="([^"]+)"', page.text)
    assert cards == [str(scene.regular), str(scene.returning)]
    assert "Seen 3 times this week" in page.text and "Arrival: 10:30" in page.text
    assert 'class="visitor-reference" src="/api/images/' in page.text
    client.cookies.set("vigil_lang", "fr")
    french = client.get("/visitors").text
    assert (
        "Clients fidèles" in french
        and "Vu 3 fois cette semaine" in french
        and "Vu 2 fois cette semaine" in french
    )
    assert "Arrivée : 09:00" in french and "Caméras : cam-b" in french and "Seen" not in french
    untick = html.unescape(
        client.get(f"/visitors?f=1&min_visits=0&window=1d&date={scene.today}&sort=visits").text
    )
    assert len(re.findall(r'class="card visitor-card"', untick)) == 3 and "Vu une fois aujourd'hui" in untick
    assert 'id="filter-loyal" type="checkbox" name="loyal" >' in untick  # the unticked box stays unticked
    none = client.get(f"/visitors?f=1&loyal=on&min_visits=5&date={scene.today}").text
    assert 'id="visitor-empty"' in none
    lenient = client.get("/visitors?min_visits=abc&window=zz&date=nope")
    assert lenient.status_code == 200 and "min_visits" in lenient.text and 'id="visitor-list"' in lenient.text


def test_visitors_page_paginates(tmp_path: Path) -> None:
    app = make_app(tmp_path, store={"same_person_similarity": 0.99})
    store = ctx_of(app).store
    people = np.random.default_rng(3).normal(size=(30, 128)).astype(np.float32)
    store.observe_many(
        [
            FaceObservation(
                "cam", i, at(local_today(), 8) + timedelta(minutes=i), FaceEmbedding(p, "m1"), 0.5
            )
            for i, p in enumerate(people)
        ]
    )
    with TestClient(app) as client:
        session_login(client, "admin", ADMIN_PASSWORD)
        first = client.get("/visitors?f=1&loyal=on&min_visits=0").text
        assert first.count('class="card visitor-card"') == 24 and "Page 1 of 2" in first
        assert 'href="?f=1&amp;min_visits=0&amp;window=7d&amp;sort=arrival&amp;loyal=on&amp;page=2"' in first
        second = client.get("/visitors?f=1&min_visits=0&window=7d&sort=arrival&loyal=on&page=2").text
        assert (
            second.count('class="card visitor-card"') == 6
            and 'id="visitor-total" class="muted" data-total="30"' in second
        )


def test_visitor_page_shows_the_timeline_and_admin_actions(scene: Scene, client: TestClient) -> None:
    session_login(client, "admin", ADMIN_PASSWORD)
    page = client.get(f"/visitors/{scene.regular}")
    assert page.status_code == 200 and f'data-visitor-id="{scene.regular}"' in page.text
    assert (
        len(re.findall(r'<tr class="sighting"', page.text)) == 3
        and 'class="sighting-thumb" src="/api/images/' in page.text
    )
    for form in ("merge-form", "split-form", "erase-form", "rename-form"):
        assert f'id="{form}"' in page.text
    assert client.get(f"/visitors/{uuid.uuid4()}").status_code == 404
    assert client.get("/visitors/nonsense").status_code == 404
    client.cookies.set("vigil_lang", "fr")
    assert "Chronologie des passages" in client.get(f"/visitors/{scene.regular}").text


def test_viewers_see_no_actions_and_cannot_post(scene: Scene, client: TestClient) -> None:
    ctx_of(scene.app).users.create("watcher", "watcher-password", "viewer")
    csrf = session_login(client, "watcher", "watcher-password")
    page = client.get(f"/visitors/{scene.regular}").text
    assert 'id="sighting-timeline"' in page and 'id="merge-form"' not in page and "split-pick" not in page
    for action, data in (
        ("merge", {"absorb": str(scene.gone)}),
        ("erase", {"confirm": "yes"}),
        ("split", {}),
    ):
        response = client.post(
            f"/visitors/{scene.regular}/{action}", data={**data, "csrf_token": csrf}, follow_redirects=False
        )
        assert response.status_code == 403, action
    assert scene.store.counts()["visitors"] == 4


def test_page_forms_need_the_csrf_token_and_repair(scene: Scene, client: TestClient) -> None:
    csrf = session_login(client, "admin", ADMIN_PASSWORD)
    url = f"/visitors/{scene.returning}"
    no_token = client.post(f"{url}/merge", data={"absorb": str(scene.gone)}, follow_redirects=False)
    assert no_token.status_code == 403 and scene.store.counts()["visitors"] == 4
    wrong = client.post(
        f"{url}/merge", data={"absorb": str(scene.gone), "csrf_token": "forged"}, follow_redirects=False
    )
    assert wrong.status_code == 403

    def post(action: str, **data: object) -> str:
        response = client.post(f"{url}/{action}", data={**data, "csrf_token": csrf}, follow_redirects=False)
        assert response.status_code == 303, response.text
        return str(response.headers["location"])

    assert post("merge", absorb="zzz").endswith("error=bad_id")
    assert post("merge", absorb=str(scene.returning)).endswith("error=merge_self")
    assert post("merge", absorb=str(uuid.uuid4())).endswith("error=merge_unknown")
    target = post("merge", absorb=str(scene.gone))
    assert target == f"{url}?done=merged"
    merged = client.get(target).text
    assert (
        'id="flash"' in merged
        and "Visitors merged." in merged
        and len(re.findall(r'<tr class="sighting"', merged)) == 3
    )
    picks = re.findall(r'class="split-pick" type="checkbox" name="sightings" value="([^"]+)"', merged)
    assert post("split").endswith("error=split_none")
    assert post("split", sightings=picks).endswith("error=split_all")
    done = post("split", sightings=picks[:1])
    new_id = re.search(r"new=([0-9a-f-]{36})", done)
    assert "done=split" in done and new_id and scene.store.counts()["visitors"] == 4
    assert 'id="flash-new-visitor"' in client.get(done).text
    assert post("rename", name=" Grace ", label="").endswith("done=renamed")
    assert "<h1>Grace</h1>" in client.get(url).text
    assert post("erase").endswith("error=confirm")
    erased = client.post(f"{url}/erase", data={"confirm": "yes", "csrf_token": csrf}, follow_redirects=False)
    assert erased.status_code == 303 and erased.headers["location"] == "/visitors?done=erased"
    assert "The visitor and all their photos were erased." in client.get("/visitors?done=erased").text
    assert client.get(url).status_code == 404
    assert not any(str(scene.returning) in f for f in scene.store.crops.all_files())


def test_anonymous_pages_redirect_to_login(scene: Scene, client: TestClient) -> None:
    page = client.get(f"/visitors/{scene.regular}", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login?next=/visitors/")
    posted = client.post(f"/visitors/{scene.regular}/erase", data={"confirm": "yes"}, follow_redirects=False)
    assert posted.status_code == 303 and posted.headers["location"].startswith("/login")
    assert scene.store.counts()["visitors"] == 4
