"""Batch API of the web app (admin): seed 000's STEP5 routes (chunk bounds, configuration) and
tracking jobs, which are persistent `track` jobs (also listed by /api/jobs)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import shared_file
from tests.web_util import bearer, ctx_of, make_app
from vigil.batch.settings import BatchSettings
from vigil.batch.validate import validate_tracking_file
from vigil.web.routes.step5 import GPU_UNAVAILABLE

BOUNDS = "/api/step5/chunk_bounds"
CONFIGURATION = "/api/step5/configuration"


def admin_client(app: FastAPI) -> TestClient:
    """A client of `app` with an admin's API key (start it with `with`)."""
    return TestClient(app, headers=bearer(app))


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with admin_client(make_app(tmp_path)) as test_client:
        yield test_client


def _bounds(client: TestClient) -> dict[str, Any]:
    response = client.get(BOUNDS)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


# ------------------------------------------------------------------ chunk_bounds (seed 000)
def test_chunk_bounds_success_body_is_the_seeds(client: TestClient) -> None:
    response = client.post(BOUNDS, json={"min": 100, "max": 500})
    assert response.status_code == 200
    assert response.json() == {
        "status": "success",
        "message": "Chunk bounds updated",
        "min": 100,
        "max": 500,
        "effective": {"min": 100, "max": 500},
    }
    assert _bounds(client)["effective"] == {"min": 100, "max": 500}


def test_chunk_bounds_null_resets_to_defaults(client: TestClient) -> None:
    client.post(BOUNDS, json={"min": 100, "max": 500})
    response = client.post(BOUNDS, json={"min": None, "max": None})
    assert response.status_code == 200
    assert response.json()["min"] is None and response.json()["max"] is None
    assert response.json()["effective"] == {"min": 20, "max": 400}


def test_chunk_bounds_missing_key_means_null_like_the_seed(client: TestClient) -> None:
    client.post(BOUNDS, json={"min": 100, "max": 500})
    response = client.post(BOUNDS, json={"max": 300})
    assert response.status_code == 200
    assert (response.json()["min"], response.json()["max"]) == (None, 300)
    assert response.json()["effective"] == {"min": 20, "max": 300}


def test_chunk_bounds_empty_body_resets(client: TestClient) -> None:
    client.post(BOUNDS, json={"min": 100, "max": 500})
    response = client.post(BOUNDS, content=b"")
    assert response.status_code == 200
    assert response.json()["effective"] == {"min": 20, "max": 400}


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"min": "100", "max": " 500 "}, (100, 500)),  # int(value), as the seed's _norm
        ({"min": 100.0, "max": 200.0}, (100, 200)),  # integral numbers
        ({"min": 1, "max": 1}, (1, 1)),
        ({"min": 400}, (400, None)),  # equal to the default max
    ],
)
def test_chunk_bounds_accepted_values(
    client: TestClient, payload: dict[str, Any], expected: tuple[int | None, int | None]
) -> None:
    response = client.post(BOUNDS, json=payload)
    assert response.status_code == 200, response.text
    assert (response.json()["min"], response.json()["max"]) == expected


