"""Typed refusals and their one mapping to HTTP (`vigil.web.errors`): every kind answers its status
with FastAPI's `{"detail": ...}` envelope, for the API and the page forms alike, and the forms turn
refused repairs into the flash codes the visitor page translates."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.web_util import bearer, ctx_of, login, make_app
from vigil.errors import (
    ApiKeyNotFound,
    ConfigError,
    ConflictError,
    InputError,
    InvalidAccount,
    LastAdmin,
    MergeIntoItself,
    ModelError,
    NotFoundError,
    RefusedError,
    RepairRefused,
    SightingsNotOwned,
    SplitTakesAll,
    StoreUnavailable,
    UserExists,
    UserNotFound,
    VisitorNotFound,
)
from vigil.store.repository import FaceObservation
from vigil.types import FaceEmbedding
from vigil.web.cameras import CameraConflict, CameraNotFound, CameraUnavailable, InvalidCameraUrl
from vigil.web.errors import refused
from vigil.web.i18n import CATALOGS
from vigil.web.images import ImageTokenError, ImageTokenExpired
from vigil.web.routes.visitors import ERROR_CODES


def test_each_kind_of_refusal_has_its_status() -> None:
    expected: dict[type[RefusedError], int] = {
        VisitorNotFound: 404, UserNotFound: 404, ApiKeyNotFound: 404, CameraNotFound: 404,
        MergeIntoItself: 409, SplitTakesAll: 409, SightingsNotOwned: 409, UserExists: 409,
        LastAdmin: 409, CameraConflict: 409, InvalidAccount: 422, InvalidCameraUrl: 422,
        CameraUnavailable: 503, ImageTokenError: 403, ImageTokenExpired: 410,
        StoreUnavailable: 503, InputError: 400, ModelError: 400, ConfigError: 400,
    }  # fmt: skip
    assert {kind: kind.status for kind in expected} == expected
    assert issubclass(VisitorNotFound, NotFoundError) and issubclass(RepairRefused, ConflictError)
    gone = uuid.uuid4()
    assert VisitorNotFound(gone).visitor_id == gone and str(VisitorNotFound(gone)) == f"no visitor {gone}"


def test_every_refused_repair_has_a_translated_form_message() -> None:
    codes = {kind.code for kind in (MergeIntoItself, SplitTakesAll, SightingsNotOwned)}
    assert codes <= ERROR_CODES
    for lang, catalog in CATALOGS.items():
        assert all(f"visitor.error.{code}" in catalog for code in codes), lang


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    return make_app(tmp_path)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def test_api_refusals_answer_status_and_detail(app: FastAPI, client: TestClient) -> None:
    admin = bearer(app, "admin")
    unknown, other = uuid.uuid4(), uuid.uuid4()
    cases = [
        (client.delete("/api/keys/99999", headers=admin), 404, "no API key with id 99999"),
        (client.delete("/api/users/99999", headers=admin), 404, "no user with id 99999"),
        (client.post("/api/users", json={"username": "admin-user", "password": "long-enough"}, headers=admin),
         409, "already exists"),
        (client.post(f"/api/visitors/{unknown}/merge", json={"absorb": str(other)}, headers=admin),
         404, f"no visitor {unknown}"),
        (client.get(f"/api/visitors/{unknown}", headers=admin), 404, "may have been merged or erased"),
        (client.delete(f"/api/visitors/{unknown}", headers=admin), 404, f"no visitor {unknown}"),
        (client.get("/api/cameras/4242", headers=admin), 404, "no camera with id 4242"),
        (client.get("/api/images/forged.token", headers=admin), 403, ""),
    ]  # fmt: skip
    for response, status, detail in cases:
        assert response.status_code == status, response.text
        body = response.json()
        assert set(body) == {"detail"} and detail in body["detail"], body


def observation(person: int, track: int) -> FaceObservation:
    vector = np.random.default_rng(person).normal(size=64).astype(np.float32)
    when = datetime(2026, 11, 20, 9, track, tzinfo=UTC)
    return FaceObservation("cam", track, when, FaceEmbedding(vector, "m1"), 0.5)


def test_forms_flash_refused_repairs_and_404_a_vanished_visitor(app: FastAPI, client: TestClient) -> None:
    store = ctx_of(app).store
    kept = store.observe(observation(0, 1))
    store.observe(observation(0, 2))
    stranger = store.observe(observation(1, 3))
    csrf = login(client)
    page = f"/visitors/{kept.visitor_id}"

    def post(url: str, **data: object) -> tuple[int, str]:
        response = client.post(url, data={**data, "csrf_token": csrf}, follow_redirects=False)
        return response.status_code, response.headers.get("location") or response.json()["detail"]

    # A sighting of somebody else: the store's SightingsNotOwned, flashed on the page.
    assert post(f"{page}/split", sightings=str(stranger.sighting_id)) == (303, f"{page}?error=split_foreign")
    assert post(f"{page}/merge", absorb=str(kept.visitor_id)) == (303, f"{page}?error=merge_self")
    flashed = client.get(f"{page}?error=split_foreign").text
    assert re.search(r'id="flash-error"[^>]*>[^<]*belong', flashed), flashed
    # The page's own visitor erased meanwhile: the same 404 as the API (not the merge_unknown flash).
    gone = uuid.uuid4()
    status, detail = post(f"/visitors/{gone}/merge", absorb=str(stranger.visitor_id))
    assert (status, detail) == (404, f"no visitor {gone}")
    status, detail = post(f"/visitors/{gone}/rename", name="x")
    assert (status, detail) == (404, f"no visitor {gone}")


class Busy(RefusedError):
    status = 429
    retry_after_s = 7


def test_the_handler_sends_retry_after_when_the_error_names_it() -> None:
    app = FastAPI()
    app.add_exception_handler(RefusedError, refused)

    @app.get("/busy")
    def busy() -> None:
        raise Busy("too many at once")

    @app.get("/gone")
    def gone() -> None:
        raise VisitorNotFound(uuid.UUID(int=1))

    with TestClient(app) as client:
        answer, missing = client.get("/busy"), client.get("/gone")
    assert (answer.status_code, answer.headers["retry-after"], answer.json()) == (
        429, "7", {"detail": "too many at once"},
    )  # fmt: skip
    assert missing.status_code == 404 and "retry-after" not in missing.headers
