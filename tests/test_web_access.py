"""Who may call what (issue 14): the route table of docs/security.md is the one list, and the app
must match it exactly, route by route, as callers see it:

- every route the app serves (API, pages, static mounts) is in the table, and nothing else is;
- a route listed as *anonymous* needs no login; any other answers an anonymous caller 401, or, for
  the HTML pages, a redirect to the login form; API routes of the schema always 401;
- a route listed as *admin* answers a viewer and an operator 403 and lets an admin past the check;
  an *operator* route answers a viewer 403 and lets an operator in; a *viewer* route lets a viewer in;
- the WebSocket routes (`WS /path`) too, through the handshake.

So the anonymous allow-list and the role of each route are written once, in docs/security.md."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIWebSocketRoute, iter_route_contexts
from fastapi.testclient import TestClient
from pydantic import BaseModel
from starlette.testclient import WebSocketDenialResponse

from tests.web_util import bearer, make_app
from vigil.config import VigilSettings

Access = Literal["anonymous", "viewer", "operator", "admin"]
ACCESS_LEVELS: tuple[Access, ...] = ("anonymous", "viewer", "operator", "admin")
SECURITY_DOC = Path(__file__).resolve().parents[1] / "docs" / "security.md"
TABLE_MARK = "<!-- access table: tests/test_web_access.py reads it -->"
ENDPOINT = re.compile(r"`(GET|POST|PUT|PATCH|DELETE|WS) (/[^`\s]*)`")
NO_SUCH_ID = "999999"
# Streams that would never end on their own get a query that ends them (their role is unchanged).
ENDING_QUERY = {"/api/events": "?timeout_s=0.01", "/api/alerts/stream": "?timeout_s=0.01"}
# The pages every login-protected deployment must keep behind the login form (issue 14).
PAGES = (
    "/live",
    "/cameras",
    "/visitors",
    "/system",
    "/jobs",
    "/audit",
    "/account",
    "/users",
    "/docs",
    "/watchlist",
    "/alerts",
)


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # the route's template, e.g. /api/cameras/{camera_id}
    in_schema: bool

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.path

    @property
    def url(self) -> str:
        # An id no row has: the callers' own accounts and keys must survive the sweep.
        return re.sub(r"\{[^}]+\}", NO_SUCH_ID, self.path) + ENDING_QUERY.get(self.path, "")


def documented_access() -> dict[tuple[str, str], Access]:
    """(method, path) -> access level, from the marked table of docs/security.md: each column
    whose header starts with a level lists that level's routes as `METHOD /path`."""
    text = SECURITY_DOC.read_text(encoding="utf-8")
    assert TABLE_MARK in text, f"{SECURITY_DOC} lost its access table marker"
    lines = text.split(TABLE_MARK, 1)[1].strip().splitlines()
    table = _leading_table(lines)
    header, rows = _cells(table[0]), [_cells(line) for line in table[2:]]
    levels = [next((a for a in ACCESS_LEVELS if h.lower().startswith(a)), None) for h in header]
    access: dict[tuple[str, str], Access] = {}
    for row in rows:
        for level, cell in zip(levels, row, strict=True):
            for method, path in ENDPOINT.findall(cell):
                assert level is not None, f"`{method} {path}` is in a column without an access level"
                assert (method, path) not in access, f"`{method} {path}` is listed twice"
                access[(method, path)] = level
    return access


def _leading_table(lines: list[str]) -> list[str]:
    table = []
    for line in lines:
        if not line.startswith("|"):
            break
        table.append(line)
    return table


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def served_endpoints(app: FastAPI) -> list[Endpoint]:
    """Every route of the app; a static mount counts as `GET <mount>/{path}`."""
    found = []
    for route in iter_route_contexts(app.routes):
        if route.path is None:
            continue
        if isinstance(route.original_route, APIWebSocketRoute):
            found.append(Endpoint("WS", route.path, False))
            continue
        if route.methods is None:  # a mount (static files)
            found.append(Endpoint("GET", f"{route.path}/{{path}}", False))
            continue
        in_schema = bool(getattr(route, "include_in_schema", False))
        found += [Endpoint(method, route.path, in_schema) for method in sorted(route.methods - {"HEAD"})]
    return found


def asks_for_login(answer: httpx.Response) -> bool:
    if answer.status_code == 401:
        return True
    return answer.status_code == 303 and answer.headers["location"].startswith("/login")


