"""Live view: green boxes drawn on the pipeline's latest result, one JPEG encode shared by every
viewer, frame.jpg and the MJPEG stream (over a real HTTP server), the /live page, and cameras
started and stopped with the server; watchlisted faces in red with the name for operators only."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from tests.conftest import SHARED
from tests.web_util import ServedApp, bearer, ctx_of, login, make_app
from vigil.live.analyse import LatestResult
from vigil.store.schema import Visitor
from vigil.types import Detections, Frame
from vigil.watchlist.monitor import TrackAlert
from vigil.watchlist.service import Photo
from vigil.web.cameras import CameraManager
from vigil.web.live import (
    AMBER,
    BOUNDARY,
    GREEN,
    RED,
    LiveEncoder,
    VisitorNames,
    WatchlistMark,
    draw_faces,
    label_text,
    mjpeg_part,
)


def _decode(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a JPEG"
    return np.asarray(image)


def _green(image: np.ndarray) -> np.ndarray:
    """Pixels that are (after JPEG) still clearly pure green."""
    b, g, r = (image[:, :, i].astype(int) for i in range(3))
    return np.asarray((g > 180) & (b < 90) & (r < 90))


def _red(image: np.ndarray) -> np.ndarray:
    """Pixels that are (after JPEG) still clearly red."""
    b, g, r = (image[:, :, i].astype(int) for i in range(3))
    return np.asarray((r > 180) & (g < 90) & (b < 90))


def _amber(image: np.ndarray) -> np.ndarray:
    b, g, r = (image[:, :, i].astype(int) for i in range(3))
    return np.asarray((r > 200) & (g > 110) & (g < 220) & (b < 90))


def _latest(image: np.ndarray, boxes: list[list[float]], tracks: list[int]) -> LatestResult:
    detections = Detections(
        np.array(boxes, np.float32), np.ones(len(boxes), np.float32), track_id=np.array(tracks)
    )
    return LatestResult(Frame(image=image, pts=0.0, wall_ts=time.time(), index=0), detections)


def _wait(read: Callable[[], Any], timeout_s: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = read()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


# ------------------------------------------------------------------ drawing and the shared encoder
def test_boxes_are_green_two_pixels_and_labelled_without_touching_the_frame() -> None:
    image = np.full((200, 300, 3), 90, np.uint8)
    latest = _latest(image, [[50, 60, 150, 170]], [7])
    drawn = draw_faces(image, latest.detections, lambda track: f"#{track}")
    assert (image == 90).all()  # the pipeline's frame is never modified
    assert tuple(drawn[60, 100]) == GREEN and tuple(drawn[61, 100]) == GREEN  # top edge, 2 px
    assert tuple(drawn[62, 100]) == (90, 90, 90) and tuple(drawn[115, 100]) == (90, 90, 90)  # hollow box
    assert tuple(drawn[115, 50]) == GREEN and tuple(drawn[115, 150]) == GREEN
    longer = draw_faces(image, latest.detections, lambda track: f"#{track} 0b6c12ab")
    label_area = (slice(40, 58), slice(50, 150))
    assert (drawn[label_area] != 90).any()  # "#7" above the box
    assert (longer[label_area] != drawn[label_area]).any()


def test_watchlisted_faces_are_drawn_red_or_amber_with_the_name() -> None:
    image = np.full((200, 400, 3), 90, np.uint8)
    latest = _latest(image, [[50, 60, 150, 170], [250, 60, 350, 170]], [7, 8])
    marks = {7: WatchlistMark("Ada", "match"), 8: WatchlistMark("Bob", "probable")}
    drawn = draw_faces(image, latest.detections, lambda track: f"#{track}", marks=marks)
    assert (image == 90).all()
    assert tuple(drawn[60, 100]) == RED and tuple(drawn[62, 100]) == RED  # 3 px: stands out
    assert tuple(drawn[60, 300]) == AMBER
    assert (drawn[100:110, 100] == 90).all()  # still an outline
    assert (marks[7].label(7), marks[8].label(8)) == ("#7 Ada", "#8 Bob?")
    plain = draw_faces(image, latest.detections, lambda track: f"#{track}")
    label_area = (slice(40, 58), slice(50, 150))
    assert (drawn[label_area] != plain[label_area]).any()  # the name, not the visitor label
    assert tuple(plain[60, 100]) == GREEN


def test_labels_name_the_visitor_when_known() -> None:
    assert label_text(7, None) == "#7"
    assert label_text(7, "0b6c12ab-9f00") == "#7 0b6c12ab"
    assert label_text(7, "0b6c12ab-9f00", "Hélène") == "#7 Helene"  # OpenCV draws ASCII only
    asked: list[list[str]] = []

    def lookup(ids: list[str]) -> dict[str, str | None]:
        asked.append(ids)
        return {"a": "Alice"}

    names = VisitorNames(lookup, ttl_s=60)
    assert names.names(["a", "b"]) == {"a": "Alice", "b": None}
    assert names.names(["a", "b"]) == {"a": "Alice", "b": None}
    assert asked == [["a", "b"]]  # the second call is served from the cache


def test_one_encode_per_analysed_frame_whatever_the_number_of_viewers() -> None:
    encoder = LiveEncoder(quality=70)
    first = _latest(np.zeros((360, 640, 3), np.uint8), [[10, 10, 60, 60]], [1])
    pictures: list[Any] = []
    viewers = [
        threading.Thread(target=lambda: pictures.append(encoder.picture(1, first, lambda t: f"#{t}")))
        for _ in range(8)
    ]
    for viewer in viewers:
        viewer.start()
    for viewer in viewers:
        viewer.join()
    assert encoder.encodes == 1 and len({id(p) for p in pictures}) == 1
    assert encoder.cached(1, first) is pictures[0]
    second = _latest(np.zeros((360, 640, 3), np.uint8), [], [])
    assert encoder.cached(1, second) is None
    newer = encoder.picture(1, second, lambda t: f"#{t}")
    assert newer.seq > pictures[0].seq and encoder.encodes == 2
    assert encoder.picture(2, first, lambda t: f"#{t}").seq > newer.seq  # cameras are cached apart
    large = _latest(np.zeros((1080, 1920, 3), np.uint8), [[960, 540, 1200, 800]], [3])
    small = _decode(encoder.picture(3, large, lambda t: f"#{t}").jpeg)
    assert small.shape == (720, 1280, 3)  # downscaled before encoding, boxes scaled with it
    assert _green(small)[360, 700:780].all()


def test_operators_share_the_plain_picture_unless_a_watchlisted_face_is_in_it() -> None:
    encoder = LiveEncoder(quality=80)
    latest = _latest(np.full((360, 640, 3), 90, np.uint8), [[100, 100, 200, 220]], [4])
    plain = encoder.picture(1, latest, lambda t: f"#{t}")
    assert encoder.picture(1, latest, lambda t: f"#{t}", {}) is plain and encoder.encodes == 1
    marked = encoder.picture(1, latest, lambda t: f"#{t}", {4: WatchlistMark("Ada", "match")})
    assert encoder.encodes == 2 and marked.seq > plain.seq  # one more encode, for operators only
    assert encoder.cached(1, latest) is plain and encoder.cached(1, latest, {4: WatchlistMark("A", "match")})
    assert _red(_decode(marked.jpeg))[100, 120:180].all() and not _red(_decode(plain.jpeg)).any()
    encoder.forget(1)
    assert (
        encoder.cached(1, latest) is None
        and encoder.cached(1, latest, {4: WatchlistMark("A", "match")}) is None
    )


def test_mjpeg_part_framing() -> None:
    part = mjpeg_part(b"\xff\xd8jpeg\xff\xd9")
    assert part.startswith(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: 8\r\n\r\n".encode())
    assert part.endswith(b"\xff\xd8jpeg\xff\xd9\r\n")


# ------------------------------------------------------------------ with a real camera
@pytest.fixture
def live_app(tmp_path: Path, models_dir: Path) -> FastAPI:
    return make_app(
        tmp_path, shared_dir=models_dir.parent, runtime={"embed_processes": 0}, web={"live_fps": 10.0}
    )


def _manager(app: FastAPI) -> CameraManager:
    manager = ctx_of(app).cameras
    assert manager is not None
    return manager


def test_frame_jpg_shows_green_boxes_where_the_faces_are(live_app: FastAPI, hamilton: Path) -> None:
    with TestClient(live_app) as client:
        admin = bearer(live_app)
        camera = client.post("/api/cameras", json={"url": str(hamilton), "loop": True}, headers=admin).json()
        cid, manager = camera["id"], _manager(live_app)

        def consistent_picture() -> tuple[LatestResult, np.ndarray] | None:
            """A frame.jpg answer together with the analysed result it was drawn from."""
            latest = manager.latest(cid)
            if latest is None or len(latest.detections) == 0:
                return None
            answer = client.get(f"/api/cameras/{cid}/frame.jpg", headers=admin)
            if answer.status_code != 200 or manager.latest(cid) is not latest:
                return None
            return latest, _decode(answer.content)

        latest, image = _wait(consistent_picture)
        green = _green(image)
        assert image.shape == latest.frame.image.shape
        for x1, y1, x2, y2 in latest.detections.xyxy.round().astype(int):
            left_edge = green[y1 + 2 : y2 - 1, max(0, x1 - 1) : x1 + 2].any(axis=1)
            assert left_edge.mean() > 0.8, "each face has a green box"
            inside = green[y1 + 4 : y2 - 3, x1 + 4 : x2 - 3]
            assert inside.mean() < 0.2, "boxes are outlines, the face stays visible"
        raw = _decode(client.get(f"/api/cameras/{cid}/snapshot.jpg", headers=admin).content)
        assert _green(raw).sum() < green.sum() / 10  # the snapshot has no overlay
        counters = manager.runtime(cid).counters
        assert counters is not None and manager.live.encodes <= counters.frames_detected + 1

        # Visitors the store recognised are labelled with the name operators gave them.
        events = ctx_of(live_app).events
        embedded = _wait(lambda: [e for e in list(events.recent) if e.get("visitor_id")])[0]
        assert events.visitor_of(camera["name"], embedded["track_id"]) in (embedded["visitor_id"], None)
        with ctx_of(live_app).store.db.writer.begin() as conn:
            conn.execute(
                update(Visitor).where(Visitor.id == uuid.UUID(embedded["visitor_id"])).values(name="Lin")
            )
        # (labels ask through a 10 s cache: a new name shows within 10 s)
        assert manager.lookup_visitor_names([embedded["visitor_id"], "junk"]) == {
            embedded["visitor_id"]: "Lin"
        }

        client.post(f"/api/cameras/{cid}/stop", headers=admin)
        stopped = client.get(f"/api/cameras/{cid}/frame.jpg", headers=admin)
        assert stopped.status_code == 409 and "not running" in stopped.json()["detail"]
        assert client.get("/api/cameras/424242/frame.jpg", headers=admin).status_code == 404


def test_frame_jpg_of_a_video_without_faces_has_no_green(live_app: FastAPI) -> None:
    from tests.conftest import shared_file

    no_face = shared_file("media/video/no_face.mp4")
    with TestClient(live_app) as client:
        admin = bearer(live_app)
        cid = client.post("/api/cameras", json={"url": str(no_face), "loop": True}, headers=admin).json()[
            "id"
        ]
        answer = _wait(
            lambda: (r := client.get(f"/api/cameras/{cid}/frame.jpg", headers=admin)).status_code == 200 and r
        )
        assert _green(_decode(answer.content)).sum() < 20


def _parts(response: httpx.Response, count: int) -> Iterator[bytes]:
    """The JPEG payloads of the first `count` MJPEG parts."""
    buffer, seen = b"", 0
    for chunk in response.iter_bytes():
        buffer += chunk
        while seen < count:
            head_end = buffer.find(b"\r\n\r\n")
            if head_end < 0:
                break
            head = buffer[:head_end].decode("ascii")
            assert head.startswith(f"--{BOUNDARY}") and "Content-Type: image/jpeg" in head
            length = int(head.split("Content-Length: ")[1].split("\r\n")[0])
            if len(buffer) < head_end + 4 + length + 2:
                break
            yield buffer[head_end + 4 : head_end + 4 + length]
            buffer, seen = buffer[head_end + 4 + length + 2 :], seen + 1
        if seen >= count:
            return


def test_mjpeg_stream_sends_new_pictures_at_a_capped_rate(live_app: FastAPI, hamilton: Path) -> None:
    with (
        ServedApp(live_app) as base,
        httpx.Client(base_url=base, headers=bearer(live_app), timeout=20) as http,
    ):
        cid = http.post("/api/cameras", json={"url": str(hamilton), "loop": True}).json()["id"]
        assert http.get(f"/api/cameras/{cid}/live.mjpg", headers={"Authorization": ""}).status_code == 401
        manager = _manager(live_app)
        _wait(lambda: manager.latest(cid))
        started = time.monotonic()
        with http.stream("GET", f"/api/cameras/{cid}/live.mjpg") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("multipart/x-mixed-replace")
            pictures = [_decode(jpeg) for jpeg in _parts(response, 4)]
        elapsed = time.monotonic() - started
        assert all(p.shape == (360, 640, 3) for p in pictures)
        assert elapsed >= 3 / 10 - 0.05  # at most live_fps=10 parts per second
        assert sum(int(_green(p).sum()) for p in pictures) > 0  # the stream carries the boxes
        # Leaving the server (__exit__) proves the closed stream ended: uvicorn waits for open ones.


def test_mjpeg_of_a_stopped_camera_shows_a_placeholder_and_ends_with_the_server(
    live_app: FastAPI, hamilton: Path
) -> None:
    with TestClient(live_app) as client:
        admin = bearer(live_app)
        cid = client.post(
            "/api/cameras", json={"url": str(hamilton), "enabled": False}, headers=admin
        ).json()["id"]
        manager = _manager(live_app)
        # TestClient reads a stream to its end: the manager closing (server shutdown) must end it.
        threading.Timer(1.0, manager.close).start()
        body = client.get(f"/api/cameras/{cid}/live.mjpg", headers=admin).content
    assert body.count(f"--{BOUNDARY}".encode()) == 1  # one placeholder, not repeated while unchanged
    jpeg = body.split(b"\r\n\r\n", 1)[1].rsplit(b"\r\n", 1)[0]
    assert _decode(jpeg).shape == (360, 640, 3)


def test_live_page_lists_cameras_with_their_stream(tmp_path: Path, hamilton: Path) -> None:
    app = make_app(tmp_path)
    with TestClient(app) as client:
        login(client)
        admin = bearer(app)
        ids = [
            client.post("/api/cameras", json={"url": str(hamilton), "enabled": False}, headers=admin).json()[
                "id"
            ]
            for _ in range(2)
        ]
        page = client.get("/live").text
        assert 'data-mode="mjpeg"' in page and "live-empty" not in page
        for cid in ids:
            assert f'id="live-img-{cid}"' in page and f'src="/api/cameras/{cid}/live.mjpg"' in page
        for _ in range(3):  # 5 cameras: MJPEG would use up the browser's connections
            client.post("/api/cameras", json={"url": str(hamilton), "enabled": False}, headers=admin)
        page = client.get("/live").text
        assert 'data-mode="refresh"' in page and f'data-src="/api/cameras/{ids[0]}/frame.jpg"' in page
        client.cookies.set("vigil_lang", "fr")
        assert "arrêtée" in client.get("/live").text


def test_enabled_cameras_start_and_stop_with_the_server(
    tmp_path: Path, hamilton: Path, models_dir: Path
) -> None:
    app = make_app(
        tmp_path,
        shared_dir=models_dir.parent,
        runtime={"embed_processes": 0},
        cameras=[{"url": str(hamilton), "name": "door", "loop": True}],
        web={"start_cameras": True},
    )
    manager = _manager(app)
    with TestClient(app) as client:
        assert manager.is_running(manager.cameras()[0].id)
        assert _wait(lambda: client.get("/api/health/cameras").json()["active_streams"] == 1)
    assert manager.closed and manager.statuses() == {}
    assert not [t for t in threading.enumerate() if t.name.startswith("door-")], "pipeline threads left"


def test_operators_see_a_watchlisted_face_in_red_with_the_name_and_viewers_do_not(
    live_app: FastAPI, hamilton: Path
) -> None:
    lin = SHARED / "media" / "faces" / "people" / "lin_manuel_miranda" / "ref.png"
    host = ctx_of(live_app).watchlist
    with TestClient(live_app) as client:
        keys = {role: bearer(live_app, role) for role in ("operator", "viewer")}
        host.enrol("Lin", [Photo("ref.png", lin.read_bytes())], "", "")
        camera = client.post(
            "/api/cameras", json={"url": str(hamilton), "loop": True}, headers=bearer(live_app)
        ).json()
        cid, manager = camera["id"], _manager(live_app)

        def same_moment() -> tuple[LatestResult, TrackAlert, int, np.ndarray, np.ndarray] | None:
            """An operator's and a viewer's frame.jpg of one analysed frame showing Lin's open alert."""
            latest = manager.latest(cid)
            marks = host.track_alerts(camera["name"])
            if latest is None or not marks:
                return None
            shown = [t for t in latest.detections.track_id.tolist() if t in marks]
            if not shown:
                return None
            pictures = [client.get(f"/api/cameras/{cid}/frame.jpg", headers=keys[r]) for r in keys]
            if manager.latest(cid) is not latest or any(p.status_code != 200 for p in pictures):
                return None
            operator, viewer = (_decode(p.content) for p in pictures)
            return latest, marks[shown[0]], shown[0], operator, viewer

        latest, mark, track, operator, viewer = _wait(same_moment, timeout_s=90)
        assert mark.person == "Lin"
        row = latest.detections.track_id.tolist().index(track)
        x1, y1, x2, y2 = latest.detections.xyxy[row].round().astype(int)
        # Red for a match, amber for a probable one (the clip's first face is often probable).
        red_op = _red(operator) if mark.level == "match" else _amber(operator)
        red_viewer = _red(viewer) | _amber(viewer)
        for edge in (slice(max(0, x1 - 1), x1 + 3), slice(x2 - 2, x2 + 2)):
            assert red_op[y1 + 3 : y2 - 3, edge].any(axis=1).mean() > 0.8  # a red box
        label = (slice(max(0, y1 - 20), max(0, y1 - 2)), slice(None))  # kept inside the picture
        assert red_op[label].sum() > 100  # the name's tag, in the mark's colour above the box
        assert red_viewer.sum() < 20  # viewers: no red, no watchlist name
        assert _green(viewer)[y1 + 3 : y2 - 3, max(0, x1 - 1) : x1 + 3].any(axis=1).mean() > 0.8
