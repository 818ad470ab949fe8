"""The activity history's API (issue 18 items 4-5): segments, statistics and the reports' outbox,
through the real app and its roles; numbers are the store's (tests/test_activity_store.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.web_util import bearer, ctx_of, make_app
from vigil.activity.history import NewSegment
from vigil.activity.labels import Activity as A
from vigil.activity.reports import ActivityReport, ReportOutbox
from vigil.activity.repository import ActivityRepository
from vigil.activity.result import CueSummary

KEY = "api-Report-Key-51c0"
CUES = CueSummary(present=1.0, motion=0.3, eyes_closed=0.0, head_down=0.0, hand_at_ear=0.0,
                  hand_at_mouth=0.0, hands_in_front=0.0, voice=0.4, objects=["cup"],
                  sounds=["speech"])  # fmt: skip
T = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def seg(camera: str, activity: A, start: datetime, minutes: float) -> NewSegment:
    return NewSegment(camera, activity, start, start + timedelta(minutes=minutes), 0.75, CUES)


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    report = {"enabled": False, "url": f"https://user:{KEY}@reports.example/in", "key": KEY}
    app = make_app(tmp_path, activity={"report": report})
    ActivityRepository(ctx_of(app).store.db).add(
        [
            seg("desk", A.READING, T, 30),
            seg("desk", A.ON_PHONE, T + timedelta(minutes=31), 10),
            seg("desk", A.READING, T + timedelta(minutes=41), 19),
            seg("kitchen", A.EATING, T - timedelta(minutes=30), 60),  # from 08:30 (Paris: 09:30)
        ]
    )
    return app


def test_segments_are_listed_with_filters_for_viewers(app: FastAPI) -> None:
    client = TestClient(app)
    viewer = bearer(app, "viewer")
    body = client.get("/api/activity/segments", params={"camera": "desk", "limit": 2}, headers=viewer).json()
    assert body["total"] == 3
    assert [(s["activity"], s["duration_s"]) for s in body["segments"]] == [
        ("reading", 1140.0),
        ("on_phone", 600.0),
    ]
    first = body["segments"][0]
    assert first["cues"]["objects"] == ["cup"] and first["source"] == "live" and first["visitor_id"] is None
    assert first["start"].startswith("2026-12-01T09:41:00")
    window = {"from": "2026-12-01T09:35:00Z", "to": "2026-12-01T09:45:00Z", "activity": "on_phone"}
    assert client.get("/api/activity/segments", params=window, headers=viewer).json()["total"] == 1
    assert (
        client.get("/api/activity/segments", params={"activity": "dancing"}, headers=viewer).status_code
        == 422
    )
    assert client.get("/api/activity/segments").status_code == 401


def test_statistics_per_day_week_transitions_in_a_time_zone(app: FastAPI) -> None:
    client = TestClient(app)
    viewer = bearer(app, "viewer")
    params = {"from": "2026-11-30T00:00:00Z", "to": "2026-12-03T00:00:00Z"}
    body = client.get("/api/activity/statistics", params=params, headers=viewer).json()
    assert body["activities"][0] == "asleep" and len(body["activities"]) == 8
    assert [d["label"] for d in body["days"]] == ["2026-11-30", "2026-12-01", "2026-12-02"]  # empty ones too
    assert [d for d in body["days"] if d["seconds"]] == [
        {"period": "2026-12-01", "label": "2026-12-01", "total_s": 7140.0,
         "seconds": {"eating": 3600.0, "reading": 2940.0, "on_phone": 600.0}},
    ]  # fmt: skip
    assert [w["label"] for w in body["weeks"]] == ["2026-W49"]
    assert body["transitions"] == [
        {"from": "on_phone", "to": "reading", "count": 1},
        {"from": "reading", "to": "on_phone", "count": 1},
    ]
    assert {t["activity"] for t in body["trends"]} <= set(body["activities"])
    desk = client.get("/api/activity/statistics", params={**params, "camera": "kitchen", "tz": "Asia/Tokyo"},
                      headers=viewer).json()  # fmt: skip
    assert [(d["label"], d["seconds"]) for d in desk["days"] if d["total_s"]] == [
        ("2026-12-01", {"eating": 3600.0})
    ]
    late_range = {"from": "2026-12-01T23:50:00-10:00", "to": "2026-12-03T00:00:00Z"}
    late = client.get("/api/activity/statistics", params=late_range, headers=viewer)
    assert [(d["label"], d["total_s"]) for d in late.json()["days"]] == [
        ("2026-12-02", 0.0)
    ]  # from 09:50 UTC
    bad = client.get("/api/activity/statistics", params={"tz": "Mars/Olympus"}, headers=viewer)
    assert bad.status_code == 422 and "unknown time zone" in bad.text
    backwards = {"from": "2026-12-03T00:00:00Z", "to": "2026-12-01T00:00:00Z"}
    assert client.get("/api/activity/statistics", params=backwards, headers=viewer).status_code == 422


def test_reports_outbox_is_admin_only_and_redacted(app: FastAPI) -> None:
    client = TestClient(app)
    assert client.get("/api/activity/reports", headers=bearer(app, "viewer")).status_code == 403
    assert client.get("/api/activity/reports", headers=bearer(app, "operator")).status_code == 403
    end = T + timedelta(minutes=5)
    report = ActivityReport(
        message_id=uuid.uuid4(), queued_at=end, camera="desk", period_start=T, period_end=end,
        dominant=A.READING, distribution={A.READING: 1.0}, confidence=0.75, covered_s=300.0, segments=1,
    )  # fmt: skip
    assert ReportOutbox(ctx_of(app).store.db).enqueue(report)
    answer = client.get("/api/activity/reports", headers=bearer(app))
    assert answer.status_code == 200 and KEY not in answer.text
    body = answer.json()
    assert (body["enabled"], body["pending"], body["delivered"], body["interval_s"]) == (False, 1, 0, 300.0)
    assert body["url"] is not None and "reports.example" in body["url"]
    [entry] = body["reports"]
    assert entry["status"] == "pending" and entry["report"]["message_id"] == str(report.message_id)
    assert entry["report"]["period_end"] == "2026-12-01T09:05:00Z"
    assert (
        client.get("/api/activity/reports", params={"status": "failed"}, headers=bearer(app)).json()[
            "reports"
        ]
        == []
    )


def test_reports_outbox_on_metrics_when_reports_are_on(tmp_path: Path) -> None:
    report = {"enabled": True, "url": "https://reports.example/in", "key": KEY}
    app = make_app(tmp_path, activity={"report": report})  # no lifespan here: no delivery thread
    end = T + timedelta(minutes=5)
    queued = ActivityReport(
        message_id=uuid.uuid4(), queued_at=end, camera="desk", period_start=T, period_end=end,
        dominant=A.BUSY, distribution={A.BUSY: 1.0}, confidence=0.5, covered_s=300.0, segments=1,
    )  # fmt: skip
    outbox = ReportOutbox(ctx_of(app).store.db)
    assert outbox.enqueue(queued) and not outbox.enqueue(queued)  # a period is queued once
    metrics = TestClient(app).get("/metrics", headers=bearer(app, "viewer")).text
    assert 'vigil_activity_report_outbox_messages{status="pending"} 1.0' in metrics
    assert 'vigil_activity_report_outbox_messages{status="failed"} 0.0' in metrics
    assert KEY not in metrics


def _named_visitor(app: FastAPI, name: str) -> uuid.UUID:
    from sqlalchemy import insert

    from vigil.store.schema import Visitor

    visitor = uuid.uuid4()
    with ctx_of(app).store.db.writer.begin() as conn:
        conn.execute(insert(Visitor).values(id=visitor, name=name, first_seen_at=T, last_seen_at=T))
    return visitor


def test_segments_csv_has_the_filters_names_and_no_formulas(app: FastAPI) -> None:
    import csv
    import io

    from vigil.activity.history_export import HISTORY_CSV_COLUMNS

    visitor = _named_visitor(app, '=HYPERLINK("http://evil")')
    later = T + timedelta(hours=3)
    ActivityRepository(ctx_of(app).store.db).add(
        [NewSegment("-cmd", A.ASLEEP, later, later + timedelta(minutes=20), 0.9, CUES, visitor_id=visitor)]
    )
    client = TestClient(app)
    viewer = bearer(app, "viewer")
    answer = client.get("/api/activity/segments.csv", headers=viewer)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert tuple(rows[0]) == HISTORY_CSV_COLUMNS and len(rows) == 5
    newest = rows[0]  # newest first
    assert (newest["camera"], newest["visitor_name"]) == ("'-cmd", '\'=HYPERLINK("http://evil")')
    named = (newest["activity"], newest["activity_name"], newest["duration_s"])
    assert named == ("asleep", "Asleep", "1200.000")
    assert newest["visitor_id"] == str(visitor) and newest["start"] == "2026-12-01T12:00:00+00:00"
    assert (newest["objects"], newest["sounds"], newest["open"]) == ("cup", "speech", "false")
    # The page's language names the activities; the filters are the JSON list's.
    french = client.get("/api/activity/segments.csv", params={"camera": "desk", "activity": "on_phone"},
                        headers={**viewer, "Accept-Language": "fr"})  # fmt: skip
    [phone] = list(csv.DictReader(io.StringIO(french.text)))
    assert (phone["activity_name"], phone["duration_s"]) == ("Au téléphone", "600.000")
    listed = client.get("/api/activity/segments", params={"camera": "-cmd"}, headers=viewer).json()
    assert listed["segments"][0]["visitor_name"] == '=HYPERLINK("http://evil")'  # JSON is not a spreadsheet
    for bad in ({"activity": "dancing"}, {"from": "yesterday"}, {"visitor_id": "x"}, {"camera": "c" * 201}):
        assert client.get("/api/activity/segments.csv", params=bad, headers=viewer).status_code == 422, bad
    assert client.get("/api/activity/segments", params={"offset": -1}, headers=viewer).status_code == 422
    assert client.get("/api/activity/segments.csv").status_code == 401


def test_live_activity_lists_the_cameras_with_activity_on(app: FastAPI, tmp_path: Path) -> None:
    from tests.conftest import SHARED

    client = TestClient(app)
    admin = bearer(app)
    clip = str(SHARED / "media" / "activity" / "asleep" / "akshint_test_video_sleep.mp4")
    assert client.get("/api/activity/live", headers=bearer(app, "viewer")).json() == []
    off = client.post("/api/cameras", json={"url": clip, "name": "hall", "enabled": False}, headers=admin)
    body = {"url": clip, "name": "bedroom", "enabled": False, "activity": True}
    on = client.post("/api/cameras", json=body, headers=admin)
    assert (off.json()["activity"], on.json()["activity"]) == (False, True)
    [tile] = client.get("/api/activity/live", headers=bearer(app, "viewer")).json()
    assert tile == {
        "camera_id": on.json()["id"], "camera": "bedroom", "running": False, "activity": None,
        "confidence": None, "since": None, "updated": None, "cues": None, "sound": None,
    }  # fmt: skip
    assert client.get("/api/activity/live").status_code == 401
