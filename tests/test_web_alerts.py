"""Watchlist alerts over the API (issue 15): listing with filters, one decision per alert (409 the
second time), the decisions' own rate limit, expiry, who may do what, bad bodies, and the live
streams: SSE and WebSocket, fed by the real monitor, filtered by camera and level, told about
decisions; refused for viewers, anonymous callers and other sites' pages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.web_util import ServedApp, bearer, ctx_of, make_app, web_settings
from vigil.errors import ConfigError
from vigil.live.events import FaceEmbedded
from vigil.types import FaceEmbedding
from vigil.watchlist.alerts import AlertFilter
from vigil.watchlist.learning import TrackFace
from vigil.watchlist.matching import Decision
from vigil.watchlist.monitor import AlertEvent
from vigil.watchlist.repository import NewReference
from vigil.web.app import create_web_app
from vigil.web.watchlist_host import WatchlistHost

MODEL = "dlib_resnet_v1"  # the default embedder's vectors (a calibration exists for it)
Keys = dict[str, dict[str, str]]


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return v / np.linalg.norm(v)


def person(host: WatchlistHost, name: str, seed: int) -> uuid.UUID:
    crop = np.full((120, 100, 3), 80, np.uint8)
    ref = NewReference(unit(seed), MODEL, crop, 0.9, "photo")
    person_id = host.people.add_person(name, [ref]).id
    host.monitor_for(MODEL).watchlist_changed()  # as the API's enrolment does
    return person_id


def stored_alert(
    host: WatchlistHost,
    who: uuid.UUID,
    camera: str = "door",
    level: str = "match",
    ago_h: float = 0,
    track: int = 1,
) -> uuid.UUID:
    decision = Decision(camera, track, who, level, 0.6 if level == "match" else 0.5, 0.5, 1)  # type: ignore[arg-type]
    crop = np.full((96, 80, 3), 120, np.uint8)
    now = datetime.now(UTC) - timedelta(hours=ago_h)
    return host.alerts.record(decision, crop, now, cooldown_s=0).alert.id


def seen(host: WatchlistHost, seed: int, camera: str = "door", track: int = 7) -> None:
    """A face of person `seed` embedded by a camera, through the live monitor (as a pipeline would)."""
    event = FaceEmbedded(
        camera, track, datetime.now(UTC).timestamp(), 1.0, quality=0.9,
        embedding=FaceEmbedding(unit(seed), MODEL), crop=np.full((96, 80, 3), 100, np.uint8),
    )  # fmt: skip
    host.monitor_for(MODEL).handle(event)


def pushed(host: WatchlistHost, alert_id: uuid.UUID) -> None:
    """What the monitor's listener does with an alert it recorded."""
    host.relay(AlertEvent("door", 1, 0.0, 0.0, type="watchlist_alert", alert_id=alert_id))


@pytest.fixture
def app(tmp_path: Path) -> Iterator[FastAPI]:
    app = make_app(tmp_path, web={"decisions_per_min": 3}, watchlist={"alert_expiry_h": 1})
    with TestClient(app):
        yield app


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    return TestClient(app)


@pytest.fixture
def keys(app: FastAPI) -> Keys:
    return {role: bearer(app, role) for role in ("admin", "operator", "viewer")}


