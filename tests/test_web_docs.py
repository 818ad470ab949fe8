"""Issue 14 defect 8: the API docs work (local assets, no inline script) and only behind login.
That every route of the schema refuses anonymous callers but the documented allow-list is checked
with every other route in tests/test_web_access.py (the list is docs/security.md's access table)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.web_util import bearer, login, make_app


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    return make_app(tmp_path, web={"rate_limit_per_min": 100000})


def test_docs_and_schema_need_a_login(app: FastAPI) -> None:
    with TestClient(app) as client:
        assert client.get("/openapi.json").status_code == 401
        anonymous = client.get("/docs", follow_redirects=False)
        assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
        assert client.get("/redoc").status_code == 404  # one docs page, not two
        viewer = bearer(app, "viewer")
        assert "/api/cameras" in client.get("/openapi.json", headers=viewer).json()["paths"]


def test_docs_page_loads_swagger_from_the_app_itself(app: FastAPI) -> None:
    with TestClient(app) as client:
        login(client)
        page = client.get("/docs")
        assert page.status_code == 200
        scripts = re.findall(r'<script src="([^"]+)"', page.text)
        assert scripts == ["/static/swagger/swagger-ui-bundle.js", "/static/api-docs.js"]
        assert "<script>" not in page.text, "the CSP forbids inline scripts"
        assert "script-src 'self'" in page.headers["content-security-policy"]
        for asset in (*scripts, "/static/swagger/swagger-ui.css"):
            answer = client.get(asset)
            assert answer.status_code == 200 and len(answer.content) > 100, asset
        assert "SwaggerUIBundle" in client.get("/static/api-docs.js").text
