"""Live pictures: green face boxes drawn on the pipeline's latest analysed frame, JPEG-encoded
once per analysed frame and shared by every viewer, and the MJPEG stream built from them.

Nothing here decodes video: the picture and the boxes come from `CameraPipeline.latest`
(`LatestResult`), so viewers cost one overlay + one JPEG encode per analysed frame, whatever
their number.

Two audiences: everyone sees green boxes with track and visitor labels; operators and admins also
see faces whose track has an open watchlist alert in red (match) or amber (probable) with the
person's name. Their picture is cached apart, and only while such a face is in the frame: otherwise
they share the viewers' picture, so the marks cost an encode only when there is something to show.

The live privacy mode (vigil.anonymize.live_privacy) covers the faces for the roles the settings
name, per camera: covered pictures are cached apart from clear ones (the cache key says which), and
their labels carry the track id only (a visitor id or name would say who is under the blur)."""

from __future__ import annotations

import asyncio
import threading
import time
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass

import cv2
import numpy as np

from vigil.anonymize.live_privacy import LivePrivacy, LivePrivacyConfig
from vigil.live.analyse import LatestResult
from vigil.types import Detections, Image
from vigil.watchlist.matching import Level

GREEN = (0, 255, 0)  # BGR
RED = (0, 0, 255)
AMBER = (0, 170, 255)
BOX_THICKNESS = 2
MARK_THICKNESS = 3  # a watchlisted face stands out from the green ones
MAX_LIVE_WIDTH = 1280  # larger frames are downscaled before encoding (cost grows with pixels)
BOUNDARY = "vigil-frame"
MJPEG_MEDIA_TYPE = f"multipart/x-mixed-replace; boundary={BOUNDARY}"

LabelOf = Callable[[int], str]  # track id -> label text


@dataclass(frozen=True)
class WatchlistMark:
    """A face to draw as a watchlisted person's (operators' and admins' pictures only)."""

    person: str
    level: Level

    @property
    def color(self) -> tuple[int, int, int]:
        return RED if self.level == "match" else AMBER

    def label(self, track_id: int) -> str:
        """`#4 Ada Lovelace` for a match, `#4 Ada Lovelace?` for a probable one (ASCII, as labels)."""
        return label_text(track_id, None, self.person) + ("?" if self.level == "probable" else "")


Marks = Mapping[int, WatchlistMark]  # track id -> its mark
NO_MARKS: Marks = {}


def label_text(track_id: int, visitor_id: str | None, visitor_name: str | None = None) -> str:
    """The track id, then the visitor's name, else the first 8 characters of the visitor id once
    the store recognised the track ("#4 Alice", "#4 0b6c12ab", "#4"). OpenCV draws ASCII only."""
    who = visitor_name or (visitor_id[:8] if visitor_id else "")
    ascii_who = unicodedata.normalize("NFKD", who).encode("ascii", "ignore").decode()[:24]
    return f"#{track_id} {ascii_who}".strip()


class VisitorNames:
    """Visitor id -> the name operators gave, looked up in batches and kept `ttl_s`, so labels
    cost no query on most frames."""

    def __init__(self, lookup: Callable[[list[str]], dict[str, str | None]], ttl_s: float = 10.0) -> None:
        self._lookup = lookup
        self._ttl_s = ttl_s
        self._known: dict[str, tuple[str | None, float]] = {}
        self._lock = threading.Lock()

    def names(self, visitor_ids: list[str]) -> dict[str, str | None]:
        now = time.monotonic()
        with self._lock:
            stale = [v for v in visitor_ids if v not in self._known or self._known[v][1] < now]
        if stale:
            found = self._lookup(stale)
            with self._lock:
                if len(self._known) > 10_000:  # forget long-gone visitors
                    self._known = {k: v for k, v in self._known.items() if v[1] >= now}
                for visitor in stale:
                    self._known[visitor] = (found.get(visitor), now + self._ttl_s)
        with self._lock:
            return {v: self._known[v][0] for v in visitor_ids if v in self._known}


