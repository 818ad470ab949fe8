"""Watchlist alert events across `vigil serve` processes over one PostgreSQL database (issue 19
item 3): an alert recorded by one server and a decision taken on another reach the live streams
of both, each once; the outbox holds each message once; a malformed notice or one about an erased
alert does not stop the listening. Real PostgreSQL (pgserver), real LISTEN/NOTIFY, two apps."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.test_web_alerts import person, seen
from tests.web_util import bearer, ctx_of, make_app
from vigil.store.notify import PayloadTooLarge, open_channel
from vigil.watchlist.tables import WatchlistOutboxMessage as OutboxMessage
from vigil.web.alert_sharing import CHANNEL

SETTLE_S = 1.5  # long enough for a duplicate notice to arrive, were one sent
REGISTRY = {"upr_api_url": "http://127.0.0.1:9/registry", "upr_api_key": "k"}  # nobody listens: rows stay


@pytest.fixture
def servers(tmp_path: Path, pg_url: str) -> Iterator[tuple[FastAPI, FastAPI]]:
    first = make_app(tmp_path / "a", pg_url, watchlist=REGISTRY)
    second = make_app(tmp_path / "b", pg_url, watchlist=REGISTRY)
    with TestClient(first), TestClient(second):
        for app in (first, second):
            channel = ctx_of(app).watchlist.sharing.channel
            assert channel is not None and channel.wait_listening(10), "the server is not listening"
        yield first, second


def published(app: FastAPI) -> int:
    return ctx_of(app).watchlist.feed.published


def wait_for(condition: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_an_alert_and_its_decision_reach_both_servers_once(servers: tuple[FastAPI, FastAPI]) -> None:
    recorder, other = servers
    host = ctx_of(recorder).watchlist
    person(host, "Lin", 1)  # stored in the shared database: the other server's registry has it too
    with (
        TestClient(recorder) as client_a,
        TestClient(other) as client_b,
        client_a.websocket_connect("/api/alerts/ws", headers=bearer(recorder, "operator")) as socket_a,
        client_b.websocket_connect("/api/alerts/ws", headers=bearer(other, "operator")) as socket_b,
    ):
        seen(host, 1, camera="door")  # the recorder's monitor sees Lin
        raised_a, raised_b = socket_a.receive_json(), socket_b.receive_json()
        assert raised_a["type"] == raised_b["type"] == "watchlist_alert"
        alert_id = raised_a["alert"]["id"]
        assert raised_b["alert"]["id"] == alert_id and raised_b["alert"]["person"] == "Lin"
        assert raised_b["alert"]["crop_url"].startswith("/api/watchlist/images/")  # signed by B itself
        decided = client_b.post(
            f"/api/alerts/{alert_id}/decision", json={"decision": "confirmed"}, headers=bearer(other, "admin")
        )
        assert decided.status_code == 200
        for socket in (socket_a, socket_b):
            event = socket.receive_json()
            assert (event["type"], event["alert"]["id"], event["alert"]["status"]) == (
                "watchlist_alert_decided", alert_id, "confirmed",
            )  # fmt: skip
        time.sleep(SETTLE_S)
    assert published(recorder) == published(other) == 2, "each event once on each server"
    with ctx_of(recorder).store.db.reader.connect() as conn:
        rows = conn.execute(select(OutboxMessage.kind, func.count()).group_by(OutboxMessage.kind)).all()
    assert sorted((str(event), int(count)) for event, count in rows) == [
        ("alert_confirmed", 1), ("alert_raised", 1),
    ]  # fmt: skip


def test_bad_notices_are_dropped_and_the_listening_goes_on(servers: tuple[FastAPI, FastAPI]) -> None:
    recorder, other = servers
    db = ctx_of(recorder).store.db
    sender = open_channel(db, CHANNEL, lambda payload: None)
    assert sender is not None
    try:
        sender.send("not json")
        sender.send('{"origin": "x", "type": "watchlist_alert"}')
        gone = f'{{"origin": "{uuid.uuid4()}", "type": "watchlist_alert", "alert_id": "{uuid.uuid4()}"}}'
        sender.send(gone)  # an alert that is not (or no longer) in the database
        with pytest.raises(PayloadTooLarge):
            sender.send("x" * 9000)
        channel = ctx_of(other).watchlist.sharing.channel
        assert channel is not None
        wait_for(lambda: channel.received >= 3)
        assert published(other) == 0
        person(ctx_of(recorder).watchlist, "Ada", 2)
        seen(ctx_of(recorder).watchlist, 2, camera="hall")
        wait_for(lambda: published(other) == 1)  # still listening after the bad ones
    finally:
        sender.close()


def test_sqlite_servers_have_no_channel(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    assert ctx_of(app).store.db.backend == "sqlite" and ctx_of(app).watchlist.sharing.channel is None
    ctx_of(app).watchlist.close()
    ctx_of(app).store.close()
