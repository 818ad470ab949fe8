"""System area: SSE event stream, Prometheus metrics, system status and page."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

from fastapi.testclient import TestClient

from tests.web_util import bearer, ctx_of, login, make_app
from vigil.runtime.events import TrackEnded, TrackStarted
from vigil.web.events import EventBus


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
        assert ctx_of(app).events.subscriber_count == 0  # unsubscribed when the stream ended
        assert client.get("/api/events", params={"timeout_s": 1}).status_code == 401


def test_event_bus_labels_tracks_with_their_visitor_and_drops_for_slow_readers() -> None:
    bus = EventBus()
    started = TrackStarted("cam", 1, 0.0, 0.0)
    bus.handle(started)
    embedded = TrackStarted("cam", 1, 0.0, 0.0)
    embedded.type = "face_embedded"
    embedded.extra["visitor_id"] = "v-123"
    bus.handle(embedded)
    assert bus.visitor_of("cam", 1) == "v-123"
    bus.handle(TrackEnded("cam", 1, 0.0, 0.0))
    assert bus.visitor_of("cam", 1) is None
    slow = bus.subscribe()
    for i in range(300):
        bus.handle(TrackStarted("cam", i, 0.0, 0.0))
    got = slow.wait(0.1)
    assert len(got) == 256 and got[-1]["track_id"] == 299 and slow.dropped == 44


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