def draw_faces(
    image: Image, detections: Detections, label_of: LabelOf, scale: float = 1.0, marks: Marks = NO_MARKS
) -> Image:
    """`image` with a green box and a label per tracked face, drawn on a copy (the pipeline's
    frame is never modified); a marked track gets its mark's colour and the person's name instead.
    `scale` maps the detections' coordinates onto `image`."""
    if len(detections) == 0:
        return image  # nothing to draw: no copy (callers only read the result)
    canvas = image.copy()
    for row in range(len(detections)):
        x1, y1, x2, y2 = (round(float(v) * scale) for v in detections.xyxy[row])
        track_id = int(detections.track_id[row])
        mark = marks.get(track_id)
        color = GREEN if mark is None else mark.color
        cv2.rectangle(canvas, (x1, y1), (x2, y2), color, BOX_THICKNESS if mark is None else MARK_THICKNESS)
        if track_id < 0:
            continue
        origin = (x1, max(12, y1 - 5))
        if mark is not None:
            _tag(canvas, mark.label(track_id), origin, mark.color)
            continue
        text = label_of(track_id)
        # Dark outline under green text: readable on any background.
        cv2.putText(canvas, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(canvas, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.45, GREEN, 1, cv2.LINE_AA)
    return canvas


def _tag(canvas: Image, text: str, origin: tuple[int, int], color: tuple[int, int, int]) -> None:
    """A watchlisted person's name: dark text on a filled tag of the mark's colour (thin coloured
    text is hard to read on a dark stage)."""
    (width, height), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
    # Kept inside the picture: a face at the right or top edge still shows the whole name.
    x = max(1, min(origin[0], canvas.shape[1] - width - 3))
    y = max(height + 3, origin[1])
    cv2.rectangle(canvas, (x - 1, y - height - 3), (x + width + 2, y + baseline - 1), color, cv2.FILLED)
    cv2.putText(canvas, text, (x + 1, y - 1), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)


def encode_jpeg(image: Image, quality: int) -> bytes:
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return bytes(buffer.tobytes())


def placeholder_jpeg(text: str, width: int = 640, height: int = 360) -> bytes:
    """A dark picture with a message, for streams whose camera has no picture (yet)."""
    image = np.full((height, width, 3), 32, np.uint8)
    size = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.8, 2)[0]
    origin = ((width - size[0]) // 2, (height + size[1]) // 2)
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.8, (200, 200, 200), 2, cv2.LINE_AA)
    return encode_jpeg(image, 80)


@dataclass(frozen=True)
class LiveJpeg:
    """One encoded live picture. `seq` changes with every newly analysed frame."""

    seq: int
    jpeg: bytes
    captured_at: float


@dataclass
class _Entry:
    source: LatestResult  # identity of the analysed frame this JPEG shows
    picture: LiveJpeg


CacheKey = tuple[int, bool, bool]  # (camera id, watchlist marks drawn, faces covered)


def cache_key(camera_id: int, marks: Marks, covered: bool = False) -> CacheKey:
    """The picture an audience shares: with marks (operators and admins while a watchlisted face
    is in the frame) or the plain one (everyone else, and operators the rest of the time), with
    the faces covered (roles under the camera's privacy mode) or clear. A covered audience never
    shares a clear picture: `covered` is part of the key."""
    return camera_id, bool(marks), covered