def refused_for_role(answer: httpx.Response) -> bool:
    """The role checks' 403 (`require_admin`, `require_operator`, `page_admin`), not another 403
    (e.g. a bad image token)."""
    return (
        answer.status_code == 403
        and re.search(r"needs the (admin|operator or admin) role", answer.text) is not None
    )


def call(client: TestClient, endpoint: Endpoint, headers: dict[str, str] | None = None) -> httpx.Response:
    """The route's answer; a WebSocket handshake refused by the route counts as its HTTP answer."""
    if endpoint.method != "WS":
        answer: httpx.Response = client.request(endpoint.method, endpoint.url, headers=headers)
        return answer
    try:
        with client.websocket_connect(endpoint.url, headers=headers or {}):
            return httpx.Response(101)  # accepted
    except WebSocketDenialResponse as denied:
        return denied


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    return make_app(tmp_path, web={"rate_limit_per_min": 100000})


def test_the_access_table_lists_every_route_once_and_nothing_else(app: FastAPI) -> None:
    documented = documented_access()
    served = {endpoint.key for endpoint in served_endpoints(app)}
    assert len(served) > 60, "the app's routes are found"
    missing = sorted(served - documented.keys())
    assert not missing, f"routes missing from the access table of docs/security.md: {missing}"
    assert not sorted(documented.keys() - served), "docs/security.md lists routes the app does not serve"


def test_anonymous_callers_reach_only_the_documented_routes(app: FastAPI) -> None:
    documented = documented_access()
    with TestClient(app, follow_redirects=False) as client:
        for endpoint in served_endpoints(app):
            answer = call(client, endpoint)
            where = f"{endpoint.method} {endpoint.path} -> {answer.status_code}"
            if documented[endpoint.key] == "anonymous":
                assert not asks_for_login(answer), f"documented as anonymous: {where}"
            elif endpoint.in_schema:
                assert answer.status_code == 401, where
            else:
                assert asks_for_login(answer), where
        for page in PAGES:  # the enumeration above covers them: here by name, so none can go missing
            assert asks_for_login(client.get(page)), page
        landing = client.get("/", follow_redirects=True)
        assert landing.url.path == "/login", "the home page leads anonymous callers to the login form"
        for method, path in (("GET", "/api/health"), ("GET", "/api/health/cameras"), ("GET", "/login")):
            assert client.request(method, path).status_code == 200, path
        assert client.get("/static/api-docs.js").status_code == 200


def test_each_role_gets_403_above_its_level_and_admins_pass(app: FastAPI) -> None:
    documented = documented_access()
    viewer, operator, admin = bearer(app, "viewer"), bearer(app, "operator"), bearer(app, "admin")
    with TestClient(app, follow_redirects=False) as client:
        checked = 0
        for endpoint in served_endpoints(app):
            level = documented[endpoint.key]
            if level == "anonymous":
                continue
            as_viewer = call(client, endpoint, viewer)
            where = f"{endpoint.method} {endpoint.path} as viewer -> {as_viewer.status_code}"
            assert refused_for_role(as_viewer) == (level in ("operator", "admin")), (
                f"documented {level}: {where}"
            )
            as_operator = call(client, endpoint, operator)
            where = f"{endpoint.method} {endpoint.path} as operator -> {as_operator.status_code}"
            assert refused_for_role(as_operator) == (level == "admin"), f"documented {level}: {where}"
            if level != "viewer":
                as_admin = call(client, endpoint, admin)
                where = f"{endpoint.method} {endpoint.path} as admin -> {as_admin.status_code}"
                assert as_admin.status_code != 401 and not refused_for_role(as_admin), where
            checked += 1
        assert checked > 50


def test_the_security_doc_names_real_settings() -> None:
    """Settings cited as `section.name` or `VIGIL_SECTION__NAME` exist under those names."""
    text = SECURITY_DOC.read_text(encoding="utf-8")
    dotted = re.findall(r"`([a-z_]+)\.([a-z_]+)(?:=[^`]*)?`", text)
    from_env = re.findall(r"VIGIL_([A-Z_]+?)__([A-Z_]+)", text)
    cited = {(section, name) for section, name in dotted if section in VigilSettings.model_fields}
    cited |= {(section.lower(), name.lower()) for section, name in from_env}
    cited.discard(("section", "name"))  # the doc's own notation, `VIGIL_SECTION__NAME`
    assert len(cited) > 20
    for section, name in sorted(cited):
        model = VigilSettings.model_fields[section].annotation
        assert isinstance(model, type) and issubclass(model, BaseModel), section
        assert name in model.model_fields, f"docs/security.md cites {section}.{name}: no such setting"