def test_listing_filters_and_one_alert(app: FastAPI, client: TestClient, keys: Keys) -> None:
    host = ctx_of(app).watchlist
    lin, alex = person(host, "Lin", 1), person(host, "Alex", 2)
    first = stored_alert(host, lin, "door", "match")
    stored_alert(host, alex, "hall", "probable")
    stored_alert(host, alex, "door", "probable", track=2)

    def ids(query: str) -> list[str]:
        answer = client.get(f"/api/alerts{query}", headers=keys["operator"])
        assert answer.status_code == 200, answer.text
        return [a["person"] for a in answer.json()["alerts"]]

    assert sorted(ids("")) == ["Alex", "Alex", "Lin"]
    assert ids("?camera=door&level=match") == ["Lin"]
    assert ids(f"?person={alex}&camera=hall") == ["Alex"]
    assert ids("?status=confirmed") == []
    page = client.get("/api/alerts?limit=1&offset=1", headers=keys["operator"]).json()
    assert (page["total"], len(page["alerts"])) == (3, 1)

    one = client.get(f"/api/alerts/{first}", headers=keys["operator"]).json()
    assert (one["person"], one["camera"], one["level"], one["status"]) == ("Lin", "door", "match", "open")
    image = client.get(one["crop_url"], headers=keys["operator"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/webp"
    assert client.get(one["crop_url"], headers=keys["viewer"]).status_code == 403
    assert client.get(f"/api/alerts/{uuid.uuid4()}", headers=keys["operator"]).status_code == 404


def test_operator_decides_once(app: FastAPI, client: TestClient, keys: Keys) -> None:
    host = ctx_of(app).watchlist
    alert = stored_alert(host, person(host, "Lin", 1))
    url = f"/api/alerts/{alert}/decision"
    assert client.post(url, json={"decision": "confirmed"}, headers=keys["viewer"]).status_code == 403
    decided = client.post(url, json={"decision": "confirmed", "note": "it is him"}, headers=keys["operator"])
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert (body["status"], body["decided_by"], body["note"]) == ("confirmed", "operator-user", "it is him")
    again = client.post(url, json={"decision": "rejected"}, headers=keys["admin"])
    assert again.status_code == 409 and "already confirmed" in again.json()["detail"]
    _, audit = ctx_of(app).audit.page(10)  # every change is in the audit log, with its status
    assert any(e.action == f"POST {url}" and e.status == 200 and e.actor == "operator-user" for e in audit)
    unknown = client.post(
        f"/api/alerts/{uuid.uuid4()}/decision", json={"decision": "rejected"}, headers=keys["admin"]
    )
    assert unknown.status_code == 404


def test_decisions_have_their_own_stricter_limit(app: FastAPI, client: TestClient, keys: Keys) -> None:
    host = ctx_of(app).watchlist
    who = person(host, "Lin", 1)
    alerts = [stored_alert(host, who, f"cam-{i}") for i in range(4)]
    answers = [
        client.post(f"/api/alerts/{a}/decision", json={"decision": "rejected"}, headers=keys["operator"])
        for a in alerts
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]  # web.decisions_per_min = 3
    assert int(answers[-1].headers["Retry-After"]) >= 1
    # Another operator is not slowed down by the first one.
    other = bearer(app, "operator", "second-operator")
    assert (
        client.post(
            f"/api/alerts/{alerts[-1]}/decision", json={"decision": "rejected"}, headers=other
        ).status_code
        == 200
    )


def test_open_alerts_expire(app: FastAPI, client: TestClient, keys: Keys) -> None:
    host = ctx_of(app).watchlist
    old = stored_alert(host, person(host, "Lin", 1), ago_h=2)  # watchlist.alert_expiry_h = 1
    listed = client.get("/api/alerts", headers=keys["operator"]).json()["alerts"]
    assert [(a["id"], a["status"]) for a in listed] == [(str(old), "expired")]
    late = client.post(
        f"/api/alerts/{old}/decision", json={"decision": "confirmed"}, headers=keys["operator"]
    )
    assert late.status_code == 409


def test_who_may_see_alerts(app: FastAPI, client: TestClient, keys: Keys) -> None:
    assert client.get("/api/alerts").status_code == 401
    assert client.get("/api/alerts", headers=keys["viewer"]).status_code == 403
    assert client.get("/api/alerts/stream", headers=keys["viewer"]).status_code == 403
    assert client.get("/api/alerts", headers=keys["operator"]).status_code == 200
    assert client.get("/api/alerts", headers=keys["admin"]).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        b'{"decision": "maybe"}',
        b'{"decision": "confirmed", "note": NaN}',
        b'{"decision": "confirmed", "note": 1e999}',
        b'{"decision": "confirmed", "by": "someone else"}',
        b'{"decision": "confirmed", "note": "' + b"x" * 2001 + b'"}',
        b"\xff\xfe garbage",
        b"[]",
    ],
)
def test_bad_decision_bodies_are_422(app: FastAPI, client: TestClient, keys: Keys, body: bytes) -> None:
    host = ctx_of(app).watchlist
    alert = stored_alert(host, person(host, "Lin", 1))
    headers = {**keys["operator"], "Content-Type": "application/json"}
    answer = client.post(f"/api/alerts/{alert}/decision", content=body, headers=headers)
    assert answer.status_code == 422, answer.text
    assert host.alerts.get(alert).status == "open"


