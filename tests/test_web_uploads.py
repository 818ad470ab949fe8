"""Video uploads shared by the analysis pages: an upload a queued or running job of any kind still
reads (activity, tracking) is not deleted (409 naming the job's kind); once the job has stopped it
is, folder and all; the setting's former name still sets the limit, and jobs stored with it load."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import SHARED
from tests.web_util import bearer, ctx_of, make_app
from vigil.anonymize.settings import AnonymizeSettings
from vigil.config import load_settings

CLIP = SHARED / "media" / "activity" / "asleep" / "akshint_test_video_sleep.mp4"
ACTIVE = {"queued", "running", "cancelling"}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = make_app(tmp_path, shared_dir=SHARED, track={"cpu_workers": 1})
    with TestClient(app, headers=bearer(app)) as test_client:
        yield test_client


def _state(client: TestClient, job_id: str) -> str:
    state: str = client.get(f"/api/jobs/{job_id}").json()["state"]
    return state


def _stop(client: TestClient, job_id: str, timeout: float = 120.0) -> None:
    client.delete(f"/api/jobs/{job_id}")
    deadline = time.monotonic() + timeout
    while _state(client, job_id) in ACTIVE:
        assert time.monotonic() < deadline, f"job {job_id} still active after {timeout} s"
        time.sleep(0.2)


def _upload(client: TestClient) -> tuple[str, Path]:
    response = client.post(
        "/api/anonymize/uploads", params={"filename": "sleep.mp4"}, content=CLIP.read_bytes()
    )
    assert response.status_code == 201, response.text
    upload_id: str = response.json()["id"]
    folder = ctx_of(client.app).settings.data_dir / "anonymize" / "uploads" / upload_id  # type: ignore[arg-type]
    return upload_id, folder


def _refused_while_active(client: TestClient, upload_id: str, job: dict[str, Any], kind: str) -> None:
    refused = client.delete(f"/api/anonymize/uploads/{upload_id}")
    # Still active after the answer, so it was active while the delete was decided.
    assert _state(client, job["id"]) in ACTIVE, "the job ended too soon to hold the upload"
    assert refused.status_code == 409, refused.text
    assert refused.json()["detail"].startswith("a job is still using this upload")
    assert kind in refused.json()["detail"] and job["id"] in refused.json()["detail"]


def test_an_activity_job_holds_its_upload(client: TestClient) -> None:
    upload_id, folder = _upload(client)
    job = client.post("/api/activity/jobs", json={"upload": upload_id, "sample_interval_s": 0.2})
    assert job.status_code == 201, job.text
    _refused_while_active(client, upload_id, job.json(), "activity")
    assert any(folder.iterdir()), "the refused delete left the upload in place"
    _stop(client, job.json()["id"])
    assert client.delete(f"/api/anonymize/uploads/{upload_id}").status_code == 204
    assert not folder.exists()
    assert client.delete(f"/api/anonymize/uploads/{upload_id}").status_code == 404


def test_a_tracking_job_on_the_uploaded_file_holds_it_too(client: TestClient, tmp_path: Path) -> None:
    upload_id, folder = _upload(client)
    video = next(folder.iterdir())
    job = client.post("/api/track/jobs", json={"paths": [str(video)], "out_dir": str(tmp_path / "out")})
    assert job.status_code in (200, 201, 202), job.text
    _refused_while_active(client, upload_id, job.json(), "track")
    _stop(client, job.json()["id"])
    assert client.delete(f"/api/anonymize/uploads/{upload_id}").status_code == 204


def test_the_former_setting_name_still_sets_the_limit(tmp_path: Path) -> None:
    assert load_settings(anonymize={"max_upload_mb": 3}).web.max_video_upload_mb == 3
    both = load_settings(anonymize={"max_upload_mb": 3}, web={"max_video_upload_mb": 5})
    assert both.web.max_video_upload_mb == 5, "the new name wins"
    stored_job = AnonymizeSettings.model_validate({"max_upload_mb": 3, "strip_metadata": False})
    assert stored_job.strip_metadata is False, "a job stored with the former key still loads"
    app = make_app(tmp_path, web={"max_video_upload_mb": 0.05})
    with TestClient(app, headers=bearer(app)) as small:
        too_large = small.post(
            "/api/anonymize/uploads", params={"filename": "a.mp4"}, content=CLIP.read_bytes()
        )
        assert too_large.status_code == 413