class LiveEncoder:
    """Per camera and audience, the JPEG of its latest analysed frame with boxes, encoded once and
    shared.

    The fast path (same analysed frame as last time) takes no lock and costs nothing; a new frame
    is encoded by the first viewer that asks, the others wait for that encode instead of repeating it."""

    def __init__(
        self, quality: int, max_width: int = MAX_LIVE_WIDTH, privacy: LivePrivacy | None = None
    ) -> None:
        self.quality = quality
        self.max_width = max_width
        self.privacy = privacy or LivePrivacy(LivePrivacyConfig())
        self.encodes = 0
        self.encode_ms = 0.0
        self.hits = 0
        self._entries: dict[CacheKey, _Entry] = {}
        self._locks: dict[CacheKey, threading.Lock] = {}
        self._waits: dict[CacheKey, asyncio.Lock] = {}
        self._guard = threading.Lock()
        self._seq = 0

    def cached(
        self, camera_id: int, latest: LatestResult, marks: Marks = NO_MARKS, covered: bool = False
    ) -> LiveJpeg | None:
        """The shared JPEG if `latest` is already encoded for this audience (no lock, no work)."""
        entry = self._entries.get(cache_key(camera_id, marks, covered))
        if entry is not None and entry.source is latest:
            self.hits += 1
            return entry.picture
        return None

    def picture(
        self,
        camera_id: int,
        latest: LatestResult,
        label_of: LabelOf,
        marks: Marks = NO_MARKS,
        covered: bool = False,
    ) -> LiveJpeg:
        """The JPEG of `latest` (with `marks`: the watchlisted faces in the frame, for operators;
        `covered`: faces covered, for the roles under the camera's privacy mode), encoding it when
        nobody of this audience did yet (blocking: call off the loop)."""
        found = self.cached(camera_id, latest, marks, covered)
        if found is not None:
            return found
        key = cache_key(camera_id, marks, covered)
        with self._lock_of(key):
            found = self.cached(camera_id, latest, marks, covered)  # another viewer encoded it meanwhile
            if found is not None:
                return found
            start = time.perf_counter()
            if covered:
                image = self.covered_image(camera_id, latest)
                label_of = _track_only
            else:
                image = self._scaled(latest.frame.image)
            scale = self._scale(latest.frame.image)
            jpeg = encode_jpeg(draw_faces(image, latest.detections, label_of, scale, marks), self.quality)
            with self._guard:
                self._seq += 1
                picture = LiveJpeg(self._seq, jpeg, latest.frame.wall_ts)
                self.encodes += 1
                self.encode_ms += (time.perf_counter() - start) * 1000
            self._entries[key] = _Entry(latest, picture)
            return picture

    def forget(self, camera_id: int) -> None:
        with self._guard:
            for key in [k for k in self._entries.keys() | self._waits.keys() if k[0] == camera_id]:
                self._entries.pop(key, None)
                self._waits.pop(key, None)
        self.privacy.forget(camera_id)

    def _scale(self, image: Image) -> float:
        return min(1.0, self.max_width / int(image.shape[1]))

    def _scaled(self, image: Image) -> Image:
        """The frame at most `max_width` wide (the pipeline's own array when it fits: callers copy
        before drawing)."""
        scale = self._scale(image)
        if scale == 1.0:
            return image
        return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)

    def covered_image(self, camera_id: int, latest: LatestResult) -> Image:
        """A copy of the frame (at most `max_width` wide) with its faces covered, or all of it
        when they were not searched (see vigil.anonymize.live_privacy)."""
        frame = latest.frame
        image = self._scaled(frame.image)
        image = image.copy() if image is frame.image else image
        return self.privacy.cover(camera_id, image, frame, latest.faces, latest.detections)

    def encoding_turn(self, camera_id: int, marks: Marks = NO_MARKS, covered: bool = False) -> asyncio.Lock:
        """Async viewers of one camera and audience queue here, so one of them takes a worker
        thread to encode a new frame and the others wait on the event loop instead of each taking
        a thread."""
        with self._guard:
            return self._waits.setdefault(cache_key(camera_id, marks, covered), asyncio.Lock())

    def _lock_of(self, key: CacheKey) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())


def _track_only(track_id: int) -> str:
    return label_text(track_id, None)


def mjpeg_part(jpeg: bytes) -> bytes:
    head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
    return head.encode("ascii") + jpeg + b"\r\n"


async def mjpeg_stream(
    next_picture: Callable[[], Awaitable[LiveJpeg | None]],
    fps: float,
    finished: Callable[[], Awaitable[bool]],
) -> AsyncIterator[bytes]:
    """MJPEG parts: each new picture at most `fps` times per second (an unchanged picture is not
    sent again), until `finished()` says the client left or the server is shutting down."""
    interval = 1.0 / fps
    loop = asyncio.get_running_loop()
    last_seq: int | None = None
    while not await finished():
        started = loop.time()
        picture = await next_picture()
        if picture is not None and picture.seq != last_seq:
            last_seq = picture.seq
            yield mjpeg_part(picture.jpeg)
        await asyncio.sleep(max(0.0, interval - (loop.time() - started)))