@pytest.mark.parametrize(
    "payload",
    [
        {"min": "abc", "max": 500},
        {"min": 100, "max": "12.5"},
        {"min": 12.5},  # documented rule: non-integers -> 400 (the seed's code truncated)
        {"max": True},  # booleans are not integers
        {"min": [100]},
        {"max": {"value": 1}},
    ],
)
def test_chunk_bounds_non_integers_are_400_invalid(client: TestClient, payload: dict[str, Any]) -> None:
    client.post(BOUNDS, json={"min": 100, "max": 500})
    response = client.post(BOUNDS, json=payload)
    assert response.status_code == 400
    body = response.json()
    assert (body["status"], body["message"]) == ("error", "Paramètres invalides")
    assert "integers or null" in body["detail"]
    assert _bounds(client)["effective"] == {"min": 100, "max": 500}, "a refused request changes nothing"


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        ({"min": 0, "max": 500}, "min must be a positive integer"),
        ({"min": -5}, "min must be a positive integer"),
        ({"min": 10, "max": "-1"}, "max must be a positive integer"),
        ({"min": 500, "max": 100}, "min (500) must not exceed max (100)"),
        ({"min": 401}, "min (401) must not exceed max (400)"),  # against the default max
        ({"max": 19}, "min (20) must not exceed max (19)"),  # against the default min
        ({"min": 1, "max": 1_000_001}, "max must be at most 1000000"),
    ],
)
def test_chunk_bounds_out_of_range_is_400_min_max(
    client: TestClient, payload: dict[str, Any], detail: str
) -> None:
    response = client.post(BOUNDS, json=payload)
    assert response.status_code == 400
    body = response.json()
    assert (body["status"], body["message"]) == ("error", "Paramètres invalides (min/max)")
    assert detail in body["detail"]
    assert _bounds(client)["effective"] == {"min": 20, "max": 400}


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (b"{not json", "not valid JSON"),
        (b"[100, 500]", "must be a JSON object"),
        (b'"100"', "must be a JSON object"),
        (b'{"minimum": 100}', "unknown field(s) minimum"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_chunk_bounds_malformed_body_is_400(client: TestClient, content: bytes, detail: str) -> None:
    client.post(BOUNDS, json={"min": 100, "max": 500})
    response = client.post(BOUNDS, content=content, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["message"] == "Paramètres invalides"
    assert detail in response.json()["detail"]
    assert _bounds(client)["effective"] == {"min": 100, "max": 500}


def test_chunk_bounds_state_is_per_app(tmp_path: Path) -> None:
    with (
        admin_client(make_app(tmp_path / "a")) as first,
        admin_client(make_app(tmp_path / "b")) as second,
    ):
        assert first.post(BOUNDS, json={"min": 50, "max": 60}).status_code == 200
        assert _bounds(second)["effective"] == {"min": 20, "max": 400}


# ------------------------------------------------------------------ configuration
def test_configuration_defaults_come_from_the_batch_settings(client: TestClient) -> None:
    body = client.get(CONFIGURATION).json()
    assert body["use_gpu"] is False
    assert body["cpu_workers"] == BatchSettings().cpu_workers
    assert body["warnings"] == []


def test_configuration_seed_example_cpu_only(client: TestClient) -> None:
    response = client.post(CONFIGURATION, json={"use_gpu": False, "cpu_workers": 1})
    assert response.status_code == 200
    assert response.json() == {
        "status": "success",
        "message": "Configuration updated",
        "use_gpu": False,
        "cpu_workers": 1,
        "requested": {"use_gpu": False, "cpu_workers": 1},
        "warnings": [],
    }
    assert client.get(CONFIGURATION).json()["cpu_workers"] == 1


def test_configuration_gpu_request_is_reported_but_effective_cpu(client: TestClient) -> None:
    body = client.post(CONFIGURATION, json={"use_gpu": True}).json()
    assert body["use_gpu"] is False
    assert body["requested"]["use_gpu"] is True
    assert GPU_UNAVAILABLE in body["warnings"]


def test_configuration_more_workers_than_cores_warns(client: TestClient) -> None:
    body = client.post(CONFIGURATION, json={"cpu_workers": 256}).json()
    assert body["cpu_workers"] == 256
    assert any("exceeds" in warning for warning in body["warnings"])


def test_configuration_omitted_fields_keep_their_value(client: TestClient) -> None:
    client.post(CONFIGURATION, json={"use_gpu": True, "cpu_workers": 3})
    body = client.post(CONFIGURATION, json={"cpu_workers": 1}).json()
    assert body["requested"] == {"use_gpu": True, "cpu_workers": 1}


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        ({"use_gpu": "false"}, "use_gpu must be true or false"),
        ({"use_gpu": 0}, "use_gpu must be true or false"),
        ({"use_gpu": None}, "use_gpu must be true or false"),
        ({"cpu_workers": 0}, "cpu_workers must be an integer from 1 to 256"),
        ({"cpu_workers": 257}, "cpu_workers must be an integer from 1 to 256"),
        ({"cpu_workers": "15"}, "cpu_workers must be an integer"),
        ({"cpu_workers": 2.0}, "cpu_workers must be an integer"),
        ({"cpu_workers": True}, "cpu_workers must be an integer"),
        ({"gpu": True}, "unknown field(s) gpu"),
    ],
)
def test_configuration_invalid_is_400(client: TestClient, payload: dict[str, Any], detail: str) -> None:
    before = client.get(CONFIGURATION).json()
    response = client.post(CONFIGURATION, json=payload)
    assert response.status_code == 400
    assert (response.json()["status"], response.json()["message"]) == ("error", "Paramètres invalides")
    assert detail in response.json()["detail"]
    assert client.get(CONFIGURATION).json() == before


