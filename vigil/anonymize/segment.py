"""People as separate masks: MediaPipe selfie segmentation (the landscape model in the
`mediapipe==0.10.14` wheel: 4-6 ms a call here), split into instances by
connected components and by the faces inside a blob, and followed over frames by box overlap.

Why not the pose landmarker's per-person masks: 54-57 ms a frame with `num_poses=4` here, and it
found one person in hamilton's audience frames where the selfie model covers all of them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from vigil.errors import ModelError
from vigil.mediapipe_lazy import import_mediapipe
from vigil.native_logs import quiet_native_startup
from vigil.types import FloatArray, Image

BoolArray = npt.NDArray[np.bool_]
_MODEL = "selfie_segmentation_landscape.tflite"  # in the mediapipe wheel, 4-6 ms a call here
_BODY_WIDTH = 1.6  # face widths from the face's centre to the side of a body (shoulders)
_LEAD_FACE = 0.5  # of the tallest face in a blob: smaller faces do not cut it
_OVERLAP = 0.15  # of a tile's size on each side: a person cut by a tile edge is whole in one
Box = tuple[int, int, int, int]  # x1, y1, x2, y2 (exclusive), work-resolution pixels


class PersonSegmenter:
    """Person probability (H x W float32 in [0, 1]) of a small RGB frame. One per worker.

    The landscape selfie model (144x256) shipped in the mediapipe wheel, run by the Tasks
    ImageSegmenter in image mode: no state between calls (the legacy solution smooths each mask
    with the previous one, which on crowd_1080p faded people out over 20 frames and would mix
    tiles), so a frame's mask is the same whichever chunk of a file it falls in."""

    def __init__(self) -> None:
        mp = import_mediapipe()  # slow import, only when used
        from mediapipe.tasks.python import BaseOptions, vision

        model = Path(str(mp.__file__)).parent / "modules" / "selfie_segmentation" / _MODEL
        try:
            options = vision.ImageSegmenterOptions(
                base_options=BaseOptions(model_asset_buffer=model.read_bytes()),
                running_mode=vision.RunningMode.IMAGE,
                output_confidence_masks=True,
                output_category_mask=False,
            )
            self._mp: Any = mp
            with quiet_native_startup():
                self._segmenter: Any = vision.ImageSegmenter.create_from_options(options)
        except (OSError, RuntimeError, ValueError) as exc:
            raise ModelError(f"cannot load the selfie segmentation model {model}: {exc}") from exc
        self.calls = 0

    def probabilities(self, rgb: Image, grid: int = 1) -> FloatArray:
        """Whole frame; with `grid` > 1 also `grid` x `grid` overlapping tiles, merged by maximum:
        the model is made for people near the camera, and in crowd_1080p's street scene it found
        nobody in the whole frame but every walker in 2 x 2 tiles."""
        probability = self._segment(rgb)
        if grid <= 1:
            return probability
        height, width = rgb.shape[:2]
        tile_h, tile_w = height / grid, width / grid
        for row in range(grid):
            for col in range(grid):
                top = max(0, int((row - _OVERLAP) * tile_h))
                bottom = min(height, int((row + 1 + _OVERLAP) * tile_h))
                left = max(0, int((col - _OVERLAP) * tile_w))
                right = min(width, int((col + 1 + _OVERLAP) * tile_w))
                view = probability[top:bottom, left:right]
                np.maximum(view, self._segment(np.ascontiguousarray(rgb[top:bottom, left:right])), out=view)
        return probability

    def _segment(self, rgb: Image) -> FloatArray:
        self.calls += 1
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        masks = self._segmenter.segment(image).confidence_masks
        if not masks:
            return np.zeros(rgb.shape[:2], np.float32)
        return np.array(masks[-1].numpy_view(), np.float32).reshape(rgb.shape[:2])

    def close(self) -> None:
        self._segmenter.close()


@dataclass
class PersonBlob:
    """One person at work resolution: mask (whole work frame), its box, and the indexes of the
    faces (in the `faces` given to the anonymizer) whose centre lies inside it."""

    mask: BoolArray
    box: Box
    faces: list[int] = field(default_factory=list)


def fill_holes(mask: BoolArray) -> BoolArray:
    """The mask with every background region not reachable from the border filled."""
    inside = np.zeros((mask.shape[0] + 2, mask.shape[1] + 2), np.uint8)
    inside[1:-1, 1:-1] = mask
    flood = inside.copy()
    cv2.floodFill(flood, None, (0, 0), 1)
    return np.asarray(mask | (flood[1:-1, 1:-1] == 0))


