"""The watchlist API (issue 15): multipart enrolment with per-photo refusals, people and their signed
reference crops, removal without a trace, "Add to watchlist" from a visitor, who may do what, and
the enrolment routes' own body limit. Real detector and embedder on the shared photos."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import SHARED
from tests.web_util import bearer, ctx_of, login, make_app
from vigil.store.repository import FaceObservation
from vigil.types import FaceEmbedding

PEOPLE = SHARED / "media" / "faces" / "people"
LIN = PEOPLE / "lin_manuel_miranda" / "ref.png"


def blank_jpeg() -> bytes:
    """A real image with no face in it."""
    ok, data = cv2.imencode(".jpg", np.full((400, 300, 3), 128, np.uint8))
    assert ok
    return data.tobytes()


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    """One app for the module: the photo models load once (at the first enrolment)."""
    tmp = tmp_path_factory.mktemp("web_watchlist")
    app = make_app(tmp, watchlist={"max_upload_mb": 3, "max_photo_mb": 1})
    with TestClient(app):  # lifespan: closes the models and the store at the end
        yield app


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    return TestClient(app)


@pytest.fixture(scope="module")
def keys(app: FastAPI) -> dict[str, dict[str, str]]:
    return {role: bearer(app, role) for role in ("admin", "operator", "viewer")}


def enrol(client: TestClient, key: dict[str, str], name: str, *photos: tuple[str, bytes], **form: str) -> Any:
    files = [("photos", (label, data, "application/octet-stream")) for label, data in photos]
    return client.post("/api/watchlist", data={"name": name, **form}, files=files, headers=key)


def test_enrol_keeps_the_good_photo_and_says_why_the_others_were_refused(
    app: FastAPI, client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    answer = enrol(
        client, keys["admin"], "Lin", ("lin.png", LIN.read_bytes()), ("wall.jpg", blank_jpeg()),
        ("notes.txt", b"not an image at all"), notes="seen at the stage door", category="vip",
    )  # fmt: skip
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["accepted"] == 1
    assert {(r["photo"], r["reason"]) for r in body["refused"]} == {
        ("wall.jpg", "no_face"),
        ("notes.txt", "not_an_image"),
    }
    person = body["person"]
    assert (person["name"], person["notes"], person["category"], person["references"]) == (
        "Lin", "seen at the stage door", "vip", 1,
    )  # fmt: skip

    listed = client.get("/api/watchlist", headers=keys["operator"]).json()["people"]
    assert [(p["name"], p["references"]) for p in listed if p["id"] == person["id"]] == [("Lin", 1)]
    detail = client.get(f"/api/watchlist/{person['id']}", headers=keys["operator"]).json()
    (photo,) = detail["photos"]
    assert photo["source"] == "photo" and photo["model"] == "dlib_resnet_v1"
    image = client.get(photo["crop_url"], headers=keys["operator"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/webp"
    crop = cv2.imdecode(np.frombuffer(image.content, np.uint8), cv2.IMREAD_COLOR)
    assert crop is not None and min(crop.shape[:2]) >= 80  # the face, with its margin
    assert client.get(photo["thumb_url"], headers=keys["operator"]).status_code == 200
    # Biometric data: viewers see neither the registry nor its crops.
    assert client.get(photo["crop_url"], headers=keys["viewer"]).status_code == 403
    # A watchlist link is worthless on the visitors' image route (another key) and vice versa.
    token = photo["crop_url"].rsplit("/", 1)[1]
    assert client.get(f"/api/images/{token}", headers=keys["admin"]).status_code == 403


def test_removal_erases_rows_and_files(
    app: FastAPI, client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    person = enrol(client, keys["admin"], "To remove", ("lin.png", LIN.read_bytes())).json()["person"]
    folder = ctx_of(app).watchlist.people.crops.resolve(person["id"])
    url = client.get(f"/api/watchlist/{person['id']}", headers=keys["admin"]).json()["photos"][0]["crop_url"]
    assert folder.is_dir() and any(folder.iterdir())

    assert client.delete(f"/api/watchlist/{person['id']}", headers=keys["operator"]).status_code == 403
    removed = client.delete(f"/api/watchlist/{person['id']}", headers=keys["admin"])
    assert removed.status_code == 200 and removed.json()["files_removed"] == 2  # the crop and its thumbnail
    assert not folder.exists()
    assert client.get(f"/api/watchlist/{person['id']}", headers=keys["admin"]).status_code == 404
    assert client.get(url, headers=keys["admin"]).status_code == 404
    assert client.delete(f"/api/watchlist/{person['id']}", headers=keys["admin"]).status_code == 404


def test_no_usable_photo_is_422_with_every_reason(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    answer = enrol(client, keys["admin"], "Nobody", ("wall.jpg", blank_jpeg()), ("x.gif", b"GIF89a...."))
    assert answer.status_code == 422
    assert [r["reason"] for r in answer.json()["refused"]] == ["no_face", "not_an_image"]
    assert "no usable photo" in answer.json()["detail"]
    assert all(
        p["name"] != "Nobody" for p in client.get("/api/watchlist", headers=keys["admin"]).json()["people"]
    )


def test_more_photos_for_a_person(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    person = enrol(client, keys["admin"], "Growing", ("lin.png", LIN.read_bytes())).json()["person"]
    files = [
        ("photos", ("again.png", LIN.read_bytes(), "image/png")),
        ("photos", ("wall.jpg", blank_jpeg(), "image/jpeg")),
    ]
    added = client.post(f"/api/watchlist/{person['id']}/photos", files=files, headers=keys["admin"])
    assert added.status_code == 200, added.text
    assert (added.json()["accepted"], added.json()["person"]["references"]) == (1, 2)
    assert [r["reason"] for r in added.json()["refused"]] == ["no_face"]
    files = [("photos", ("again.png", LIN.read_bytes(), "image/png"))]
    assert (
        client.post(
            f"/api/watchlist/{person['id']}/photos", files=files, headers=keys["operator"]
        ).status_code
        == 403
    )
    unknown = client.post(f"/api/watchlist/{uuid.uuid4()}/photos", files=files, headers=keys["admin"])
    assert unknown.status_code == 404


def test_from_visitor_turns_the_best_crops_into_references(
    app: FastAPI, client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    store = ctx_of(app).store
    face = cv2.imread(str(LIN))
    vector = np.random.default_rng(1).normal(size=128).astype(np.float32)
    now = datetime.now(UTC)
    seen = [(1, 0.9, face), (2, 0.4, np.full((120, 90, 3), 90, np.uint8))]  # a good crop, a faceless one
    visitor = None
    for track, quality, crop in seen:
        obs = FaceObservation("cam-a", track, now, FaceEmbedding(vector, "m1"), quality, crop)
        visitor = store.observe(obs).visitor_id
    assert visitor is not None

    path = f"/api/watchlist/from-visitor/{visitor}"
    assert client.post(path, json={}, headers=keys["operator"]).status_code == 403
    answer = client.post(path, json={"name": "From the door", "category": "seen"}, headers=keys["admin"])
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert (body["accepted"], [r["reason"] for r in body["refused"]]) == (1, ["no_face"])
    assert body["person"]["name"] == "From the door"
    detail = client.get(f"/api/watchlist/{body['person']['id']}", headers=keys["admin"]).json()
    assert [p["source"] for p in detail["photos"]] == ["visitor"]

    assert (
        client.post(f"/api/watchlist/from-visitor/{uuid.uuid4()}", headers=keys["admin"]).status_code == 404
    )
    extra = client.post(path, json={"name": "x", "admin": True}, headers=keys["admin"])
    assert extra.status_code == 422


def test_who_may_do_what(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    photo = ("lin.png", LIN.read_bytes())
    assert client.get("/api/watchlist").status_code == 401
    assert enrol(client, {}, "Anon", photo).status_code == 401
    assert client.get("/api/watchlist", headers=keys["viewer"]).status_code == 403
    assert enrol(client, keys["viewer"], "Viewer's", photo).status_code == 403
    assert client.get("/api/watchlist", headers=keys["operator"]).status_code == 200
    assert enrol(client, keys["operator"], "Operator's", photo).status_code == 403
    assert client.get("/api/watchlist", headers=keys["admin"]).status_code == 200


def test_session_uploads_need_the_csrf_token(app: FastAPI) -> None:
    with TestClient(app) as browser:
        csrf = login(browser)
        files = [("photos", ("lin.png", LIN.read_bytes(), "image/png"))]
        refused = browser.post("/api/watchlist", data={"name": "Forged"}, files=files)
        assert refused.status_code == 403
        done = browser.post(
            "/api/watchlist", data={"name": "Lin (UI)"}, files=files, headers={"X-CSRF-Token": csrf}
        )
        assert done.status_code == 201, done.text


def test_uploads_have_their_own_body_limit(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    """Photos are larger than the API's 1 MiB: the enrolment routes take up to max_upload_mb (3 here),
    each photo up to max_photo_mb (1 here); every other route keeps web.max_body_kb."""
    big = LIN.read_bytes() + b"\0" * (1024 * 1024)  # a real PNG past 1 MiB
    answer = enrol(client, keys["admin"], "Big", ("big.png", big), ("lin.png", LIN.read_bytes()))
    assert answer.status_code == 201, answer.text
    assert [r["reason"] for r in answer.json()["refused"]] == ["too_large"]
    too_big = enrol(client, keys["admin"], "Huge", ("a.png", big), ("b.png", big), ("c.png", big))
    assert too_big.status_code == 413
    elsewhere = client.post("/api/cameras", content=b"{" + b" " * (1100 * 1024) + b"}", headers=keys["admin"])
    assert elsewhere.status_code == 413


@pytest.mark.parametrize(
    ("form", "files"),
    [
        ({"name": ""}, [("photos", ("lin.png", b"x", "image/png"))]),  # empty name
        ({"name": "   "}, [("photos", ("lin.png", b"x", "image/png"))]),  # blank name
        ({"name": "x" * 201}, [("photos", ("lin.png", b"x", "image/png"))]),
        ({"name": "No photo"}, []),
        ({"name": "Many"}, [("photos", (f"{i}.png", b"x", "image/png")) for i in range(21)]),
    ],
)
def test_bad_enrolment_forms_are_422(
    client: TestClient, keys: dict[str, dict[str, str]], form: dict[str, str], files: list[Any]
) -> None:
    answer = client.post("/api/watchlist", data=form, files=files or None, headers=keys["admin"])
    assert answer.status_code == 422, answer.text


def test_garbage_bodies_are_refused(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    garbage = client.post(
        "/api/watchlist",
        content=b"\xff\x00garbage",
        headers={**keys["admin"], "Content-Type": "multipart/form-data"},
    )
    assert garbage.status_code in (400, 422)
    json_instead = client.post("/api/watchlist", json={"name": "x"}, headers=keys["admin"])
    assert json_instead.status_code == 422
    nan = client.post(
        f"/api/watchlist/from-visitor/{uuid.uuid4()}",
        content=b'{"name": NaN}',
        headers={**keys["admin"], "Content-Type": "application/json"},
    )
    assert nan.status_code == 422


def test_from_visitor_falls_back_on_the_reference_photo_once_sightings_expired(tmp_path: Path) -> None:
    """Retention removed the sightings and their crops; the visitor's reference photo (kept with the
    prototype) is the crop left to enrol from."""
    app = make_app(tmp_path, store={"retention_days": 1, "retention_keep_prototypes": True})
    with TestClient(app) as client:
        store = ctx_of(app).store
        vector = np.random.default_rng(2).normal(size=128).astype(np.float32)
        old = datetime.now(UTC) - timedelta(days=3)
        obs = FaceObservation("cam-a", 1, old, FaceEmbedding(vector, "m1"), 0.9, cv2.imread(str(LIN)))
        visitor = store.observe(obs).visitor_id
        assert store.apply_retention(datetime.now(UTC))[0] == 1  # the sighting and its crop are gone
        assert store.visitors.sightings(visitor, 10, 0) == []
        answer = client.post(f"/api/watchlist/from-visitor/{visitor}", headers=bearer(app, "admin"))
        assert answer.status_code == 201, answer.text
        assert (answer.json()["accepted"], answer.json()["refused"]) == (1, [])
