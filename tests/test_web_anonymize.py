"""Anonymisation from the web (issue 17, admin): an upload streamed to disk and sniffed by
content, a job from it or from a path inside the media roots, its progress on /api/jobs, the
before/after comparison and the download; oversized and non-video uploads refused."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.conftest import SHARED
from tests.web_util import bearer, make_app

CLIP = SHARED / "media" / "video" / "single_face.mp4"
ACTIVE = {"queued", "running", "cancelling"}
ONE_WORKER = {"cpu_workers": 1}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = make_app(tmp_path, shared_dir=SHARED, track=ONE_WORKER, anonymize={"faces": {"style": "solid"}})
    with TestClient(app, headers=bearer(app)) as test_client:
        yield test_client


def _wait(client: TestClient, job_id: str, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(f"/api/jobs/{job_id}").json()
        if body["state"] not in ACTIVE:
            return body
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still running after {timeout} s")


def _upload(client: TestClient, data: bytes, name: str = "clip.mp4") -> Any:
    return client.post("/api/anonymize/uploads", params={"filename": name}, content=data)


def test_upload_job_compare_and_download(client: TestClient, tmp_path: Path) -> None:
    uploaded = _upload(client, CLIP.read_bytes(), "../../my clip.mp4")
    assert uploaded.status_code == 201, uploaded.text
    body = uploaded.json()
    assert (body["frames"], body["width"], body["height"], body["name"]) == (72, 640, 360, "my_clip.mp4")
    stored = next((tmp_path / "data" / "anonymize" / "uploads" / body["id"]).iterdir())
    assert stored.read_bytes() == CLIP.read_bytes() and stored.stat().st_mode & 0o077 == 0
    job = client.post("/api/anonymize/jobs", json={"upload": body["id"], "faces": "pixelate"})
    assert job.status_code == 201, job.text
    finished = _wait(client, job.json()["id"])
    assert finished["state"] == "done", finished
    assert finished["progress"]["overall"] == 1.0 and finished["kind"] == "anonymize"
    video = client.get(f"/api/anonymize/jobs/{finished['id']}/output")
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    out = tmp_path / "out.mp4"
    out.write_bytes(video.content)
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 72
    compare = client.get(f"/api/anonymize/jobs/{finished['id']}/compare.jpg", params={"at": 0.3})
    assert compare.status_code == 200 and compare.headers["content-type"] == "image/jpeg"
    pair = cv2.imdecode(np.frombuffer(compare.content, np.uint8), cv2.IMREAD_COLOR)
    assert pair is not None
    assert pair.shape == (360, 640 * 2 + 8, 3)
    before, after = pair[:, :640].astype(int), pair[:, 648:].astype(int)
    changed = np.abs(before - after).max(axis=2) > 40
    assert 0.005 < changed.mean() < 0.3, "the face changed, not the whole picture"


def test_a_path_inside_the_media_roots_and_one_outside(client: TestClient) -> None:
    outside = client.post("/api/anonymize/jobs", json={"path": "/etc/passwd"})
    missing = client.post("/api/anonymize/jobs", json={"path": "/etc/nothing-here.mp4"})
    assert outside.status_code == missing.status_code == 422
    assert outside.json()["detail"] == missing.json()["detail"], "no file-existence oracle"
    job = client.post("/api/anonymize/jobs", json={"path": str(CLIP), "faces": "blur"})
    assert job.status_code == 201, job.text
    assert _wait(client, job.json()["id"])["state"] == "done"
    both = client.post("/api/anonymize/jobs", json={"path": str(CLIP), "upload": "0" * 32})
    assert both.status_code == 422


def test_refused_uploads(tmp_path: Path) -> None:
    app = make_app(tmp_path, anonymize={"max_upload_mb": 0.05})
    with TestClient(app, headers=bearer(app)) as client:
        assert _upload(client, CLIP.read_bytes()).status_code == 413  # 208 KB > 51 KB
        not_video = _upload(client, b"GIF89a" + bytes(2000), "fake.mp4")
        assert not_video.status_code == 422 and "not a readable video" in not_video.json()["detail"]
        assert str(tmp_path) not in not_video.json()["detail"], "no server path in the answer"
        uploads = tmp_path / "data" / "anonymize" / "uploads"
        assert not any(uploads.iterdir()), "a refused upload leaves nothing behind"
        assert client.post("/api/anonymize/jobs", json={"upload": "f" * 32}).status_code == 404
        viewer = bearer(app, "viewer")
        assert (
            client.post("/api/anonymize/uploads?filename=a.mp4", content=b"x", headers=viewer).status_code
            == 403
        )


def test_the_page_offers_every_style(client: TestClient) -> None:
    page = client.get("/anonymize")
    assert page.status_code == 200
    for style in ("blur", "pixelate", "solid", "mask", "recolor", "silhouette"):
        assert f'value="{style}"' in page.text
    assert 'id="anon-file"' in page.text and 'id="anon-path"' in page.text


def test_cancel_a_running_job(client: TestClient, tmp_path: Path) -> None:
    clip = SHARED / "media" / "video" / "expressions_640x360.mp4"
    job = client.post("/api/anonymize/jobs", json={"path": str(clip), "persons": "silhouette"})
    assert job.status_code == 201, job.text
    job_id = job.json()["id"]
    deadline = time.monotonic() + 60
    while (
        client.get(f"/api/jobs/{job_id}").json()["progress"]["overall"] <= 0 and time.monotonic() < deadline
    ):
        time.sleep(0.1)
    assert client.delete(f"/api/jobs/{job_id}").status_code == 202
    finished = _wait(client, job_id)
    assert finished["state"] == "cancelled", finished
    assert client.get(f"/api/anonymize/jobs/{job_id}/output").status_code == 404
    outputs = tmp_path / "data" / "anonymize" / "outputs"
    assert not [p for p in outputs.rglob("*") if p.is_file()], "nothing half-written stays"
