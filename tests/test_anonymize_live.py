"""Live privacy mode (issue 17 item 5): who sees faces covered, the faces held through missed
detections, the covered picture never shared with a clear audience (cache key), and through the
API on a real camera: a viewer's frame.jpg covered where the admin's is clear."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.conftest import shared_file
from tests.web_util import bearer, ctx_of, make_app
from vigil.anonymize.live_privacy import HeldFaces, LivePrivacy, LivePrivacyConfig
from vigil.anonymize.person_options import PersonOptions
from vigil.config import load_settings
from vigil.detect import create_detector
from vigil.detect.yunet import YuNetConfig
from vigil.live.analyse import LatestResult
from vigil.types import Detections, Frame
from vigil.web.live import NO_MARKS, LiveEncoder, WatchlistMark, cache_key

FACE = (100, 80, 200, 200)  # x1, y1, x2, y2 of the test face


def _faces(boxes: list[tuple[float, float, float, float]], tracks: list[int] | None = None) -> Detections:
    return Detections(
        np.array(boxes, np.float32).reshape(-1, 4),
        np.ones(len(boxes), np.float32),
        track_id=np.array(tracks if tracks is not None else [-1] * len(boxes), np.int64),
    )


def _latest(
    image: np.ndarray, boxes: list[tuple[float, float, float, float]], tracks: list[int]
) -> LatestResult:
    faces = _faces(boxes, tracks)
    frame = Frame(image=image, pts=0.0, wall_ts=time.time(), index=0)
    return LatestResult(frame, faces, _faces(boxes))


def _textured(height: int = 360, width: int = 640) -> np.ndarray:
    """Fine detail everywhere: a covered area loses it, an untouched one keeps it."""
    return np.random.default_rng(7).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _decode(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return np.asarray(image)


def _detail(image: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Laplacian variance inside `box` shrunk by 6 px (away from the drawn box's lines)."""
    x1, y1, x2, y2 = box
    gray = cv2.cvtColor(np.ascontiguousarray(image[y1 + 6 : y2 - 6, x1 + 6 : x2 - 6]), cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


# ------------------------------------------------------------------ who is covered
def test_roles_are_covered_per_camera_with_a_default_and_overrides() -> None:
    assert not LivePrivacyConfig().covered("lobby", "viewer")  # off unless configured
    config = LivePrivacyConfig(
        covered_roles=["viewer"], cameras={"backstage": ["viewer", "operator"], "door": []}
    )
    assert config.covered("lobby", "viewer") and not config.covered("lobby", "operator")
    assert not config.covered("lobby", "admin")
    assert config.covered("backstage", "operator") and not config.covered("backstage", "admin")
    assert not config.covered("door", "viewer")  # an override may also lift it


def test_settings_from_yaml_style_values_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_ANONYMIZE__LIVE__COVERED_ROLES", '["viewer"]')
    monkeypatch.setenv("VIGIL_ANONYMIZE__LIVE__CAMERAS", '{"stage": ["viewer", "operator"]}')
    monkeypatch.setenv("VIGIL_ANONYMIZE__LIVE__PERSONS__STYLE", "silhouette")
    live = load_settings().anonymize.live
    assert live.covered_roles == ["viewer"] and live.cameras == {"stage": ["viewer", "operator"]}
    assert (live.style, live.pad, live.hold_s) == ("blur", 0.4, 1.0)
    assert live.persons.style == "silhouette"
    with pytest.raises(Exception, match="covered_roles"):
        LivePrivacyConfig.model_validate({"covered_roles": ["guest"]})


def test_an_override_naming_no_camera_is_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A misspelt camera name would leave that camera on the default roles: the server says so."""
    with caplog.at_level("WARNING", logger="vigil.web.cameras"):
        make_app(tmp_path, anonymize={"live": {"cameras": {"loby": ["viewer"]}}})
    assert "anonymize.live.cameras names no known camera (yet): loby" in caplog.text


# ------------------------------------------------------------------ faces held through misses
def test_a_missed_face_stays_covered_for_hold_s_in_the_same_shot() -> None:
    held = HeldFaces(hold_s=1.0)
    seen = _faces([FACE], [4])
    assert [r.box for r in held.regions(10.0, 0, _faces([FACE]), seen) or []] == [FACE]
    nothing = _faces([])
    assert [r.box for r in held.regions(10.6, 0, nothing, nothing) or []] == [FACE]  # missed: held
    assert held.regions(11.2, 0, nothing, nothing) == []  # 1.2 s since last found: let go
    held.regions(12.0, 0, _faces([FACE]), seen)
    assert held.regions(12.2, 1, nothing, nothing) == []  # a cut: the old shot's boxes mean nothing


def test_an_untracked_face_is_covered_and_held_too() -> None:
    """A new face has no track id before its second detection: covered from the first."""
    held = HeldFaces(hold_s=1.0)
    untracked = _faces([FACE])
    assert [r.box for r in held.regions(0.0, 0, untracked, _faces([])) or []] == [FACE]
    assert [r.box for r in held.regions(0.2, 0, _faces([]), _faces([])) or []] == [FACE]


def test_a_face_found_again_is_covered_once_where_it_is_now() -> None:
    held = HeldFaces(hold_s=1.0)
    held.regions(0.0, 0, _faces([FACE]), _faces([FACE], [4]))
    moved = (104.0, 80.0, 204.0, 200.0)
    regions = held.regions(0.2, 0, _faces([moved]), _faces([moved], [4]))
    assert [r.box for r in regions or []] == [moved]
    other = (400.0, 80.0, 480.0, 180.0)  # track 5 found, track 4 missed: both covered
    regions = held.regions(0.4, 0, _faces([other]), _faces([other], [5]))
    assert sorted(r.box for r in regions or []) == [moved, other]


def test_a_frame_whose_faces_were_not_searched_is_covered_whole() -> None:
    assert HeldFaces(1.0).regions(0.0, 0, None, _faces([])) is None


# ------------------------------------------------------------------ the covered picture and the cache
class _Labels:
    """A label function that records which tracks it was asked for."""

    def __init__(self) -> None:
        self.asked: list[int] = []

    def __call__(self, track: int) -> str:
        self.asked.append(track)
        return f"#{track} 0b6c12ab"


def test_covered_pictures_are_cached_apart_and_never_served_clear() -> None:
    assert cache_key(1, NO_MARKS, True) != cache_key(1, NO_MARKS, False)
    marks = {4: WatchlistMark("Ada", "match")}
    assert len({cache_key(1, m, c) for m in (NO_MARKS, marks) for c in (False, True)}) == 4

    for clear_first in (True, False):  # whichever audience asks first, each gets its own picture
        encoder = LiveEncoder(quality=90)
        latest = _latest(_textured(), [FACE], [4])
        label = _Labels()
        order = [False, True] if clear_first else [True, False]
        pictures = {covered: encoder.picture(1, latest, label, covered=covered) for covered in order}
        assert encoder.encodes == 2 and pictures[True].seq != pictures[False].seq
        assert encoder.cached(1, latest, covered=True) is pictures[True]
        assert encoder.cached(1, latest, covered=False) is pictures[False]
        clear, covered = _decode(pictures[False].jpeg), _decode(pictures[True].jpeg)
        assert _detail(clear, FACE) > 20 * _detail(covered, FACE)  # measured ~5000 vs < 100
        far = (400, 200, 600, 340)
        assert abs(_detail(clear, far) - _detail(covered, far)) < 0.02 * _detail(clear, far)
        assert label.asked == [4]  # the covered picture is labelled "#4" only: no visitor id under the blur

    encoder.forget(1)
    assert encoder.cached(1, latest, covered=True) is None and encoder.cached(1, latest) is None


def test_a_covered_frame_without_searched_faces_shows_nothing_clear() -> None:
    encoder = LiveEncoder(quality=90)
    frame = Frame(image=_textured(), pts=0.0, wall_ts=time.time(), index=0)
    picture = _decode(encoder.picture(1, LatestResult(frame, _faces([])), str, covered=True).jpeg)
    assert _detail(picture, (0, 0, 640, 360)) < 50  # vs ~5000 for the clear frame


def test_large_frames_are_covered_at_the_display_scale() -> None:
    privacy = LivePrivacy(LivePrivacyConfig(style="solid", pad=0.0))
    encoder = LiveEncoder(quality=90, privacy=privacy)
    big = (960.0, 540.0, 1200.0, 800.0)
    latest = _latest(_textured(1080, 1920), [big], [3])
    picture = _decode(encoder.picture(1, latest, str, covered=True).jpeg)
    assert picture.shape == (720, 1280, 3)
    inside = picture[370:525, 650:790].astype(int)  # the box at 2/3 scale, away from its lines
    assert np.abs(inside - 40).max() < 12  # solid grey (JPEG noise aside)


def test_bodies_are_covered_too_when_asked(models_dir: Path) -> None:
    """persons.style silhouette: the singer's body is filled in the covered picture, the stage
    around him is left as it is, and his face is still covered."""
    with av.open(str(shared_file("media/video/hamilton_640x360.mp4"))) as container:
        image = next(f for i, f in enumerate(container.decode(video=0)) if i == 100).to_ndarray(
            format="bgr24"
        )
    found = create_detector(YuNetConfig(), [models_dir]).detect(image)
    assert len(found) == 1  # the singer, face and body in the frame
    frame = Frame(image=image, pts=0.0, wall_ts=time.time(), index=0)
    latest = LatestResult(frame, found, found)
    faces_only = LiveEncoder(90).covered_image(1, latest)
    config = LivePrivacyConfig(persons=PersonOptions(style="silhouette"))
    privacy = LivePrivacy(config, [models_dir])
    try:
        both = LiveEncoder(90, privacy=privacy).covered_image(1, latest)
    finally:
        privacy.forget(1)  # closes the camera's person anonymiser
    changed = np.abs(both.astype(int) - faces_only.astype(int)).max(axis=2) > 10
    x1, y1, x2, y2 = (int(v) for v in found.xyxy[0])
    body = changed[y2 + 10 :, max(0, x1 - 20) : x2 + 20]
    assert body.mean() > 0.5  # the body under the face is filled
    assert changed.mean() < 0.5  # the rest of the stage is not
    assert _detail(both, (x1, y1, x2, y2)) < 0.1 * _detail(image, (x1, y1, x2, y2))  # the face still covered


# ------------------------------------------------------------------ through the API, real camera
def _wait(read: Callable[[], Any], timeout_s: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = read()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_a_viewer_gets_the_faces_covered_where_the_admin_sees_them(
    tmp_path: Path, models_dir: Path, hamilton: Path
) -> None:
    app = make_app(
        tmp_path,
        shared_dir=models_dir.parent,
        runtime={"embed_processes": 0},
        anonymize={"live": {"covered_roles": ["viewer"]}},
    )
    with TestClient(app) as client:
        keys = {role: bearer(app, role) for role in ("admin", "operator", "viewer")}
        cid = client.post(
            "/api/cameras", json={"url": str(hamilton), "loop": True}, headers=keys["admin"]
        ).json()["id"]
        manager = ctx_of(app).cameras

        def same_frame(picture: str) -> tuple[tuple[int, int, int, int], dict[str, np.ndarray]] | None:
            """The pictures of one analysed frame for each role and its largest face box, once a
            well-lit face at least 50 px wide is in it (a small or dark face holds too little detail)."""
            latest = manager.latest(cid)
            if latest is None or len(latest.detections) == 0:
                return None
            widths = latest.detections.xyxy[:, 2] - latest.detections.xyxy[:, 0]
            if widths.max() < 50:
                return None
            answers = {
                role: client.get(f"/api/cameras/{cid}/{picture}", headers=key) for role, key in keys.items()
            }
            if manager.latest(cid) is not latest or any(a.status_code != 200 for a in answers.values()):
                return None
            x1, y1, x2, y2 = (int(v) for v in latest.detections.xyxy[int(widths.argmax())].round())
            pictures = {role: _decode(a.content) for role, a in answers.items()}
            if _detail(pictures["admin"], (x1, y1, x2, y2)) < 100:
                return None  # a dark or out-of-focus face: as flat clear as covered (measured 2.5)
            return (x1, y1, x2, y2), pictures

        # The live picture, then the raw snapshot (no way around the privacy mode).
        for picture in ("frame.jpg", "snapshot.jpg"):
            box, pictures = _wait(lambda: same_frame(picture))  # noqa: B023 (called at once)
            clear = _detail(pictures["admin"], box)
            assert _detail(pictures["operator"], box) == pytest.approx(clear, rel=0.05)  # the same clear one
            assert _detail(pictures["viewer"], box) < 0.1 * clear, (picture, box)
        page = client.get("/live", headers=keys["viewer"]).text
        assert f'id="live-covered-{cid}"' in page
        assert "live-covered" not in client.get("/live", headers=keys["admin"]).text
        cameras_page = client.get("/cameras", headers=keys["admin"]).text
        assert f'<td class="camera-privacy" id="camera-privacy-{cid}">viewer</td>' in cameras_page

        # Stopped, the snapshot is read from the source, whose faces nobody searched: covered whole.
        assert client.post(f"/api/cameras/{cid}/stop", headers=keys["admin"]).status_code == 200
        whole = (0, 0, 640, 360)
        stopped = {
            role: _decode(client.get(f"/api/cameras/{cid}/snapshot.jpg", headers=keys[role]).content)
            for role in ("admin", "viewer")
        }
        assert _detail(stopped["viewer"], whole) < 0.1 * _detail(stopped["admin"], whole)