def test_oversized_decision_body_is_413(app: FastAPI, client: TestClient, keys: Keys) -> None:
    host = ctx_of(app).watchlist
    alert = stored_alert(host, person(host, "Lin", 1))
    body = json.dumps({"decision": "confirmed", "note": "x" * (1100 * 1024)})
    headers = {**keys["operator"], "Content-Type": "application/json"}
    assert client.post(f"/api/alerts/{alert}/decision", content=body, headers=headers).status_code == 413


@pytest.mark.parametrize(
    "query", ["?level=maybe", "?limit=0", "?limit=501", "?person=nobody", "?status=lost"]
)
def test_bad_filters_are_422(client: TestClient, keys: Keys, query: str) -> None:
    assert client.get(f"/api/alerts{query}", headers=keys["operator"]).status_code == 422


def test_websocket_gets_monitor_alerts_and_decisions_with_its_filters(
    app: FastAPI, client: TestClient, keys: Keys
) -> None:
    host = ctx_of(app).watchlist
    person(host, "Lin", 1)
    person(host, "Alex", 2)
    with client.websocket_connect("/api/alerts/ws?camera=door", headers=keys["operator"]) as socket:
        seen(host, 2, camera="hall")  # another camera: filtered out
        seen(host, 1, camera="door")
        assert host.alerts.page(AlertFilter())[0] == 2  # both raised (a receive would wait forever)
        event = socket.receive_json()
        assert event["type"] == "watchlist_alert"
        alert = event["alert"]
        assert (alert["person"], alert["camera"], alert["level"], alert["status"]) == (
            "Lin",
            "door",
            "match",
            "open",
        )
        assert alert["crop_url"].startswith("/api/watchlist/images/")
        decided = client.post(
            f"/api/alerts/{alert['id']}/decision", json={"decision": "confirmed"}, headers=keys["admin"]
        )
        assert decided.status_code == 200
        event = socket.receive_json()
        assert (event["type"], event["alert"]["id"], event["alert"]["status"]) == (
            "watchlist_alert_decided", alert["id"], "confirmed",
        )  # fmt: skip
    assert host.feed.subscriber_count == 0


@pytest.mark.parametrize(
    ("role", "headers", "status"),
    [
        (None, {}, 401),
        ("viewer", {}, 403),
        ("operator", {"Origin": "https://evil.example"}, 403),
    ],
)
def test_websocket_refusals(
    client: TestClient, keys: Keys, role: str | None, headers: dict[str, str], status: int
) -> None:
    sent = {**(keys[role] if role else {}), **headers}
    with (
        pytest.raises(WebSocketDenialResponse) as denied,
        client.websocket_connect("/api/alerts/ws", headers=sent),
    ):
        pass
    assert denied.value.status_code == status


