"""Invalid JSON bodies answer 422 across the app: NaN and infinities are refused, secrets never echoed."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.testclient import TestClient

from tests.web_util import bearer, make_app
from vigil.web.validation import invalid_request

JSON = {"content-type": "application/json"}
# (method, path, raw JSON body, role, where the bad number is)
NON_FINITE_BODIES = [
    ("POST", "/api/cameras", '{"url": "usb:0", "fps": NaN}', "admin", ["body", "fps"]),
    ("POST", "/api/cameras", '{"url": "usb:0", "dead_zones": [[[1e999, 0], [1, 1], [2, 2]]]}', "admin",
     ["body", "dead_zones", 0, 0, 0]),
    ("PATCH", f"/api/visitors/{uuid.uuid4()}", '{"name": NaN}', "admin", ["body", "name"]),
    ("POST", "/api/users", '{"username": "u1", "password": "long-enough-pw", "role": Infinity}', "admin",
     ["body", "role"]),
    ("POST", "/api/track/jobs", '{"paths": ["clip.mp4"], "workers": NaN}', "admin", ["body", "workers"]),
    ("POST", "/api/keys", '{"name": -Infinity}', "viewer", ["body", "name"]),
    ("POST", "/api/keys", '{"name": NaN}', "admin", ["body", "name"]),
]  # fmt: skip


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    return make_app(tmp_path)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def _strict_json(text: str) -> Any:
    """The answer parsed as real JSON: NaN or Infinity in it would fail here."""

    def refuse(constant: str) -> None:
        raise AssertionError(f"the answer holds {constant}, which is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize(("method", "path", "body", "role", "loc"), NON_FINITE_BODIES)
def test_non_finite_numbers_answer_422(
    app: FastAPI, client: TestClient, method: str, path: str, body: str, role: str, loc: list[Any]
) -> None:
    response = client.request(method, path, content=body, headers={**bearer(app, role), **JSON})
    assert response.status_code == 422, response.text  # was a 500: the 422 body itself held NaN
    errors = _strict_json(response.text)["detail"]
    assert {"type": "finite_number", "loc": loc, "msg": "Input should be a finite number"} in errors


def test_a_refused_non_finite_number_creates_nothing(app: FastAPI, client: TestClient) -> None:
    admin = bearer(app)
    response = client.post(
        "/api/cameras", content='{"url": "usb:0", "fps": Infinity}', headers={**admin, **JSON}
    )
    assert response.status_code == 422
    assert client.get("/api/cameras", headers=admin).json() == []


def test_routes_that_parse_their_own_body_keep_their_answers(app: FastAPI, client: TestClient) -> None:
    # STEP5 keeps the seed's 400 envelope for a bad bound, NaN included.
    response = client.post("/api/step5/chunk_bounds", content='{"min": NaN}', headers={**bearer(app), **JSON})
    assert response.status_code == 400
    assert response.json()["status"] == "error"


MARKER = "Zq7-unique-secret-Xw"


@pytest.mark.parametrize(
    "user",
    [
        {"password": MARKER + "-long"},  # username missing: the error's input was the whole body
        {"username": "bad name!", "password": MARKER + "-long", "role": "root"},
        {"username": "u2", "password": MARKER[:6]},  # too short: the input was the password itself
        {"username": "u3", "password": MARKER * 20},  # too long
        {"username": "u4", "password": MARKER + "-long", "extra": MARKER},
    ],
)
def test_a_refused_user_creation_does_not_echo_the_password(
    app: FastAPI, client: TestClient, user: dict[str, Any]
) -> None:
    response = client.post("/api/users", json=user, headers=bearer(app))
    assert response.status_code == 422
    assert MARKER[:6] not in response.text
    assert all("input" not in error for error in response.json()["detail"])


def test_the_422_handler_writes_valid_json_whatever_an_error_holds() -> None:
    error = {
        "type": "too_big",
        "loc": ("body", "x"),
        "msg": "too big",
        "input": float("nan"),
        "ctx": {"le": float("inf")},
    }
    request = Request({"type": "http", "method": "POST", "path": "/", "headers": []})
    response = asyncio.run(invalid_request(request, RequestValidationError([error])))
    assert response.status_code == 422
    body = _strict_json(bytes(response.body).decode())
    assert body == {
        "detail": [{"type": "too_big", "loc": ["body", "x"], "msg": "too big", "ctx": {"le": "inf"}}]
    }
