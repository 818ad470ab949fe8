"""Activity in video files from the web (issue 18 item 6, admin): a job on an uploaded real clip
(the person asleep), its result as JSON and CSV downloads, the single-frame analysis of a file at a
time and of an uploaded picture, and the refusals: a path outside the media roots, bad pictures,
bad times, unknown jobs, other roles."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import pytest
from fastapi.testclient import TestClient

from tests.conftest import SHARED
from tests.web_util import bearer, make_app
from vigil.activity.web_export import CSV_COLUMNS
from vigil.web.video_frames import frame_at

ASLEEP = SHARED / "media" / "activity" / "asleep" / "akshint_test_video_sleep.mp4"
ACTIVE = {"queued", "running", "cancelling"}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = make_app(tmp_path, shared_dir=SHARED, watchlist={"max_photo_megapixels": 1.0})
    with TestClient(app, headers=bearer(app)) as test_client:
        yield test_client


def _wait(client: TestClient, job_id: str, timeout: float = 180.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(f"/api/jobs/{job_id}").json()
        if body["state"] not in ACTIVE:
            return body
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} still running after {timeout} s")


def _jpeg(at_s: float) -> bytes:
    ok, data = cv2.imencode(".jpg", frame_at(ASLEEP, at_s / 7.777))
    assert ok
    return bytes(data.tobytes())


def test_a_job_on_an_uploaded_clip_gives_json_and_csv(client: TestClient) -> None:
    uploaded = client.post(
        "/api/anonymize/uploads", params={"filename": "sleep.mp4"}, content=ASLEEP.read_bytes()
    )
    assert uploaded.status_code == 201, uploaded.text
    job = client.post("/api/activity/jobs", json={"upload": uploaded.json()["id"], "sample_interval_s": 0.5})
    assert job.status_code == 201, job.text
    assert job.json()["kind"] == "activity"
    finished = _wait(client, job.json()["id"])
    assert finished["state"] == "done", finished
    assert finished["progress"]["overall"] == 1.0

    response = client.get(f"/api/activity/jobs/{finished['id']}/result.json")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    (analysis,) = response.json()["analyses"]
    assert analysis["dominant"] == "asleep"
    assert analysis["sample_interval_s"] == 0.5 and analysis["classifier"] == "rules"
    assert analysis["distribution"]["asleep"] >= 0.5

    table = client.get(f"/api/activity/jobs/{finished['id']}/result.csv")
    assert table.status_code == 200 and table.headers["content-type"].startswith("text/csv")
    assert table.headers["content-disposition"].endswith('.csv"')
    rows = list(csv.DictReader(io.StringIO(table.text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == len(analysis["segments"]) >= 1
    assert {row["file"] for row in rows} == {"sleep.mp4"}, "the file name, no server folders"
    asleep = [row for row in rows if row["activity"] == "asleep"]
    assert asleep and float(asleep[0]["eyes_closed"]) > 0.5
    assert float(rows[-1]["end"]) == pytest.approx(analysis["duration_s"], abs=0.01)


def test_one_frame_of_a_file_and_an_uploaded_picture(client: TestClient) -> None:
    at = client.post("/api/activity/frame", json={"path": str(ASLEEP), "at": 3.0})
    assert at.status_code == 200, at.text
    assert at.json()["activity"] == "asleep" and at.json()["people"] == 1
    picture = client.post("/api/activity/frame", content=_jpeg(3.0), headers={"Content-Type": "image/jpeg"})
    assert picture.status_code == 200, picture.text
    assert picture.json()["activity"] == "asleep" and picture.json()["cues"]["eyes_closed"] == 1.0


def test_refusals(client: TestClient, tmp_path: Path) -> None:
    outside = client.post("/api/activity/jobs", json={"path": "/etc/passwd"})
    missing = client.post("/api/activity/jobs", json={"path": "/etc/nothing-here.mp4"})
    assert outside.status_code == missing.status_code == 422
    assert outside.json()["detail"] == missing.json()["detail"], "no file-existence oracle"
    frame_outside = client.post("/api/activity/frame", json={"path": "/etc/passwd", "at": 0})
    assert frame_outside.status_code == 422
    for body in (
        {"path": str(ASLEEP), "upload": "0" * 32},  # two sources
        {"path": str(ASLEEP), "sample_interval_s": 0},
        {"path": str(ASLEEP), "classifier": "magic"},
    ):
        assert client.post("/api/activity/jobs", json=body).status_code == 422, body
    no_model = client.post("/api/activity/jobs", json={"path": str(ASLEEP), "classifier": "model"})
    assert no_model.status_code == 400 and "model" in no_model.json()["detail"]
    assert client.post("/api/activity/jobs", json={"upload": "f" * 32}).status_code == 404

    past = client.post("/api/activity/frame", json={"path": str(ASLEEP), "at": 60})
    assert past.status_code == 422 and "past the end" in past.json()["detail"]
    negative = client.post("/api/activity/frame", json={"path": str(ASLEEP), "at": -1})
    assert negative.status_code == 422 and negative.json()["detail"][0]["loc"][-1] == "at"
    broken_json = client.post(
        "/api/activity/frame", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert broken_json.status_code == 422
    not_video = tmp_path / "notes.mp4"
    not_video.write_bytes(b"not a video at all" * 100)
    unreadable = client.post("/api/activity/frame", json={"path": str(not_video), "at": 0})
    assert unreadable.status_code == 422 and str(tmp_path) not in unreadable.json()["detail"]

    garbage = client.post(
        "/api/activity/frame", content=b"\xff\xd8 not a jpeg", headers={"Content-Type": "image/jpeg"}
    )
    assert garbage.status_code == 422 and "not a readable" in garbage.json()["detail"]
    big = cv2.imencode(".png", cv2.resize(frame_at(ASLEEP, 0.4), (1600, 900)))[1].tobytes()
    too_many = client.post("/api/activity/frame", content=big, headers={"Content-Type": "image/png"})
    assert too_many.status_code == 422 and "megapixels" in too_many.json()["detail"]
    text = client.post("/api/activity/frame", content=b"hello", headers={"Content-Type": "text/plain"})
    assert text.status_code == 415

    unknown = "0" * 32
    assert client.get(f"/api/activity/jobs/{unknown}/result.json").status_code == 404
    assert client.get(f"/api/activity/jobs/{unknown}/result.csv").status_code == 404


def test_oversized_picture_and_other_roles(tmp_path: Path) -> None:
    app = make_app(tmp_path, shared_dir=SHARED, watchlist={"max_upload_mb": 0.01})
    with TestClient(app, headers=bearer(app)) as client:
        huge = client.post(
            "/api/activity/frame", content=_jpeg(1.0) * 3, headers={"Content-Type": "image/jpeg"}
        )
        assert huge.status_code == 413
        for role in ("viewer", "operator"):
            headers = bearer(app, role)
            job = client.post("/api/activity/jobs", json={"path": str(ASLEEP)}, headers=headers)
            frame = client.post("/api/activity/frame", json={"path": str(ASLEEP), "at": 1}, headers=headers)
            result = client.get(f"/api/activity/jobs/{'0' * 32}/result.json", headers=headers)
            page = client.get("/activity", headers=headers)
            assert (job.status_code, frame.status_code, result.status_code, page.status_code) == (403,) * 4
        page = client.get("/activity")
        assert page.status_code == 200 and 'id="act-timeline"' in page.text
        assert "/static/vendor/chart.umd.min.js" in page.text
        assert client.get("/static/vendor/chart.umd.min.js").status_code == 200
        french = client.get("/activity", headers={"Accept-Language": "fr"}).text
        assert "Chronologie" in french and '"asleep": "Sommeil"' in french
        assert '"book": "livre"' in french and '"speech": "parole"' in french  # object and sound names


def test_progress_then_cancel_and_no_result_before_the_end(client: TestClient) -> None:
    juggle = SHARED / "media" / "activity" / "busy" / "sam2_default_juggle.mp4"  # 10 s of 720p
    job = client.post("/api/activity/jobs", json={"path": str(juggle), "sample_interval_s": 0.1})
    assert job.status_code == 201, job.text
    job_id = job.json()["id"]
    early = client.get(f"/api/activity/jobs/{job_id}/result.csv")
    assert early.status_code == 409 and "no result yet" in early.json()["detail"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        item = client.get(f"/api/jobs/{job_id}").json()["progress"]["items"][0]
        if (item["units_done"] or 0) > 0:
            break
        time.sleep(0.2)
    assert 0 < item["units_done"] < item["units_total"], item
    assert client.delete(f"/api/jobs/{job_id}").status_code == 202
    assert _wait(client, job_id, timeout=60)["state"] == "cancelled"