def test_same_origin_session_websocket_is_accepted(app: FastAPI, client: TestClient, keys: Keys) -> None:
    """A browser page of this server (Origin = Host) with a bearer key or session is served."""
    with client.websocket_connect(
        "/api/alerts/ws", headers={**keys["operator"], "Origin": "http://testserver"}
    ) as socket:
        host = ctx_of(app).watchlist
        person(host, "Lin", 1)
        seen(host, 1)
        assert socket.receive_json()["alert"]["person"] == "Lin"


def test_streams_over_real_http(tmp_path: Path) -> None:
    """SSE and WebSocket clients over a real server (uvicorn): the level filter, and a probable
    alert the SSE stream of matches does not get."""
    app = make_app(tmp_path)
    with ServedApp(app) as base:
        key = bearer(app, "operator")
        host = ctx_of(app).watchlist
        lin, alex = person(host, "Lin", 1), person(host, "Alex", 2)
        ws_url = base.replace("http", "ws", 1) + "/api/alerts/ws?level=probable"
        with (
            httpx.Client(base_url=base, headers=key, timeout=10) as http,
            http.stream("GET", "/api/alerts/stream?level=match&timeout_s=10") as sse,
            connect(ws_url, additional_headers=key, open_timeout=5) as socket,
        ):
            lines = sse.iter_lines()
            assert next(lines) == ": connected"
            stored_alert(host, alex, "hall", "probable")  # not through the monitor: not pushed
            pushed(host, stored_alert(host, alex, "hall", "probable", track=3))
            pushed(host, stored_alert(host, lin, "door", "match", track=4))
            event = _next_sse(lines)
            assert (event["type"], event["alert"]["person"], event["alert"]["level"]) == (
                "watchlist_alert",
                "Lin",
                "match",
            )
            message = json.loads(socket.recv(timeout=5))
            assert (message["alert"]["person"], message["alert"]["level"]) == ("Alex", "probable")
        with pytest.raises(InvalidStatus) as refused:
            connect(ws_url, additional_headers=bearer(app, "viewer"), open_timeout=5)
        assert refused.value.response.status_code == 403


def _next_sse(lines: Iterator[str]) -> dict[str, Any]:
    for line in lines:
        if line.startswith("data: "):
            return dict(json.loads(line[6:]))
    raise AssertionError("the stream ended without an event")


def test_thresholds_that_cannot_work_stop_the_server(tmp_path: Path) -> None:
    settings = web_settings(
        tmp_path, watchlist={"score_scale": "raw", "similarity_threshold": 0.3, "warn_threshold": 0.2}
    )
    with pytest.raises(ConfigError, match="accepts every impostor"):
        create_web_app(settings)