def test_configuration_malformed_json_is_400(client: TestClient) -> None:
    response = client.post(CONFIGURATION, content=b"{", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["detail"]


def test_step5_defaults_come_from_the_batch_settings(tmp_path: Path) -> None:
    app = make_app(tmp_path, track={"chunk_min": 30, "chunk_max": 90, "cpu_workers": 4})
    with admin_client(app) as client:
        assert _bounds(client)["effective"] == {"min": 30, "max": 90}
        assert client.get(CONFIGURATION).json()["cpu_workers"] == 4
        client.post(BOUNDS, json={"min": 40, "max": 50})
        # null goes back to the settings' bounds, not the built-in 20..400
        reset = client.post(BOUNDS, json={"min": None, "max": 50})
        assert reset.json()["effective"] == {"min": 30, "max": 50}
        response = client.post(BOUNDS, json={"min": 91})
        assert response.status_code == 400
        assert "min (91) must not exceed max (90)" in response.json()["detail"]


def test_step5_env_aliases_seed_the_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TRACKING_CHUNK_MIN", "25")
    monkeypatch.setenv("TRACKING_CHUNK_MAX", "250")
    monkeypatch.setenv("TRACKING_CPU_WORKERS", "3")
    with admin_client(make_app(tmp_path)) as client:
        assert _bounds(client)["effective"] == {"min": 25, "max": 250}
        assert client.get(CONFIGURATION).json()["cpu_workers"] == 3


def test_openapi_lists_the_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {BOUNDS, CONFIGURATION} <= set(paths)


# ------------------------------------------------------------------ tracking jobs
JOBS = "/api/track/jobs"
ACTIVE = {"queued", "running", "cancelling"}


def _wait(client: TestClient, job_id: str, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(f"{JOBS}/{job_id}").json()
        if body["state"] not in ACTIVE:
            return body
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {body['state']} after {timeout} s")


@pytest.fixture
def job_track(models_dir: Path) -> dict[str, Any]:
    """The `track` settings: one worker (in-process), these tests are about the API."""
    return {"cpu_workers": 1, "models_dir": models_dir}


@pytest.fixture
def job_client(job_track: dict[str, Any], tmp_path: Path) -> Iterator[TestClient]:
    with admin_client(make_app(tmp_path, track=job_track)) as test_client:
        yield test_client


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """single_face.mp4 (72 frames) linked into a folder of its own, so outputs land in tmp_path."""
    folder = tmp_path / "videos"
    folder.mkdir()
    link = folder / "single_face.mp4"
    link.symlink_to(shared_file("media/video/single_face.mp4"))
    return link


def test_job_lifecycle_tracks_a_real_clip(
    job_track: dict[str, Any], clip: Path, tmp_path: Path, db_url: str
) -> None:
    """On both backends: the job runs, its record (progress, result) is read back from the database."""
    with admin_client(make_app(tmp_path, db_url, track=job_track)) as job_client:
        run_a_real_clip(job_client, clip, tmp_path)


def run_a_real_clip(job_client: TestClient, clip: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    response = job_client.post(JOBS, json={"paths": [str(clip.parent)], "out_dir": str(out_dir)})
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["location"] == f"{JOBS}/{created['id']}"
    assert created["state"] in ACTIVE
    assert [video["video"] for video in created["videos"]] == [str(clip)]
    assert created["options"]["out_dir"] == str(out_dir) and created["options"]["workers"] == 1

    final = _wait(job_client, created["id"])
    assert final["state"] == "done", final
    assert final["overall"] == 1.0
    assert final["errors"] == []
    assert final["started_at"] is not None and final["finished_at"] is not None
    (video,) = final["videos"]
    assert video["state"] == "done"
    assert video["total_frames"] == 72 and video["frames_done"] == 72
    assert video["chunks_total"] >= 1 and video["chunks_done"] == video["chunks_total"]
    assert final["report"] == {"done": [str(clip)], "skipped": [], "failed": {}, "partial": {}}
    output = out_dir / "single_face_tracking.json"
    assert validate_tracking_file(output) == []
    assert len(json.loads(output.read_text())["frames"]) == 72

    # Listed, and a second run skips the finished video unless forced.
    assert [job["id"] for job in job_client.get(JOBS).json()["jobs"]] == [created["id"]]
    again = _wait(
        job_client, job_client.post(JOBS, json={"paths": [str(clip)], "out_dir": str(out_dir)}).json()["id"]
    )
    assert again["state"] == "done"
    assert again["videos"][0]["state"] == "skipped"
    assert again["report"]["skipped"] == [str(clip)]

    # A finished job cannot be cancelled.
    response = job_client.delete(f"{JOBS}/{created['id']}")
    assert response.status_code == 409
    assert "already finished (done)" in response.json()["detail"]

    # The generic listing shows every kind, with the typed progress.
    (listed, _) = job_client.get("/api/jobs").json()["jobs"]
    assert (listed["id"], listed["kind"], listed["state"]) == (created["id"], "track", "done")
    assert listed["summary"] == "1 video: single_face.mp4" and listed["title"] == "Batch tracking"
    assert listed["progress"]["overall"] == 1.0
    assert listed["progress"]["items"][0]["units_done"] == 72


def test_job_cancel_stops_a_running_job(job_client: TestClient, tmp_path: Path) -> None:
    expressions = shared_file("media/video/expressions_640x360.mp4")  # 472 frames
    body = {"paths": [str(expressions)], "out_dir": str(tmp_path), "chunk_size": 10, "force": True}
    job_id = job_client.post(JOBS, json=body).json()["id"]
    # A second job waits for the first (one job at a time) and is cancelled before it starts.
    queued_id = job_client.post(JOBS, json=body).json()["id"]
    assert job_client.get(f"{JOBS}/{queued_id}").json()["state"] == "queued"

    response = job_client.delete(f"{JOBS}/{queued_id}")
    assert response.status_code == 202
    # Persistent jobs: a queued job is cancelled at once (it used to pass through `cancelling`).
    assert response.json()["state"] == "cancelled"
    queued = _wait(job_client, queued_id, timeout=10)
    assert queued["state"] == "cancelled" and queued["started_at"] is None

    response = job_client.delete(f"{JOBS}/{job_id}")
    assert response.status_code == 202
    cancelled = _wait(job_client, job_id, timeout=60)
    assert cancelled["state"] == "cancelled", cancelled
    assert cancelled["started_at"] is not None
    assert cancelled["videos"][0]["state"] == "cancelled"
    assert cancelled["errors"] == [] and cancelled["report"]["done"] == []
    assert cancelled["overall"] < 1.0
    assert not (tmp_path / "expressions_640x360_tracking.json").exists()
    assert job_client.delete(f"{JOBS}/{job_id}").status_code == 409


def test_job_with_a_corrupt_video_reports_it_and_finishes_the_others(
    job_client: TestClient, clip: Path
) -> None:
    broken = clip.parent / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
    final = _wait(job_client, job_client.post(JOBS, json={"paths": [str(clip.parent)]}).json()["id"])
    assert final["state"] == "failed"
    states = {Path(video["video"]).name: video["state"] for video in final["videos"]}
    assert states == {"broken.mp4": "failed", "single_face.mp4": "done"}
    assert [Path(error["video"]).name for error in final["errors"]] == ["broken.mp4"]
    assert final["errors"][0]["error"]
    assert list(final["report"]["failed"]) == [str(broken)]
    assert (clip.parent / "single_face_tracking.json").is_file()


def test_job_options_default_to_the_step5_routes(job_client: TestClient, clip: Path, tmp_path: Path) -> None:
    job_client.post(CONFIGURATION, json={"cpu_workers": 1})
    job_client.post(BOUNDS, json={"min": 30, "max": 60})
    created = job_client.post(JOBS, json={"paths": [str(clip)], "out_dir": str(tmp_path)}).json()
    assert created["options"] == {
        "engine": "auto",
        "workers": 1,
        "chunk_size": None,
        "chunk_min": 30,
        "chunk_max": 60,
        "out_dir": str(tmp_path),
        "force": False,
    }
    overridden = job_client.post(
        JOBS,
        json={"paths": [str(clip)], "out_dir": str(tmp_path), "engine": "opencv_haar", "chunk_max": 45},
    ).json()
    assert (overridden["options"]["engine"], overridden["options"]["chunk_max"]) == ("haar", 45)
    for job_id in (created["id"], overridden["id"]):
        job_client.delete(f"{JOBS}/{job_id}")
        assert _wait(job_client, job_id)["state"] in {"cancelled", "done"}


def test_a_job_stopped_by_a_restart_resumes_and_finishes(job_track: dict[str, Any], tmp_path: Path) -> None:
    """Persistent jobs change this contract: stopping the server used to cancel a running job;
    now the job stops, goes back to `queued`, and the next start runs it to the end."""
    expressions = shared_file("media/video/expressions_640x360.mp4")  # 472 frames
    out_dir = tmp_path / "out"
    body = {"paths": [str(expressions)], "out_dir": str(out_dir), "chunk_size": 10}
    with admin_client(make_app(tmp_path, track=job_track)) as client:
        job_id = client.post(JOBS, json=body).json()["id"]
        deadline = time.monotonic() + 60
        while client.get(f"{JOBS}/{job_id}").json()["videos"][0]["frames_done"] == 0:
            assert time.monotonic() < deadline, "the job never made progress"
            time.sleep(0.05)
    restarted = make_app(tmp_path, track=job_track)
    stopped = ctx_of(restarted).jobs.get(job_id)
    assert stopped.state == "queued" and stopped.started_at is None
    assert [(item.state, item.units_done) for item in stopped.progress.items] == [("pending", 0)]
    assert not (out_dir / "expressions_640x360_tracking.json").exists(), "outputs are atomic"
    with admin_client(restarted) as client:
        final = _wait(client, job_id)
    assert final["state"] == "done" and final["report"]["done"] == [str(expressions)]
    output = out_dir / "expressions_640x360_tracking.json"
    assert validate_tracking_file(output) == []
    assert len(json.loads(output.read_text())["frames"]) == 472


@pytest.mark.parametrize("method", ["get", "delete"])
def test_unknown_job_is_404(client: TestClient, method: str) -> None:
    response = client.request(method.upper(), f"{JOBS}/does-not-exist")
    assert response.status_code == 404
    assert response.json() == {"detail": "no tracking job with id does-not-exist"}


def test_job_missing_or_unusable_paths_are_400(job_client: TestClient, clip: Path, tmp_path: Path) -> None:
    client = job_client
    missing = tmp_path / "nope.mp4"
    response = client.post(JOBS, json={"paths": [str(clip), str(missing)]})
    assert response.status_code == 400
    assert str(missing) in response.json()["detail"] and "does not exist" in response.json()["detail"]

    text = tmp_path / "notes.txt"
    text.write_text("not a video")
    response = client.post(JOBS, json={"paths": [str(text)]})
    assert response.status_code == 400
    assert "is not a video file" in response.json()["detail"]

    empty = tmp_path / "empty"
    empty.mkdir()
    response = client.post(JOBS, json={"paths": [str(empty)]})
    assert response.status_code == 400
    assert "no video files" in response.json()["detail"]

    response = client.post(JOBS, json={"paths": [str(clip)], "out_dir": str(text)})
    assert response.status_code == 400
    assert "out_dir" in response.json()["detail"]

    response = client.post(JOBS, json={"paths": ["x" * 5000]})
    assert response.status_code == 400
    assert "File name too long" in response.json()["detail"]

    twin = tmp_path / "other"
    twin.mkdir()
    (twin / "single_face.mp4").symlink_to(shared_file("media/video/no_face.mp4"))
    response = client.post(JOBS, json={"paths": [str(clip), str(twin)], "out_dir": str(tmp_path / "o")})
    assert response.status_code == 400
    assert "would both write" in response.json()["detail"]
    assert client.get(JOBS).json() == {"jobs": []}, "no job starts on a refused request"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "paths"),
        ({"paths": []}, "paths"),
        ({"paths": "/tmp/a.mp4"}, "paths"),
        ({"paths": [""]}, None),
        ({"paths": ["a\0b"]}, None),
        ({"paths": ["/x.mp4"], "out_dir": "o\0"}, None),
        ({"paths": ["/x.mp4"], "workers": "2"}, "workers"),
        ({"paths": ["/x.mp4"], "workers": 0}, "workers"),
        ({"paths": ["/x.mp4"], "chunk_size": -1}, "chunk_size"),
        ({"paths": ["/x.mp4"], "chunk_min": 0}, "chunk_min"),
        ({"paths": ["/x.mp4"], "chunk_min": 50, "chunk_max": 10}, None),
        ({"paths": ["/x.mp4"], "force": "yes"}, "force"),
        ({"paths": ["/x.mp4"], "workerz": 2}, "workerz"),
    ],
)
def test_job_malformed_body_is_422(client: TestClient, body: dict[str, Any], field: str | None) -> None:
    response = client.post(JOBS, json=body)
    assert response.status_code == 422
    problems = response.json()["detail"]
    assert problems and all(problem["msg"] for problem in problems)
    if field is not None:
        assert any(field in problem["loc"] for problem in problems), problems