def person_blobs(
    probability: FloatArray,
    threshold: float,
    min_area: float,
    face_boxes: Sequence[tuple[float, float, float, float]],
) -> list[PersonBlob]:
    """Instances of the person mask: connected components (holes filled, small ones dropped);
    a component holding several people's faces (people side by side touch) is cut between them,
    at the middle between neighbouring face centres (columns). Faces (x1, y1, x2, y2, in
    `probability`'s pixels) whose centres lie within one another's width are one person: a
    pipeline may pass a held box beside a fresh one, and cutting there split a jacket in two."""
    binary: Image = (probability > threshold).astype(np.uint8)
    binary = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    height, width = probability.shape
    least = max(4.0, min_area * height * width)
    centres = [((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in face_boxes]
    blobs: list[PersonBlob] = []
    for label in range(1, count):
        if stats[label, cv2.CC_STAT_AREA] < least:
            continue
        # Within the component's box: the same pixels as on the whole frame (its holes are inside
        # it), at a fraction of the cost; this step cost 4x the segmentation model (py-spy).
        left, top, across, down = (int(v) for v in stats[label, :4])
        window = _Window(left, top, (height, width))
        component = fill_holes(labels[top : top + down, left : left + across] == label)
        inside = sorted(
            (
                i
                for i, (x, y) in enumerate(centres)
                if top <= int(y) < top + down
                and left <= int(x) < left + across
                and component[int(y) - top, int(x) - left]
            ),
            key=lambda i: centres[i][0],
        )
        # A face much smaller than the blob's largest is a false face (on a raised hand, in
        # hamilton) or someone far behind: it joins the nearest person instead of cutting one.
        tallest = max((face_boxes[i][3] - face_boxes[i][1] for i in inside), default=0.0)
        leads = [i for i in inside if face_boxes[i][3] - face_boxes[i][1] >= _LEAD_FACE * tallest]
        people: list[list[int]] = []
        for i in leads:
            last = people[-1][-1] if people else None
            if last is not None and centres[i][0] - centres[last][0] < _half_width(face_boxes, i, last):
                people[-1].append(i)
            else:
                people.append([i])
        for i in inside:
            if i not in leads:
                nearest = min(
                    people, key=lambda group: min(abs(centres[i][0] - centres[j][0]) for j in group)
                )
                nearest.append(i)
        if len(people) < 2:
            blobs.append(window.blob(component, inside))
            continue
        for group, part in zip(people, _split(component, window, people, face_boxes), strict=True):
            if part.any():
                blobs.append(window.blob(part, group))
    return blobs


@dataclass(frozen=True)
class _Window:
    """Where a component's box lies in the work frame: its top-left corner and the frame's shape."""

    left: int
    top: int
    frame_shape: tuple[int, int]

    def blob(self, part: BoolArray, faces: list[int]) -> PersonBlob:
        """A person from their pixels in the window (the blob's mask is the whole work frame)."""
        rows, cols = np.flatnonzero(part.any(axis=1)), np.flatnonzero(part.any(axis=0))
        mask = np.zeros(self.frame_shape, bool)
        mask[self.top : self.top + part.shape[0], self.left : self.left + part.shape[1]] = part
        x1, y1 = self.left + int(cols[0]), self.top + int(rows[0])
        return PersonBlob(mask, (x1, y1, self.left + int(cols[-1]) + 1, self.top + int(rows[-1]) + 1), faces)


def _split(
    component: BoolArray,
    window: _Window,
    people: list[list[int]],
    boxes: Sequence[tuple[float, float, float, float]],
) -> list[BoolArray]:
    """Each pixel of a blob to one person: among the people whose body could reach it (face above
    it, within `_BODY_WIDTH` face widths sideways), those of the front row (the lowest face, and any
    less than a face height above it: in a group photo the people in front hide those behind),
    else everyone; then the nearest in face widths. Cutting at the middles between faces painted
    a back-row face's colour down through the person in front of it (multi_face). `component` is
    the window's pixels; the parts returned are too."""
    cx = np.array([np.mean([(boxes[i][0] + boxes[i][2]) / 2 for i in g]) for g in people])
    cy = np.array([np.mean([(boxes[i][1] + boxes[i][3]) / 2 for i in g]) for g in people])
    fw = np.array([max(max(boxes[i][2] - boxes[i][0] for i in g), 1.0) for g in people])
    fh = np.array([max(max(boxes[i][3] - boxes[i][1] for i in g), 1.0) for g in people])
    height, width = component.shape
    xs = np.arange(width) + window.left
    dx = np.abs(xs[None, :] - cx[:, None]) / fw[:, None]  # (people, columns), in face widths
    # A pixel's choice depends on its row only through which faces are above it: one choice per
    # column for each band of rows between face centres (a few rows of people x columns instead
    # of people x pixels: 6 ms a split on hamilton before).
    band_of_row = np.searchsorted(np.sort(cy), np.arange(height) + window.top, side="right")
    choices = np.empty((len(people) + 1, width), np.intp)
    for band in np.unique(band_of_row):
        y = window.top + int(np.argmax(band_of_row == band))  # a row of the band
        reach = (dx < _BODY_WIDTH) & (y >= cy)[:, None]
        front_y = np.where(reach, cy[:, None], -np.inf).max(axis=0)
        front = reach & (cy[:, None] >= front_y[None, :] - fh[:, None])
        score = np.where(front, dx, np.inf)
        choices[band] = np.where(front.any(axis=0), score.argmin(axis=0), dx.argmin(axis=0))
    choice = choices[band_of_row]  # (rows, columns)
    return [component & (choice == index) for index in range(len(people))]


def _half_width(boxes: Sequence[tuple[float, float, float, float]], a: int, b: int) -> float:
    return max(boxes[a][2] - boxes[a][0], boxes[b][2] - boxes[b][0]) / 2


def iou(a: Box, b: Box) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass
class _Track:
    box: Box
    key: int
    missed: int = 0


@dataclass(frozen=True)
class TrackStart:
    """A track started `offset` updates after the tracker's start (0: on its first frame)."""

    offset: int
    key: int
    box: Box


@dataclass(frozen=True)
class TrackEnd:
    """A track still kept after the last update: its last box, seen `missed` updates ago."""

    key: int
    box: Box
    missed: int


class BlobTracker:
    """Gives each blob a colour key that stays with the person: greedy matching on box overlap to
    the previous frames' blobs (a person missing for up to `max_missed` frames keeps the key).
    A new track takes the id of its face when the caller gives one (so the colour follows the
    face track, and is the same in every chunk of a file), else a negative running number."""

    def __init__(self, min_iou: float = 0.2, max_missed: int = 15) -> None:
        self.min_iou, self.max_missed = min_iou, max_missed
        self._tracks: list[_Track] = []
        self._next = -1
        self.frames = 0  # updates so far
        # Tracks started in the first `max_missed + 1` updates: those a sequential run could have
        # continued from the frames before (a file's chunks, person_keys.py).
        self.early: list[TrackStart] = []

    @property
    def negatives(self) -> int:
        """How many negative keys were given (-1 .. -negatives)."""
        return -1 - self._next

    def alive(self) -> list[TrackEnd]:
        """The tracks kept now, with their last box."""
        return [TrackEnd(t.key, t.box, t.missed) for t in self._tracks]

    def update(self, boxes: Sequence[Box], face_keys: Sequence[Sequence[int]]) -> list[int]:
        """Colour keys of this frame's blobs; `face_keys[i]`: the track ids of blob i's faces
        (a person may carry two: a duplicate track on one face)."""
        pairs = sorted(
            ((iou(t.box, b), ti, bi) for ti, t in enumerate(self._tracks) for bi, b in enumerate(boxes)),
            reverse=True,
        )
        keys: list[int | None] = [None] * len(boxes)
        used: set[int] = set()
        for overlap, ti, bi in pairs:
            if overlap < self.min_iou:
                break
            if ti in used or keys[bi] is not None:
                continue
            track = self._tracks[ti]
            wanted = face_keys[bi]
            # A blob whose face tracks exclude the one this track follows is someone else.
            if wanted and track.key >= 0 and track.key not in wanted:
                continue
            used.add(ti)
            track.box, track.missed = boxes[bi], 0
            keys[bi] = track.key
        survivors = [t for ti, t in enumerate(self._tracks) if ti in used]
        for ti, track in enumerate(self._tracks):
            if ti not in used:
                track.missed += 1
                if track.missed <= self.max_missed:
                    survivors.append(track)
        for bi, box in enumerate(boxes):
            if keys[bi] is None:
                wanted = [k for k in face_keys[bi] if k >= 0]
                if wanted:
                    key = min(wanted)
                else:
                    key, self._next = self._next, self._next - 1
                survivors.append(_Track(box, key))
                keys[bi] = key
                if self.frames <= self.max_missed:
                    self.early.append(TrackStart(self.frames, key, box))
        self._tracks = survivors
        self.frames += 1
        return [k for k in keys if k is not None]