def test_vigil_serve_refuses_to_start_with_thresholds_that_cannot_work(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "VIGIL_DATA_DIR": str(tmp_path / "data"),
        "VIGIL_WEB__ADMIN_PASSWORD": "some-admin-password",
        "VIGIL_WATCHLIST__SCORE_SCALE": "raw",
        "SIMILARITY_THRESHOLD": "0.3",  # seed 004's names: raw cosine values meant for ArcFace
        "WARN_THRESHOLD": "0.2",
    }
    run = subprocess.run(
        [sys.executable, "-m", "vigil", "serve", "--port", "1"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 1, run.stdout + run.stderr
    assert "watchlist.warn_threshold = 0.2" in run.stderr and "accepts every impostor" in run.stderr


def kept_faces(host: WatchlistHost, alert_id: uuid.UUID, seed: int, count: int = 2) -> None:
    """The faces of the alert's track, as the monitor keeps them with the alert."""
    faces = [TrackFace(unit(seed + i), MODEL, 0.5 + 0.1 * i) for i in range(count)]
    host.learning.add_faces(alert_id, faces)


def test_a_rejection_teaches_and_an_admin_undoes_it(app: FastAPI, client: TestClient, keys: Keys) -> None:
    host = ctx_of(app).watchlist
    lin = person(host, "Lin", 1)
    alert = stored_alert(host, lin)
    kept_faces(host, alert, 40, count=3)
    rejected = client.post(
        f"/api/alerts/{alert}/decision", json={"decision": "rejected", "note": "his cousin"},
        headers=keys["operator"],
    )  # fmt: skip
    assert rejected.status_code == 200, rejected.text
    body = rejected.json()
    assert (body["status"], body["negatives_learned"], body["reference_added"]) == ("rejected", 3, False)

    url = f"/api/watchlist/{lin}/lessons"
    assert client.get(url, headers=keys["viewer"]).status_code == 403
    lessons = client.get(url, headers=keys["operator"])
    assert lessons.status_code == 200, lessons.text
    [lesson] = lessons.json()["lessons"]
    assert (lesson["alert_id"], lesson["faces"], lesson["rejected_by"]) == (str(alert), 3, "operator-user")
    assert (lesson["alert"]["note"], lesson["alert"]["camera"]) == ("his cousin", "door")
    assert datetime.fromisoformat(lesson["learned_at"]).utcoffset() == timedelta(0)  # pages show it local
    assert client.get(f"/api/watchlist/{uuid.uuid4()}/lessons", headers=keys["operator"]).status_code == 404

    undo = f"/api/watchlist/{lin}/lessons/{alert}"
    assert client.delete(undo, headers=keys["operator"]).status_code == 403
    other = person(host, "Alex", 2)
    assert client.delete(f"/api/watchlist/{other}/lessons/{alert}", headers=keys["admin"]).status_code == 404
    undone = client.delete(undo, headers=keys["admin"])
    assert undone.status_code == 200, undone.text
    assert undone.json() == {"alert_id": str(alert), "negatives_removed": 3}
    assert client.get(url, headers=keys["operator"]).json()["lessons"] == []
    assert host.learning.negative_set(MODEL).person_ids == []
    assert client.delete(undo, headers=keys["admin"]).status_code == 404
    assert host.alerts.get(alert).status == "rejected"  # the decision itself stays
    _, audit = ctx_of(app).audit.page(20)
    assert any(e.action == f"DELETE {undo}" and e.status == 200 and e.actor == "admin-user" for e in audit)
    assert any(e.action == f"DELETE {undo}" and e.status == 403 and e.actor == "operator-user" for e in audit)


def test_an_admin_confirmation_may_add_the_face_to_the_references(
    app: FastAPI, client: TestClient, keys: Keys
) -> None:
    host = ctx_of(app).watchlist
    lin = person(host, "Lin", 1)
    alert = stored_alert(host, lin)
    url = f"/api/alerts/{alert}/decision"
    asked = {"decision": "confirmed", "add_to_references": True}
    by_operator = client.post(url, json=asked, headers=keys["operator"])
    assert by_operator.status_code == 403 and "only admins" in by_operator.json()["detail"]
    nothing = client.post(url, json=asked, headers=keys["admin"])  # the alert kept no face
    assert nothing.status_code == 409 and "kept no face" in nothing.json()["detail"]
    assert host.alerts.get(alert).status == "open"  # refused before deciding: still to decide
    assert host.people.get(lin).references == 1

    kept_faces(host, alert, 50)
    added = client.post(url, json=asked, headers=keys["admin"])
    assert added.status_code == 200, added.text
    body = added.json()
    assert (body["status"], body["decided_by"], body["reference_added"], body["negatives_learned"]) == (
        "confirmed", "admin-user", True, 0,
    )  # fmt: skip
    assert host.people.get(lin).references == 2
    sources = sorted(r.source for r in host.people.references(lin))
    assert sources == ["alert", "photo"]

    plain = stored_alert(host, lin, camera="hall")
    kept_faces(host, plain, 60)
    confirmed = client.post(
        f"/api/alerts/{plain}/decision", json={"decision": "confirmed"}, headers=keys["operator"]
    )
    assert confirmed.status_code == 200 and confirmed.json()["reference_added"] is False
    assert host.people.get(lin).references == 2
