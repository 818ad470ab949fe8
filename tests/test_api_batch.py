"""Batch API: seed 000's STEP5 routes (chunk bounds, configuration) and tracking jobs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from vigil.api.app import create_app
from vigil.api.step5 import GPU_UNAVAILABLE, Step5Config

BOUNDS = "/api/step5/chunk_bounds"
CONFIGURATION = "/api/step5/configuration"


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app()) as test_client:
        yield test_client


def _bounds(client: TestClient) -> dict[str, Any]:
    response = client.get(BOUNDS)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


# ------------------------------------------------------------------ chunk_bounds (seed 000)
def test_chunk_bounds_success_body_is_the_seeds(client: TestClient) -> None:
    response = client.post(BOUNDS, json={"min": 100, "max": 500})
    assert response.status_code == 200
    assert response.json() == {
        "status": "success",
        "message": "Chunk bounds updated",
        "min": 100,
        "max": 500,
        "effective": {"min": 100, "max": 500},
    }
    assert _bounds(client)["effective"] == {"min": 100, "max": 500}


def test_chunk_bounds_null_resets_to_defaults(client: TestClient) -> None:
    client.post(BOUNDS, json={"min": 100, "max": 500})
    response = client.post(BOUNDS, json={"min": None, "max": None})
    assert response.status_code == 200
    assert response.json()["min"] is None and response.json()["max"] is None
    assert response.json()["effective"] == {"min": 20, "max": 400}


def test_chunk_bounds_missing_key_means_null_like_the_seed(client: TestClient) -> None:
    client.post(BOUNDS, json={"min": 100, "max": 500})
    response = client.post(BOUNDS, json={"max": 300})
    assert response.status_code == 200
    assert (response.json()["min"], response.json()["max"]) == (None, 300)
    assert response.json()["effective"] == {"min": 20, "max": 300}


def test_chunk_bounds_empty_body_resets(client: TestClient) -> None:
    client.post(BOUNDS, json={"min": 100, "max": 500})
    response = client.post(BOUNDS, content=b"")
    assert response.status_code == 200
    assert response.json()["effective"] == {"min": 20, "max": 400}


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"min": "100", "max": " 500 "}, (100, 500)),  # int(value), as the seed's _norm
        ({"min": 100.0, "max": 200.0}, (100, 200)),  # integral numbers
        ({"min": 1, "max": 1}, (1, 1)),
        ({"min": 400}, (400, None)),  # equal to the default max
    ],
)
def test_chunk_bounds_accepted_values(
    client: TestClient, payload: dict[str, Any], expected: tuple[int | None, int | None]
) -> None:
    response = client.post(BOUNDS, json=payload)
    assert response.status_code == 200, response.text
    assert (response.json()["min"], response.json()["max"]) == expected


@pytest.mark.parametrize(
    "payload",
    [
        {"min": "abc", "max": 500},
        {"min": 100, "max": "12.5"},
        {"min": 12.5},  # documented rule: non-integers -> 400 (the seed's code truncated)
        {"max": True},  # booleans are not integers
        {"min": [100]},
        {"max": {"value": 1}},
    ],
)
def test_chunk_bounds_non_integers_are_400_invalid(client: TestClient, payload: dict[str, Any]) -> None:
    client.post(BOUNDS, json={"min": 100, "max": 500})
    response = client.post(BOUNDS, json=payload)
    assert response.status_code == 400
    body = response.json()
    assert (body["status"], body["message"]) == ("error", "Paramètres invalides")
    assert "integers or null" in body["detail"]
    assert _bounds(client)["effective"] == {"min": 100, "max": 500}, "a refused request changes nothing"


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        ({"min": 0, "max": 500}, "min must be a positive integer"),
        ({"min": -5}, "min must be a positive integer"),
        ({"min": 10, "max": "-1"}, "max must be a positive integer"),
        ({"min": 500, "max": 100}, "min (500) must not exceed max (100)"),
        ({"min": 401}, "min (401) must not exceed max (400)"),  # against the default max
        ({"max": 19}, "min (20) must not exceed max (19)"),  # against the default min
    ],
)
def test_chunk_bounds_out_of_range_is_400_min_max(
    client: TestClient, payload: dict[str, Any], detail: str
) -> None:
    response = client.post(BOUNDS, json=payload)
    assert response.status_code == 400
    body = response.json()
    assert (body["status"], body["message"]) == ("error", "Paramètres invalides (min/max)")
    assert detail in body["detail"]
    assert _bounds(client)["effective"] == {"min": 20, "max": 400}


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (b"{not json", "not valid JSON"),
        (b"[100, 500]", "must be a JSON object"),
        (b'"100"', "must be a JSON object"),
        (b'{"minimum": 100}', "unknown field(s) minimum"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_chunk_bounds_malformed_body_is_400(client: TestClient, content: bytes, detail: str) -> None:
    client.post(BOUNDS, json={"min": 100, "max": 500})
    response = client.post(BOUNDS, content=content, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["message"] == "Paramètres invalides"
    assert detail in response.json()["detail"]
    assert _bounds(client)["effective"] == {"min": 100, "max": 500}


def test_chunk_bounds_state_is_per_app() -> None:
    with TestClient(create_app()) as first, TestClient(create_app()) as second:
        assert first.post(BOUNDS, json={"min": 50, "max": 60}).status_code == 200
        assert _bounds(second)["effective"] == {"min": 20, "max": 400}


# ------------------------------------------------------------------ configuration
def test_configuration_defaults(client: TestClient) -> None:
    body = client.get(CONFIGURATION).json()
    assert body["use_gpu"] is False
    assert body["cpu_workers"] == Step5Config().cpu_workers
    assert body["warnings"] == []


def test_configuration_seed_example_cpu_only(client: TestClient) -> None:
    response = client.post(CONFIGURATION, json={"use_gpu": False, "cpu_workers": 1})
    assert response.status_code == 200
    assert response.json() == {
        "status": "success",
        "message": "Configuration updated",
        "use_gpu": False,
        "cpu_workers": 1,
        "requested": {"use_gpu": False, "cpu_workers": 1},
        "warnings": [],
    }
    assert client.get(CONFIGURATION).json()["cpu_workers"] == 1


def test_configuration_gpu_request_is_reported_but_effective_cpu(client: TestClient) -> None:
    body = client.post(CONFIGURATION, json={"use_gpu": True}).json()
    assert body["use_gpu"] is False
    assert body["requested"]["use_gpu"] is True
    assert GPU_UNAVAILABLE in body["warnings"]


def test_configuration_more_workers_than_cores_warns(client: TestClient) -> None:
    body = client.post(CONFIGURATION, json={"cpu_workers": 64}).json()
    assert body["cpu_workers"] == 64
    assert any("exceeds" in warning for warning in body["warnings"])


def test_configuration_omitted_fields_keep_their_value(client: TestClient) -> None:
    client.post(CONFIGURATION, json={"use_gpu": True, "cpu_workers": 3})
    body = client.post(CONFIGURATION, json={"cpu_workers": 1}).json()
    assert body["requested"] == {"use_gpu": True, "cpu_workers": 1}


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        ({"use_gpu": "false"}, "use_gpu must be true or false"),
        ({"use_gpu": 0}, "use_gpu must be true or false"),
        ({"use_gpu": None}, "use_gpu must be true or false"),
        ({"cpu_workers": 0}, "cpu_workers must be an integer from 1 to 64"),
        ({"cpu_workers": 65}, "cpu_workers must be an integer from 1 to 64"),
        ({"cpu_workers": "15"}, "cpu_workers must be an integer"),
        ({"cpu_workers": 2.0}, "cpu_workers must be an integer"),
        ({"cpu_workers": True}, "cpu_workers must be an integer"),
        ({"gpu": True}, "unknown field(s) gpu"),
    ],
)
def test_configuration_invalid_is_400(client: TestClient, payload: dict[str, Any], detail: str) -> None:
    before = client.get(CONFIGURATION).json()
    response = client.post(CONFIGURATION, json=payload)
    assert response.status_code == 400
    assert (response.json()["status"], response.json()["message"]) == ("error", "Paramètres invalides")
    assert detail in response.json()["detail"]
    assert client.get(CONFIGURATION).json() == before


def test_configuration_malformed_json_is_400(client: TestClient) -> None:
    response = client.post(CONFIGURATION, content=b"{", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["detail"]


def test_step5_defaults_come_from_the_factory() -> None:
    app = create_app(step5_defaults=Step5Config(chunk_min=30, chunk_max=90, cpu_workers=4))
    with TestClient(app) as client:
        assert _bounds(client)["effective"] == {"min": 30, "max": 90}
        assert client.get(CONFIGURATION).json()["cpu_workers"] == 4


def test_openapi_lists_the_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {BOUNDS, CONFIGURATION} <= set(paths)
