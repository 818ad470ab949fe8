"""An alert's snapshot over the API (issue 15): the frame the face was seen in with its box in red,
behind a signed URL in the alert (REST and the live streams) that operators may open and viewers may
not; erased with the person."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.web_util import bearer, ctx_of, make_app
from vigil.live.events import FaceEmbedded, SourceFrame
from vigil.types import FaceEmbedding
from vigil.watchlist.repository import NewReference

MODEL = "dlib_resnet_v1"
BOX = (400, 150, 520, 300)


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return v / np.linalg.norm(v)


def decode(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a JPEG"
    return np.asarray(image)


def red(image: np.ndarray) -> np.ndarray:
    b, g, r = (image[:, :, i].astype(int) for i in range(3))
    return np.asarray((r > 180) & (g < 90) & (b < 90))


@pytest.fixture
def app(tmp_path: Path) -> Iterator[FastAPI]:
    app = make_app(tmp_path)
    with TestClient(app):
        yield app


def test_operators_open_the_snapshot_viewers_get_403_and_it_goes_with_the_person(app: FastAPI) -> None:
    host = ctx_of(app).watchlist
    client = TestClient(app)
    keys = {role: bearer(app, role) for role in ("admin", "operator", "viewer")}
    lin = host.people.add_person(
        "Lin", [NewReference(unit(1), MODEL, np.full((96, 80, 3), 80, np.uint8), 0.9, "photo")]
    )
    host.monitor_for(MODEL).watchlist_changed()
    frame = np.full((720, 1280, 3), 60, np.uint8)
    event = FaceEmbedded(
        "door", 7, datetime.now(UTC).timestamp(), 1.0, quality=0.9,
        embedding=FaceEmbedding(unit(1), MODEL), crop=np.full((96, 80, 3), 100, np.uint8),
        source=SourceFrame(frame, np.array(BOX, np.float32)),
    )  # fmt: skip
    with client.websocket_connect("/api/alerts/ws", headers=keys["operator"]) as socket:
        host.monitor_for(MODEL).handle(event)  # as a camera's recognition thread does
        pushed = socket.receive_json()["alert"]
    assert pushed["snapshot_url"].startswith("/api/watchlist/images/") and pushed["snapshot_thumb_url"]
    alert = client.get(f"/api/alerts/{pushed['id']}", headers=keys["operator"]).json()
    answer = client.get(alert["snapshot_url"], headers=keys["operator"])
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/jpeg"
    image = decode(answer.content)
    assert image.shape == (720, 1280, 3)
    x1, y1, x2, y2 = BOX
    assert red(image)[y1 + 5 : y2 - 5, x1 - 1 : x1 + 2].any(axis=1).all()  # the box, in red
    assert red(image)[y1 - 1 : y1 + 2, x1 + 5 : x2 - 5].any(axis=0).all()
    assert not red(image)[y1 + 6 : y2 - 6, x1 + 6 : x2 - 6].any()  # an outline
    thumb = client.get(alert["snapshot_thumb_url"], headers=keys["operator"])
    assert thumb.status_code == 200
    assert decode(thumb.content).shape[1] == 320
    assert client.get(alert["snapshot_url"], headers=keys["viewer"]).status_code == 403
    assert client.get(f"/api/alerts/{pushed['id']}", headers=keys["viewer"]).status_code == 403

    removed = client.delete(f"/api/watchlist/{lin.id}", headers=keys["admin"])
    assert (
        removed.status_code == 200 and removed.json()["files_removed"] == 6
    )  # ref, crop, snapshot (+thumbs)
    assert client.get(alert["snapshot_url"], headers=keys["operator"]).status_code == 404
    assert not list((host.people.crops.root).rglob("*.jpg"))
