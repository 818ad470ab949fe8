"""System area: SSE event stream, Prometheus metrics, system status and page."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.web_util import ServedApp, bearer, ctx_of, login, make_app
from vigil.live.events import FaceEmbedded, IdentityMatch, TrackEnded, TrackStarted
from vigil.types import FaceEmbedding
from vigil.web.events import EventBus, Subscription
from vigil.web.routes import system as system_routes


def _publish_once_subscribed(bus: EventBus, deadline_s: float = 10.0) -> threading.Thread:
    """Publish as soon as the stream has subscribed: a fixed delay raced slow CI start-ups."""

    def publish() -> None:
        give_up = time.monotonic() + deadline_s
        while bus.subscriber_count == 0 and time.monotonic() < give_up:
            time.sleep(0.01)
        bus.handle(TrackStarted("cam-a", 7, time.time(), 1.5, box=[1, 2, 30, 40]))
        bus.handle(TrackStarted("cam-b", 8, time.time(), 1.6, box=[1, 2, 30, 40]))
        bus.handle(TrackEnded("cam-a", 7, time.time(), 2.0, frames=3))

    thread = threading.Thread(target=publish)
    thread.start()
    return thread


def _sse_messages(body: str) -> list[tuple[str, dict[str, object]]]:
    messages = []
    for block in body.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        if "event" in lines:
            messages.append((lines["event"], json.loads(lines["data"])))
    return messages


def test_event_stream_delivers_pipeline_events_filtered_by_camera(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    with TestClient(app) as client:
        headers = bearer(app, "viewer")
        publisher = _publish_once_subscribed(ctx_of(app).events)
        response = client.get("/api/events", params={"camera": "cam-a", "timeout_s": 3}, headers=headers)
        publisher.join()
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        messages = _sse_messages(response.text)
        received = [(kind, data["track_id"]) for kind, data in messages]
        assert received == [("track_started", 7), ("track_ended", 7)]
        assert messages[0][1]["box"] == [1, 2, 30, 40] and messages[0][1]["camera"] == "cam-a"
        assert ": keepalive" not in response.text  # 3 s of stream: under the 10 s keepalive period
        assert ctx_of(app).events.subscriber_count == 0  # unsubscribed when the stream ended
        assert client.get("/api/events", params={"timeout_s": 1}).status_code == 401


def test_idle_event_stream_sends_keepalive_comments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(system_routes, "KEEPALIVE_S", 0.3)  # the 10 s period, shortened
    app = make_app(tmp_path)
    with TestClient(app) as client:
        response = client.get("/api/events", params={"timeout_s": 1.1}, headers=bearer(app, "viewer"))
        assert response.text.startswith(": connected\n\n")
        assert 2 <= response.text.count(": keepalive\n\n") <= 4  # at 0.3, 0.6, 0.9 s


def test_open_stream_is_quiet_between_keepalives_and_unsubscribes_when_the_client_leaves(
    tmp_path: Path,
) -> None:
    app = make_app(tmp_path)
    bus = ctx_of(app).events
    with (
        ServedApp(app) as base,
        httpx.Client(base_url=base, headers=bearer(app, "viewer"), timeout=20) as http,
    ):
        with http.stream("GET", "/api/events") as response:
            threading.Timer(2.5, bus.handle, [TrackStarted("cam", 5, time.time(), 0.0)]).start()
            lines = []
            for line in response.iter_lines():
                lines.append(line)
                if line.startswith("data: "):
                    break
        assert lines == [": connected", "", "event: track_started", lines[-1]]  # no keepalive within 10 s
        deadline = time.monotonic() + 10
        while bus.subscriber_count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert bus.subscriber_count == 0


SSE_CLIENTS = 60  # above the 40 worker threads Starlette runs sync routes on
REST_ANSWER_S = 2.0  # an idle server answers in milliseconds; the old SSE loop took seconds


async def _until(check: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def _listen(http: httpx.AsyncClient, last_track: int) -> list[int]:
    """Holds one /api/events stream open until the event of `last_track`; the track ids seen."""
    seen: list[int] = []
    async with http.stream("GET", "/api/events") as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                seen.append(json.loads(line[len("data: ") :])["track_id"])
                if seen[-1] == last_track:
                    break
    return seen


def _publish(bus: EventBus, tracks: list[int]) -> None:
    for track in tracks:
        bus.handle(TrackStarted("cam", track, time.time(), 0.0))


async def _rest_while_streams_are_open(base: str, headers: dict[str, str], bus: EventBus) -> None:
    limits = httpx.Limits(max_connections=SSE_CLIENTS + 5)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30, limits=limits) as http:
        listeners = [asyncio.create_task(_listen(http, last_track=2)) for _ in range(SSE_CLIENTS)]
        await _until(lambda: bus.subscriber_count == SSE_CLIENTS)
        for _ in range(3):
            started = time.monotonic()
            status = await http.get("/api/system")  # a sync route: it needs a worker thread
            took = time.monotonic() - started
            assert status.status_code == 200 and status.json()["event_subscribers"] == SSE_CLIENTS
            assert took < REST_ANSWER_S, f"GET /api/system took {took:.2f} s with {SSE_CLIENTS} streams open"
        # Published from another thread, as a camera's pipeline does.
        publisher = threading.Thread(target=_publish, args=(bus, [1, 2]))
        publisher.start()
        received = await asyncio.wait_for(asyncio.gather(*listeners), timeout=20)
        publisher.join()
        assert received == [[1, 2]] * SSE_CLIENTS
    await _until(lambda: bus.subscriber_count == 0)  # each closed stream unsubscribed


def test_sixty_open_event_streams_leave_the_rest_api_responsive(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    with ServedApp(app) as base:
        asyncio.run(_rest_while_streams_are_open(base, bearer(app, "viewer"), ctx_of(app).events))


def test_event_bus_labels_tracks_with_their_visitor_and_drops_for_slow_readers() -> None:
    bus = EventBus()
    started = TrackStarted("cam", 1, 0.0, 0.0)
    bus.handle(started)
    vector = FaceEmbedding(np.ones(4, np.float32), "test")
    match = IdentityMatch("v-123", 0.97, new_visitor=False)
    bus.handle(FaceEmbedded("cam", 1, 0.0, 0.0, embedding=vector, identity=match))
    assert bus.visitor_of("cam", 1) == "v-123"
    bus.handle(TrackEnded("cam", 1, 0.0, 0.0))
    assert bus.visitor_of("cam", 1) is None
    asyncio.run(_slow_reader_loses_oldest(bus))


async def _slow_reader_loses_oldest(bus: EventBus) -> None:
    slow = bus.subscribe()
    for i in range(300):
        bus.handle(TrackStarted("cam", i, 0.0, 0.0))
    got = await slow.next_batch(0.1)
    assert len(got) == 256 and got[-1]["track_id"] == 299 and slow.dropped == 44
    assert await slow.next_batch(0.05) == []  # the batch was taken whole


def test_event_bus_wakes_its_async_readers_from_pipeline_threads() -> None:
    bus = EventBus()
    subscription = asyncio.run(_woken_by_a_thread_then_closed(bus))
    bus.handle(TrackStarted("cam", 3, 0.0, 0.0))  # the reader's loop is gone: publishing still works
    assert subscription.closed and bus.published == 3


async def _woken_by_a_thread_then_closed(bus: EventBus) -> Subscription:
    other_camera, mine = bus.subscribe("cam-b"), bus.subscribe("cam")
    threading.Timer(0.2, bus.handle, [TrackStarted("cam", 1, 0.0, 0.0)]).start()
    started = time.monotonic()
    got = await mine.next_batch(10.0)
    assert [e["track_id"] for e in got] == [1] and time.monotonic() - started < 5.0
    assert await other_camera.next_batch(0.05) == []  # filtered by camera
    threading.Timer(0.2, bus.handle, [TrackStarted("cam", 2, 0.0, 0.0)]).start()
    assert [e["track_id"] for e in await mine.next_batch(10.0)] == [2]
    threading.Timer(0.2, bus.close).start()
    started = time.monotonic()
    assert await mine.next_batch(10.0) == [] and time.monotonic() - started < 5.0  # close ends a wait
    return mine


def test_metrics_need_authentication_and_expose_store_and_events(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    with TestClient(app) as client:
        ctx_of(app).events.handle(TrackStarted("cam", 1, time.time(), 0.0))
        assert client.get("/metrics").status_code == 401
        response = client.get("/metrics", headers=bearer(app, "viewer"))
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
        text = response.text
        assert "vigil_events_total 1.0" in text
        assert 'vigil_store_rows{table="visitors"} 0.0' in text


def test_system_status_and_page_show_recent_errors(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    with TestClient(app) as client:
        logging.getLogger("vigil.test").error("camera cam-x failed: connection refused")
        status = client.get("/api/system", headers=bearer(app, "viewer")).json()
        assert status["store_backend"] == "sqlite"
        assert any("connection refused" in e["message"] for e in status["recent_errors"])
        login(client)
        page = client.get("/system")
        assert page.status_code == 200 and "connection refused" in page.text
        french = client.get("/system", headers={"accept-language": "fr-FR,fr;q=0.9"})
        assert "Avertissements et erreurs récents" in french.text
    # the handler is detached when the app stops
    assert ctx_of(app).errors not in logging.getLogger().handlers
