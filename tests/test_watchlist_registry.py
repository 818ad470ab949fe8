"""The watchlist registry (issue 15, part 1): photos read safely and checked for one usable face,
people enrolled with their references, erased without a trace; on real photos and both backends."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image as PILImage

from tests.conftest import SHARED, read_image, shared_file
from vigil.config import StoreConfig, VigilSettings
from vigil.watchlist.config import WatchlistConfig
from vigil.watchlist.errors import AmbiguousPerson, NoUsablePhoto, PersonNotFound, PhotoRefused
from vigil.watchlist.photos import decode_photo
from vigil.watchlist.service import Photo, Watchlist, read_photos

PEOPLE = SHARED / "media" / "faces" / "people"


def encoded(image: np.ndarray, ext: str = ".jpg") -> bytes:
    ok, data = cv2.imencode(ext, image)
    assert ok
    return data.tobytes()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height but holds almost no data (a decompression bomb)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def refusal(data: bytes, config: WatchlistConfig | None = None) -> str:
    with pytest.raises(PhotoRefused) as refused:
        decode_photo(data, config or WatchlistConfig())
    return refused.value.reason


def test_photos_are_sniffed_by_content_and_bounded() -> None:
    photo = shared_file("media/faces/people/obama/obama.jpg").read_bytes()
    assert decode_photo(photo, WatchlistConfig()).shape[2] == 3
    assert refusal(b"GIF89a" + photo) == "not_an_image"  # the name or the claimed type is not trusted
    assert refusal(b"<svg xmlns='http://www.w3.org/2000/svg'/>") == "not_an_image"
    assert refusal(photo[: len(photo) // 2]) == "not_an_image"  # truncated
    assert refusal(photo, WatchlistConfig(max_photo_mb=0.01)) == "too_large"
    assert refusal(png_header_only(100_000, 100_000)) == "too_many_pixels"  # refused before decoding
    gif = io.BytesIO()
    PILImage.new("RGB", (64, 64)).save(gif, "GIF")
    assert refusal(gif.getvalue()) == "not_an_image"


def test_exif_orientation_is_applied() -> None:
    upright = np.zeros((40, 80, 3), np.uint8)
    upright[:, :40] = 255  # white left half
    rotated = PILImage.fromarray(np.rot90(upright).copy())  # stored sideways (40 wide, 80 high)
    exif = PILImage.Exif()
    exif[0x0112] = 6  # "turn 90 degrees clockwise to view": undoes the rot90 above
    data = io.BytesIO()
    rotated.save(data, "JPEG", exif=exif.tobytes(), quality=95)
    decoded = decode_photo(data.getvalue(), WatchlistConfig())
    assert decoded.shape[:2] == (40, 80)
    assert decoded[:, :30].mean() > 200 and decoded[:, 50:].mean() < 50


@pytest.fixture(scope="module")
def checker_settings(tmp_path_factory: pytest.TempPathFactory) -> VigilSettings:
    return VigilSettings(shared_dir=SHARED, data_dir=tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def watchlist(checker_settings: VigilSettings) -> Iterator[Watchlist]:
    opened = Watchlist.open(checker_settings)
    yield opened
    opened.close()


def test_every_shared_reference_photo_is_accepted(watchlist: Watchlist) -> None:
    # biden2.jpg has a painting that YuNet takes for two faces at 0.6-0.7: below min_face_score.
    photos = read_photos(sorted(PEOPLE.glob("*/*")))
    accepted, refused = watchlist.check(photos)
    assert refused == [] and len(accepted) == len(photos) == 15
    assert {ref.model for ref in accepted} == {"dlib_resnet_v1"}
    assert all(ref.quality > 0.5 and ref.crop.shape[0] >= 80 for ref in accepted)


def reason(watchlist: Watchlist, image: np.ndarray) -> str:
    accepted, refused = watchlist.check([Photo("x.png", encoded(image, ".png"))])
    assert accepted == [] and len(refused) == 1
    assert refused[0].photo == "x.png" and str(refused[0]).startswith("x.png: ")
    return refused[0].reason


def test_unusable_faces_are_refused_with_the_reason(watchlist: Watchlist) -> None:
    obama = read_image("media/faces/people/obama/obama.jpg")
    biden = read_image("media/faces/people/biden/biden.jpg")
    height = min(obama.shape[0], biden.shape[0])
    pair = np.hstack([obama[:height], biden[:height]])
    assert reason(watchlist, pair) == "several_faces"
    assert reason(watchlist, np.full((400, 400, 3), 128, np.uint8)) == "no_face"
    small = cv2.resize(obama, None, fx=0.12, fy=0.12, interpolation=cv2.INTER_AREA)
    canvas = np.full((400, 400, 3), 128, np.uint8)
    canvas[: small.shape[0], : small.shape[1]] = small
    assert reason(watchlist, canvas) in {"face_too_small", "no_face"}
    assert reason(watchlist, cv2.GaussianBlur(obama, (0, 0), 3)) == "blurred"
    assert watchlist.check([Photo("soft.png", encoded(cv2.GaussianBlur(obama, (0, 0), 1.5), ".png"))])[0]


@pytest.fixture
def registry(db_url: str, tmp_path: Path, watchlist: Watchlist) -> Iterator[Watchlist]:
    """A watchlist on `db_url` sharing the module's loaded detector and embedder."""
    settings = VigilSettings(shared_dir=SHARED, data_dir=tmp_path / "data", store=StoreConfig(url=db_url))
    opened = Watchlist.open(settings)
    opened.__dict__["checker"] = watchlist.checker
    yield opened
    opened.repository.db.dispose()


