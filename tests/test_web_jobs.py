"""The Jobs page and the generic /api/jobs: who may read and cancel, progress shown, texts in
both languages, CSRF on a session's cancel."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from tests.web_util import bearer, ctx_of, login, make_app
from vigil.batch.job import KIND, track_params
from vigil.batch.settings import BatchSettings
from vigil.errors import VigilError
from vigil.jobs.model import ItemProgress, ItemState, JobProgress, JobRecord, JobState


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(make_app(tmp_path)) as test_client:
        yield test_client


def add_job(client: TestClient, state: JobState, overall: float, name: str = "a.mp4") -> JobRecord:
    """A track job row as a server running it would have written it (nobody runs it here)."""
    params = track_params([Path("/videos") / name], BatchSettings(), None, False)
    record = JobRecord(
        id=uuid.uuid4().hex,
        kind=KIND.name,
        params=params.model_dump(mode="json"),
        state=state,
        progress=JobProgress(
            overall=overall,
            items=[
                ItemProgress(name=f"/videos/{name}", state=ItemState.RUNNING, units_done=36, units_total=72)
            ],
        ),
        created_at=datetime.now(UTC),
        started_at=datetime.now(UTC),
    )
    ctx_of(client.app).jobs.repo.insert(record, max_active=100)  # type: ignore[arg-type]
    return record


def test_jobs_page_shows_progress_and_cancel_for_admins(client: TestClient) -> None:
    running = add_job(client, JobState.RUNNING, 0.5)
    login(client)
    page = client.get("/jobs")
    assert page.status_code == 200
    html = page.text
    assert '<a href="/jobs" class="active">Jobs</a>' in html
    row = html.split(f'id="job-{running.id}"', 1)[1].split("</tr>", 1)[0]
    assert "Batch tracking" in row and "1 video: a.mp4" in row
    assert '<progress class="job-bar" max="1" value="0.5">' in row and "50%" in row
    assert '<progress class="item-bar" max="1" value="0.5">' in row and "36/72" in row
    assert "running" in row
    assert re.search(r'<button type="button" class="job-cancel danger" data-action="cancel"\s*>', row)
    assert '<script src="/static/jobs.js" defer>' in html
    assert client.get("/static/jobs.js").status_code == 200


def test_jobs_page_for_viewers_in_french_without_cancel(client: TestClient) -> None:
    add_job(client, JobState.RUNNING, 0.25)
    ctx_of(client.app).users.create("vera", "password-vera", "viewer")  # type: ignore[arg-type]
    login(client, "vera", "password-vera")
    client.get("/lang/fr")
    html = client.get("/jobs").text
    # French puts a no-break space before %, as the page's script (Intl.NumberFormat) writes it.
    assert ">Tâches</a>" in html and "en cours" in html and "25\u00a0%" in html
    assert "job-cancel" not in html


def test_empty_jobs_page_and_login_redirect(client: TestClient) -> None:
    response = client.get("/jobs", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/jobs"
    login(client)
    assert 'id="jobs-none"' in client.get("/jobs").text


def test_api_jobs_read_for_viewers_cancel_for_admins(client: TestClient) -> None:
    running = add_job(client, JobState.RUNNING, 0.5)
    assert client.get("/api/jobs").status_code == 401
    viewer = bearer(client.app, "viewer")  # type: ignore[arg-type]
    listed = client.get("/api/jobs", headers=viewer).json()["jobs"]
    assert [(job["id"], job["kind"], job["state"]) for job in listed] == [(running.id, "track", "running")]
    assert listed[0]["progress"]["items"][0]["units_total"] == 72
    assert client.get(f"/api/jobs/{running.id}", headers=viewer).json()["summary"] == "1 video: a.mp4"
    assert client.delete(f"/api/jobs/{running.id}", headers=viewer).status_code == 403

    admin = bearer(client.app)  # type: ignore[arg-type]
    response = client.delete(f"/api/jobs/{running.id}", headers=admin)
    assert response.status_code == 202 and response.json()["state"] == "cancelling"
    assert client.get("/api/jobs/nope", headers=viewer).json() == {"detail": "no job with id nope"}
    response = client.get("/api/jobs?kind=nope", headers=viewer)
    assert response.status_code == 422 and "unknown job kind 'nope'" in response.json()["detail"]
    assert client.get("/api/jobs?kind=track", headers=viewer).json()["jobs"][0]["id"] == running.id


def test_a_session_cancel_needs_the_csrf_token(client: TestClient) -> None:
    queued = add_job(client, JobState.RUNNING, 0.1)
    csrf = login(client)
    assert client.delete(f"/api/jobs/{queued.id}").status_code == 403
    response = client.delete(f"/api/jobs/{queued.id}", headers={"X-CSRF-Token": csrf})
    assert response.status_code == 202
    response = client.delete(f"/api/jobs/{queued.id}", headers={"X-CSRF-Token": csrf})
    assert response.status_code == 202, "cancelling twice is accepted while it stops"


def test_viewers_see_no_server_paths(client: TestClient) -> None:
    job = add_job(client, JobState.RUNNING, 0.5, name="secret.mp4")
    viewer = bearer(client.app, "viewer")  # type: ignore[arg-type]
    for seen in (
        client.get("/api/jobs", headers=viewer).json()["jobs"][0],
        client.get(f"/api/jobs/{job.id}", headers=viewer).json(),
    ):
        assert seen["params"] is None and seen["result"] is None
        assert seen["progress"]["items"][0]["name"] == "secret.mp4"
        assert "/videos" not in str(seen)
    admin = client.get(f"/api/jobs/{job.id}", headers=bearer(client.app)).json()  # type: ignore[arg-type]
    assert admin["params"]["videos"] == ["/videos/secret.mp4"]
    assert admin["progress"]["items"][0]["name"] == "/videos/secret.mp4"

    ctx_of(client.app).users.create("vera", "password-vera", "viewer")  # type: ignore[arg-type]
    login(client, "vera", "password-vera")
    html = client.get("/jobs").text
    assert "secret.mp4" in html and "/videos" not in html


def _open_files(path: Path) -> int:
    """How many of this process's file descriptors point at `path`."""
    count = 0
    for fd in Path("/proc/self/fd").iterdir():
        try:
            count += Path(os.readlink(fd)) == path
        except OSError:
            continue
    return count


def test_a_failed_build_closes_the_store(tmp_path: Path) -> None:
    database = tmp_path / "data" / "vigil.db"
    with pytest.raises(VigilError):  # the admin password file is missing: after the store opened
        make_app(tmp_path, web={"admin_password": "", "admin_password_file": tmp_path / "missing"})
    assert database.exists() and _open_files(database) == 0


def test_a_failed_start_closes_cameras_jobs_and_store(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    ctx = ctx_of(app)
    with ctx.store.db.writer.begin() as conn:  # e.g. a broken database: the jobs' start fails
        conn.execute(text("DROP TABLE jobs"))
    with pytest.raises(SQLAlchemyError), TestClient(app):
        pass
    assert ctx.cameras.closed
    assert _open_files(tmp_path / "data" / "vigil.db") == 0
    assert ctx.jobs.lock.try_acquire(), "the scheduler lock was released"
