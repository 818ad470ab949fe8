"""Bodies and clothes (issue 17 item 3): each person found by the selfie segmentation is
recoloured (clothes only: face, hands and skin kept), blurred, pixelated or filled.

Per frame: segmentation on a `segment_width`-wide copy (512) (vigil/anonymize/segment.py), instances and their
colour keys at that size, then per person, in its box at full size: the soft person mask, minus
(for `recolor`) the face ellipses, the hand hulls and the pixels of the person's own skin colour.
Call `apply` before the faces are covered: the skin colour is learnt from the face's pixels."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from vigil.anonymize.hands import HandFinder
from vigil.anonymize.person_keys import ChunkPeople
from vigil.anonymize.person_options import PersonOptions
from vigil.anonymize.recolor import flat_colour, hue_for, recolor
from vigil.anonymize.segment import BlobTracker, PersonBlob, PersonSegmenter, person_blobs
from vigil.anonymize.skin import SkinModel, generic_model, merged, skin_model
from vigil.anonymize.styles import FaceRegion
from vigil.types import FloatArray, Image, IntArray

__all__ = ["PersonAnonymizer", "PersonMask", "StepTimes"]

# The face ellipse kept under `recolor`: the detector's box grown by this much of its size
# (ears, jaw line, the forehead under the fringe); the skin model keeps the neck.
_FACE_GROW = 0.2
# Whole-person styles: detail left across the person's height.
_BLUR_CELLS = 10
_PIXEL_CELLS = 16
_MARGIN = 2  # work pixels around a blob's box: room for the feathered edge
_REMEMBERED_SKINS = 64  # people whose last seen skin colour is kept for when their face is not
_HOLD_SKIN = 150  # frames a frame-wide skin model is used after the last face was seen
# The kept face area reaches this far above the box (fraction of its height): the hair on top
# of the head, which a recolour made look painted.
_HEAD_TOP = 0.45
_TILE_GRID = 2
_SMALL_FACE = 8  # people are small (tiles help) when no face is taller than 1/8 of the frame


@dataclass
class StepTimes:
    """Milliseconds spent per step since the anonymizer started (for benchmarks)."""

    frames: int = 0
    segmentation: float = 0.0
    hands: float = 0.0
    skin: float = 0.0
    paint: float = 0.0

    def per_frame(self) -> dict[str, float]:
        n = max(1, self.frames)
        return {
            "segmentation": self.segmentation / n,
            "hands": self.hands / n,
            "skin": self.skin / n,
            "paint": self.paint / n,
        }


@dataclass(frozen=True)
class PersonMask:
    """One person of the last frame: colour key, box (frame pixels) and the alpha that was
    painted there (clothes only under `recolor`), for tests and benchmarks."""

    key: int
    box: tuple[int, int, int, int]
    alpha: FloatArray
    faces: tuple[int, ...] = ()


@dataclass
class _Frame:
    skins: list[SkinModel | None] = field(default_factory=list)
    fallback: SkinModel | None = None
    hands: list[IntArray] = field(default_factory=list)


class PersonAnonymizer:
    """Anonymises the people of successive frames of one stream (keeps tracks: one per stream
    and per worker). `models_dirs` is where optional model files would be looked up: the models
    used now ship in the mediapipe wheel."""

    def __init__(self, options: PersonOptions, models_dirs: list[Path]) -> None:
        self.options = options
        self.models_dirs = models_dirs
        self.times = StepTimes()
        self.last: list[PersonMask] = []
        self._segmenter: PersonSegmenter | None = None
        self._hands: HandFinder | None = None
        self._tracker = BlobTracker()
        self._file_keys: dict[int, int] = {}  # this chunk's faceless keys -> the file's
        self._skin_by_key: dict[int, SkinModel] = {}
        self._generic = generic_model(options.skin_distance) if options.skin_fallback else None
        self._last_fallback: tuple[int, SkinModel] | None = None  # frame number, model
        if options.style != "none":
            self._segmenter = PersonSegmenter()
            if options.style == "recolor" and options.hands:
                self._hands = HandFinder(every=options.hands_every)

    def reset(self, keys: dict[int, int] | None = None) -> None:
        """Forgets every frame seen so far (tracks, skin colours, hands), as if just built but with
        the models kept loaded: a file's chunks each start here, so a chunk's result does not
        depend on the chunks before it nor on which worker renders it (vigil/anonymize/render.py).
        `keys`: the file-wide key of each of this chunk's faceless keys (person_keys.file_keys),
        so that a person without a face keeps one colour across chunks; people with a face keep
        their face track's colour anyway."""
        self._tracker = BlobTracker()
        self._file_keys = dict(keys or {})
        self._skin_by_key.clear()
        self._last_fallback = None
        if self._hands is not None:
            self._hands.reset()

    def follow(
        self,
        small: Image,
        frame_size: tuple[int, int],
        faces: Sequence[FaceRegion],
        person_ids: Sequence[int | None],
    ) -> list[PersonBlob]:
        """Tracks the people of a frame as `apply` would, painting nothing (no hands, no skin),
        and returns them (for `apply(..., blobs=)`): a file's chunks are followed first so their
        faceless keys can be joined (person_keys.py). `small`: the frame already at
        `work_size(*frame_size)`, in RGB (scaled from the decoded frame by swscale: no full-size
        BGR copy, no slow 2.5x resize); `frame_size`: (width, height) of the frame `faces` are in."""
        if self._segmenter is None:
            return []
        if small.shape[1::-1] != self.work_size(*frame_size):
            raise ValueError(f"follow: a {small.shape[1]}x{small.shape[0]} image for a {frame_size} frame")
        blobs = self._segment(self._segmenter, small, faces, frame_size)
        self._track(blobs, person_ids)
        return blobs

    def work_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) the people of a `width` x `height` frame are segmented at."""
        work_w = min(self.options.segment_width, width)
        return work_w, max(1, round(height * work_w / width))

    def people(self, first: int) -> ChunkPeople:
        """The tracks of the frames seen since the last reset, for joining with the next chunk's."""
        tracker = self._tracker
        return ChunkPeople(first, tracker.negatives, tuple(tracker.early), tuple(tracker.alive()))

    def apply(
        self,
        image: Image,
        faces: Sequence[FaceRegion],
        person_ids: Sequence[int | None] | None = None,
        blobs: Sequence[PersonBlob] | None = None,
    ) -> Image:
        """Anonymises the people of `image` (BGR, in place) and returns it. `faces` are this
        frame's faces (skin colour, face area kept, and people side by side told apart);
        `person_ids`, aligned with `faces`, their track ids when known: a person's colour then
        follows the face's track. `blobs`: this frame's people as `follow` found them (the same
        image and faces), instead of segmenting again."""
        self.last = []
        if self._segmenter is None:
            return image
        start = time.perf_counter()
        found = list(blobs) if blobs is not None else self._segment_bgr(self._segmenter, image, faces)
        keys = [self._file_keys.get(key, key) for key in self._track(found, person_ids)]
        height, width = image.shape[:2]
        work_w, work_h = self.work_size(width, height)
        scale = (width / work_w, height / work_h)
        self.times.segmentation += (time.perf_counter() - start) * 1000
        self.times.frames += 1
        if not found:
            return image
        frame = _Frame()
        if self.options.style == "recolor":
            frame = self._skin_and_hands(image, faces)
        start = time.perf_counter()
        for blob, key in zip(found, keys, strict=True):
            self._paint(image, blob, key, faces, frame, scale)
        self.times.paint += (time.perf_counter() - start) * 1000
        return image

    def _track(self, blobs: Sequence[PersonBlob], person_ids: Sequence[int | None] | None) -> list[int]:
        """The tracker's key of each blob (its faces' track ids when known)."""
        face_keys = [
            [k for k in (person_ids[i] for i in blob.faces) if k is not None]
            if person_ids is not None
            else []
            for blob in blobs
        ]
        return self._tracker.update([b.box for b in blobs], face_keys)

    def _segment_bgr(
        self, segmenter: PersonSegmenter, image: Image, faces: Sequence[FaceRegion]
    ) -> list[PersonBlob]:
        """The people of a full-size BGR frame (live privacy mode; a chunk rendered without
        followed people): no decoded frame here to scale with swscale, OpenCV resizes it."""
        height, width = image.shape[:2]
        small = cv2.resize(image, self.work_size(width, height), interpolation=cv2.INTER_AREA)
        return self._segment(segmenter, cv2.cvtColor(small, cv2.COLOR_BGR2RGB), faces, (width, height))

    def _segment(
        self,
        segmenter: PersonSegmenter,
        small: Image,
        faces: Sequence[FaceRegion],
        frame_size: tuple[int, int],
    ) -> list[PersonBlob]:
        """The people of `small` (the frame at work size, RGB) as work-resolution blobs; `faces`
        are in the pixels of the `frame_size` (width, height) frame."""
        options = self.options
        width, height = frame_size
        scale_x, scale_y = width / small.shape[1], height / small.shape[0]
        probability = segmenter.probabilities(small, _TILE_GRID if self._tiled(faces, height) else 1)
        boxes = [
            (f.box[0] / scale_x, f.box[1] / scale_y, f.box[2] / scale_x, f.box[3] / scale_y) for f in faces
        ]
        return person_blobs(probability, options.threshold, options.min_area, boxes)

    def _tiled(self, faces: Sequence[FaceRegion], height: int) -> bool:
        if self.options.tiles != "auto":
            return self.options.tiles == "always"
        return all((f.box[3] - f.box[1]) * _SMALL_FACE < height for f in faces)

    def _skin_and_hands(self, image: Image, faces: Sequence[FaceRegion]) -> _Frame:
        start = time.perf_counter()
        hands = self._hands.hulls(image) if self._hands is not None else []
        mid = time.perf_counter()
        skins = [skin_model(image, f.box, self.options.skin_distance) for f in faces]
        self.times.hands += (mid - start) * 1000
        self.times.skin += (time.perf_counter() - mid) * 1000
        fallback = merged([s for s in skins if s is not None])
        if fallback is not None:
            self._last_fallback = (self.times.frames, fallback)
        elif self._last_fallback is not None and self.times.frames - self._last_fallback[0] <= _HOLD_SKIN:
            fallback = self._last_fallback[1]
        return _Frame(skins, fallback, hands)

    def _paint(
        self,
        image: Image,
        blob: PersonBlob,
        key: int,
        faces: Sequence[FaceRegion],
        frame: _Frame,
        scale: tuple[float, float],
    ) -> None:
        options = self.options
        height, width = image.shape[:2]
        work_h, work_w = blob.mask.shape
        x1, y1 = max(0, blob.box[0] - _MARGIN), max(0, blob.box[1] - _MARGIN)
        x2, y2 = min(work_w, blob.box[2] + _MARGIN), min(work_h, blob.box[3] + _MARGIN)
        left, top = round(x1 * scale[0]), round(y1 * scale[1])
        right, bottom = min(width, round(x2 * scale[0])), min(height, round(y2 * scale[1]))
        if right - left < 2 or bottom - top < 2:
            return
        soft: FloatArray = blob.mask[y1:y2, x1:x2].astype(np.float32)
        if options.feather > 0:
            soft = cv2.GaussianBlur(soft, (0, 0), options.feather)
        alpha = cv2.resize(soft, (right - left, bottom - top), interpolation=cv2.INTER_LINEAR)
        alpha[alpha < 1 / 255] = 0
        region = image[top:bottom, left:right]
        hue = hue_for(key)
        if options.style == "recolor":
            # One YCrCb copy of the region for both the skin test and the recolour: the region
            # is not painted in between.
            ycrcb = cv2.cvtColor(region, cv2.COLOR_BGR2YCrCb)
            kept = self._kept(ycrcb, (left, top), blob, key, faces, frame)
            alpha *= np.subtract(1, kept, out=kept)
            recolor(region, alpha, hue, options.strength, ycrcb)
        else:
            _cover(region, alpha, options.style, hue, options.strength)
        self.last.append(PersonMask(key, (left, top, right, bottom), alpha, tuple(blob.faces)))

    def _kept(
        self,
        ycrcb: Image,
        origin: tuple[int, int],
        blob: PersonBlob,
        key: int,
        faces: Sequence[FaceRegion],
        frame: _Frame,
    ) -> FloatArray:
        """Where the person's skin is ([0, 1], region pixels; `ycrcb`: the region in YCrCb): face
        ellipses and landmark hulls, hand hulls, and pixels of the person's skin colour (their
        own face's, else every face's in the frame)."""
        start = time.perf_counter()
        keep = np.zeros(ycrcb.shape[:2], np.uint8)
        shift = np.array(origin, np.float32)
        for face in faces:
            x1, y1, x2, y2 = face.box
            top = y1 - (y2 - y1) * _HEAD_TOP
            centre = (round((x1 + x2) / 2 - origin[0]), round((top + y2) / 2 - origin[1]))
            grow = 0.5 + _FACE_GROW
            axes = (max(1, round((x2 - x1) * grow)), max(1, round((y2 - top) * grow)))
            cv2.ellipse(keep, centre, axes, 0, 0, 360, 1, cv2.FILLED)
            if face.landmarks is not None and len(face.landmarks) >= 3:
                hull = cv2.convexHull(np.asarray(face.landmarks, np.float32)[:, :2] - shift)
                cv2.fillConvexPoly(keep, np.round(hull).astype(np.int32), 1)
        for hull in frame.hands:
            cv2.fillConvexPoly(keep, (hull - np.asarray(origin, np.int32)).astype(np.int32), 1)
        own = [m for i in blob.faces if i < len(frame.skins) and (m := frame.skins[i]) is not None]
        if own:
            self._skin_by_key[key] = own[0]
            while len(self._skin_by_key) > _REMEMBERED_SKINS:
                del self._skin_by_key[next(iter(self._skin_by_key))]
        # Face not seen this frame: the skin this person's face had last, else anyone's.
        model = own[0] if own else self._skin_by_key.get(key, frame.fallback)
        if model is None:
            model = self._generic
        if model is not None:
            skin = model.mask_ycrcb(ycrcb)
            # Majority of each 5x5 neighbourhood: skin-coloured specks in cloth and cloth-coloured
            # specks in skin are noise (an opening alone left skin speckled with colour).
            skin = cv2.medianBlur(skin, 5)
            np.maximum(keep, skin, out=keep)
        hard = keep.astype(np.float32)
        soft = np.asarray(cv2.blur(hard, (3, 3)))
        self.times.skin += (time.perf_counter() - start) * 1000
        return np.maximum(soft, hard, out=soft)

    def close(self) -> None:
        if self._segmenter is not None:
            self._segmenter.close()
            self._segmenter = None
        if self._hands is not None:
            self._hands.close()
            self._hands = None