def test_job_invalid_settings_are_422_with_the_request_field(client: TestClient, clip: Path) -> None:
    response = client.post(JOBS, json={"paths": [str(clip)], "engine": "nope"})
    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["body", "engine"]
    assert "yunet" in problem["msg"]

    # Bounds set through /api/step5 combine with the request's: the pair must still be valid.
    client.post(BOUNDS, json={"min": 300, "max": 400})
    response = client.post(JOBS, json={"paths": [str(clip)], "chunk_max": 100})
    assert response.status_code == 422
    assert "chunk_min (300) must not exceed chunk_max (100)" in response.json()["detail"][0]["msg"]
    assert client.get(JOBS).json() == {"jobs": []}


def test_job_engine_that_cannot_run_here_is_400(job_client: TestClient, clip: Path) -> None:
    response = job_client.post(JOBS, json={"paths": [str(clip)], "engine": "insightface"})
    assert response.status_code == 400
    assert "engine 'insightface' cannot run" in response.json()["detail"]
    assert job_client.get(JOBS).json() == {"jobs": []}


def test_openapi_lists_the_job_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"post", "get"} <= set(paths[JOBS])
    assert {"get", "delete"} <= set(paths[JOBS + "/{job_id}"])


def test_job_queue_is_bounded_and_old_finished_jobs_are_forgotten(
    job_track: dict[str, Any], tmp_path: Path
) -> None:
    expressions = shared_file("media/video/expressions_640x360.mp4")  # long enough to stay running
    app = make_app(tmp_path, track=job_track, jobs={"max_active": 2, "keep_finished": 1})
    with admin_client(app) as client:
        body = {"paths": [str(expressions)], "out_dir": str(tmp_path), "chunk_size": 10, "force": True}
        first, second = (client.post(JOBS, json=body).json()["id"] for _ in range(2))
        refused = client.post(JOBS, json=body)
        assert refused.status_code == 429 and "limit 2" in refused.json()["detail"]
        assert refused.headers["retry-after"] == "30"
        for job_id in (second, first):
            client.delete(f"{JOBS}/{job_id}")
            _wait(client, job_id, timeout=60)
        third = client.post(JOBS, json=body).json()["id"]  # room again; one finished job is kept
        listed = [job["id"] for job in client.get(JOBS).json()["jobs"]]
        assert listed == [second, third]  # the oldest finished job (by submission) was dropped
        client.delete(f"{JOBS}/{third}")