def test_enrol_find_and_remove_without_a_trace(registry: Watchlist) -> None:
    repo = registry.repository
    photos = read_photos(sorted((PEOPLE / "obama").iterdir()))
    enrolment = registry.enrol("Obama", [*photos, Photo("notes.png", b"not an image")], "notes", "vip")
    assert (enrolment.accepted, [r.reason for r in enrolment.refused]) == (2, ["not_an_image"])
    person = enrolment.person
    assert (person.name, person.notes, person.category, person.references) == ("Obama", "notes", "vip", 2)
    assert repo.find("Obama") == repo.find(str(person.id)) == person
    crops = [repo.crops.resolve(ref.crop_path) for ref in repo.references(person.id)]
    assert all(path.is_file() for path in crops)
    assert oct(crops[0].stat().st_mode & 0o777) == "0o600"  # biometric data
    references = repo.reference_set("dlib_resnet_v1")
    assert references.person_ids == [person.id, person.id] and references.vectors.shape == (2, 128)
    assert repo.reference_set("another_model").vectors.shape[0] == 0

    registry.enrol("Obama", photos[:1])
    with pytest.raises(AmbiguousPerson):
        repo.find("Obama")
    assert repo.remove(person.id) == 4  # two crops and their thumbnails
    assert not any(path.exists() for path in crops) and not (repo.crops.root / str(person.id)).exists()
    with pytest.raises(PersonNotFound):
        repo.get(person.id)
    assert len(repo.reference_set("dlib_resnet_v1").person_ids) == 1  # the other Obama's
    with pytest.raises(NoUsablePhoto, match=r"no usable photo of .Nobody.: x\.txt"):
        registry.enrol("Nobody", [Photo("x.txt", b"hello")])
    assert [p.name for p in repo.people()] == ["Obama"]


def test_a_failed_enrolment_leaves_no_file(registry: Watchlist, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = registry.repository

    def broken_insert(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("database went away")

    photos = read_photos(sorted((PEOPLE / "obama").iterdir()))
    accepted, _ = registry.check(photos)
    monkeypatch.setattr(repo.db.writer, "begin", broken_insert)
    with pytest.raises(RuntimeError):
        repo.add_person("Obama", accepted)
    assert [p for p in repo.crops.root.rglob("*") if p.is_file()] == []