def _cover(region: Image, alpha: FloatArray, style: str, hue: float, strength: float) -> None:
    """Blur, pixelate or flat-fill the whole person (in place, blended by `alpha`). The blur is
    smoothed at a few times the cell grid, not at full size: a Gaussian of a tenth of a 720p
    person's height cost 190-390 ms a frame."""
    height, width = region.shape[:2]
    if style == "silhouette":
        cover = np.empty_like(region)
        cover[:] = flat_colour(hue, strength)
    else:
        cells = _BLUR_CELLS if style == "blur" else _PIXEL_CELLS
        across = max(1, min(height, cells))
        size = (max(1, round(across * width / max(height, 1))), across)
        small = cv2.resize(region, size, interpolation=cv2.INTER_AREA)
        if style == "blur":
            mid = cv2.resize(small, (size[0] * 8, size[1] * 8), interpolation=cv2.INTER_LINEAR)
            mid = cv2.GaussianBlur(mid, (0, 0), 4.0)
            cover = cv2.resize(mid, (width, height), interpolation=cv2.INTER_LINEAR)
        else:
            cover = cv2.resize(small, (width, height), interpolation=cv2.INTER_NEAREST)
    weight = np.ascontiguousarray(alpha, dtype=np.float32)
    blended = cv2.blendLinear(region, cover, 1.0 - weight, weight)
    np.copyto(region, blended, where=(weight > 0)[..., None])
