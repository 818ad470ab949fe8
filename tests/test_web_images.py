"""Signed image URLs: expiry (with an injected clock), tampering, path traversal, headers, types."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from itsdangerous import URLSafeTimedSerializer

from tests.web_util import bearer, ctx_of, make_app
from vigil.store.repository import FaceObservation
from vigil.types import FaceEmbedding
from vigil.web.images import ImageSigner, ImageTokenError, ImageTokenExpired, _b64

KEY = "k" * 32
T = 1_800_000_000.0


def decode(content: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(content, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not an image"
    return np.asarray(image)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# ------------------------------------------------------------------------------ the signer alone
def test_tokens_expire_between_half_and_full_ttl() -> None:
    clock = Clock(T + 7)
    signer = ImageSigner(KEY, 300, clock)
    token = signer.token("2026/11/20/a.webp", thumb=True)
    ref = signer.read(token)
    assert (ref.relative, ref.thumb) == ("2026/11/20/a.webp", True)
    assert 150 <= ref.expires_at - clock.now <= 300
    clock.now = ref.expires_at - 1
    assert signer.read(token).seconds_left(clock.now) == 1
    clock.now = ref.expires_at
    with pytest.raises(ImageTokenExpired):
        signer.read(token)


def test_tokens_are_stable_within_a_step_so_browsers_can_cache() -> None:
    clock = Clock(T + 1)
    signer = ImageSigner(KEY, 300, clock)
    first = signer.url("x.webp")
    clock.now = T + 100
    assert signer.url("x.webp") == first
    assert signer.url("x.webp", thumb=True) != first and signer.url(None) is None
    clock.now = T + 151
    assert signer.url("x.webp") != first


def test_tampered_and_foreign_tokens_are_refused() -> None:
    signer = ImageSigner(KEY, 300, Clock(T))
    token = signer.token("a.webp")
    for bad in (
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),  # altered signature
        token.replace(token.split(".")[0], signer.token("b.webp").split(".")[0]),  # swapped payload
        ImageSigner("another-key-" * 3, 300, Clock(T)).token("a.webp"),
        URLSafeTimedSerializer(KEY, salt="vigil.session").dumps({"u": 1, "c": "x"}),  # a session cookie
        f"{_b64(b'no-colons')}.{signer._signature(_b64(b'no-colons'))}",  # well signed, wrong shape
        "",
        "not-a-token",
    ):
        with pytest.raises(ImageTokenError) as info:
            signer.read(bad)
        assert not isinstance(info.value, ImageTokenExpired)


# ------------------------------------------------------------------------------ the route
@pytest.fixture
def app(tmp_path: Path) -> Iterator[FastAPI]:
    yield make_app(tmp_path, web={"image_url_ttl_s": 60})


def stored_crop(app: FastAPI) -> str:
    """One sighting with a crop; returns its relative path."""
    store = ctx_of(app).store
    image = np.zeros((200, 150, 3), np.uint8)  # larger than the 96 px thumbnails
    image[:, :75] = (255, 0, 0)
    vector = np.random.default_rng(0).normal(size=128).astype(np.float32)
    done = store.observe(
        FaceObservation("cam", 1, datetime.now(UTC), FaceEmbedding(vector, "m1"), 0.6, image)
    )
    with store.db.reader.connect() as conn:
        from vigil.store.analytics import visitor_sightings

        path = visitor_sightings(conn, done.visitor_id)[0].image_path
    assert path
    return path


def signer_of(app: FastAPI, clock: Clock | None = None) -> ImageSigner:
    ctx = ctx_of(app)
    return ImageSigner(
        ctx.signing_key, ctx.settings.web.image_url_ttl_s, clock or Clock(datetime.now().timestamp())
    )


def test_valid_links_serve_the_image_with_private_cache_headers(app: FastAPI) -> None:
    relative = stored_crop(app)
    with TestClient(app) as client:
        auth = bearer(app, "viewer")
        full = client.get(str(signer_of(app).url(relative)), headers=auth)
        assert full.status_code == 200 and full.headers["content-type"] == "image/webp"
        cache = full.headers["cache-control"]
        assert cache.startswith("private, max-age=") and 30 <= int(cache.split("=")[1]) <= 60
        image = decode(full.content)
        assert image.shape == (200, 150, 3) and image[100, 20, 0] > 200 and image[100, 130, 0] < 50
        thumb = client.get(str(signer_of(app).url(relative, thumb=True)), headers=auth)
        small = decode(thumb.content)
        assert thumb.status_code == 200 and small.shape == (96, 72, 3)
        assert client.get(str(signer_of(app).url(relative))).status_code == 401  # no caller: no image


def test_expired_tampered_and_missing_links(app: FastAPI) -> None:
    relative = stored_crop(app)
    with TestClient(app) as client:
        auth = bearer(app, "viewer")
        old = signer_of(app, Clock(datetime.now().timestamp() - 61)).url(relative)
        expired = client.get(str(old), headers=auth)
        assert expired.status_code == 410 and "expired" in expired.json()["detail"]
        good = str(signer_of(app).url(relative))
        assert (
            client.get(good[:-3] + ("xyz" if not good.endswith("xyz") else "abc"), headers=auth).status_code
            == 403
        )
        other_key = ImageSigner("not-the-app-key" * 3, 60).url(relative)
        assert client.get(str(other_key), headers=auth).status_code == 403
        gone = signer_of(app).url(f"2020/01/01/{uuid.uuid4()}.webp")
        assert client.get(str(gone), headers=auth).status_code == 404


@pytest.mark.parametrize(
    "path",
    ["../../etc/passwd", "../secret_key", "/etc/passwd", "2026/../../../etc/hostname.webp",
     "/etc/ssl/../passwd.jpg", "visitors/../../secret_key"],
)  # fmt: skip
def test_signed_paths_outside_the_faces_directory_are_refused(app: FastAPI, path: str) -> None:
    """Even a correctly signed token (say, a leaked key) cannot read outside the faces directory."""
    with TestClient(app) as client:
        response = client.get(str(signer_of(app).url(path)), headers=bearer(app, "viewer"))
        assert response.status_code == 403, response.text
        assert "root:" not in response.text and "faces directory" in response.json()["detail"]


def test_only_image_files_are_served(app: FastAPI) -> None:
    faces = ctx_of(app).store.crops.root
    faces.mkdir(parents=True, exist_ok=True)
    (faces / "notes.txt").write_text("not an image")
    with TestClient(app) as client:
        response = client.get(str(signer_of(app).url("notes.txt")), headers=bearer(app, "viewer"))
        assert response.status_code == 403


def test_jpeg_crops_are_served_as_jpeg(tmp_path: Path) -> None:
    app = make_app(tmp_path, store={"crop_format": "jpeg"})
    relative = stored_crop(app)
    assert relative.endswith(".jpg")
    with TestClient(app) as client:
        response = client.get(str(signer_of(app).url(relative)), headers=bearer(app, "viewer"))
        assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
        assert response.content[:3] == b"\xff\xd8\xff"
