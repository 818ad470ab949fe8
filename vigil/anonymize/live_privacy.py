"""Live privacy mode: the dashboard's live picture with faces covered for some roles.

Settings say, per camera (a default plus overrides by camera name), which roles see faces
covered; operators and admins see the picture clear unless told otherwise. The faces come from
the pipeline's own result on the analysed frame the picture shows (`LatestResult`): nothing is
decoded or detected again.

What gets covered on a frame (`HeldFaces`):
- every face the detector found on it, tracked or not (a new face has no track id before its
  second detection) and inside dead zones too;
- the last box of each face seen in the last `hold_s` seconds of the same shot that the detector
  missed on this frame (the tracker's coasting boxes are not exposed, so the box is held where it
  was last seen, not predicted);
- the whole frame when its faces were not searched (the overlay's empty result at a cut).
Bodies too when `persons.style` asks for it: the file pipeline's `PersonAnonymizer`, one per camera,
run before the faces are covered (hamilton 640x360 under load: silhouette 16.6 ms median per
covered frame, recolor 29.8 ms; about 1 s to load on a camera's first covered frame).

Limits: a face the detector never found (too small, too turned, below the detector's threshold)
and a face that moves out of its held box before it is found again are not covered. Held boxes
are only learnt from frames somebody of a covered audience asked for."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from vigil.anonymize.person_options import PersonOptions
from vigil.anonymize.styles import FaceRegion, FaceStyle, cover_faces
from vigil.store.roles import Role
from vigil.types import Detections, FloatArray, Frame, Image

if TYPE_CHECKING:  # mediapipe loads only when bodies are asked for
    from vigil.anonymize.persons import PersonAnonymizer

SAME_FACE_IOU = 0.3  # a held box overlapping a face found on this frame this much is that face


class LivePrivacyConfig(BaseModel):
    """Which roles see faces covered in the live picture, per camera, and how."""

    model_config = ConfigDict(extra="forbid")

    covered_roles: list[Role] = Field(
        default_factory=list,
        description="Roles that see faces covered on every camera not listed in `cameras` "
        '(e.g. ["viewer"]); empty: everyone sees the picture clear',
    )
    cameras: dict[str, list[Role]] = Field(
        default_factory=dict,
        description="Camera name -> the roles that see its faces covered, instead of `covered_roles`",
    )
    style: FaceStyle = Field(
        "blur", description="blur, pixelate, solid, or mask (an ellipse on the landmarks)"
    )
    # The files' default (anonymize/settings.py): at 0.25 the chin, ears and hair left outside the
    # box keep a blurred patch face-shaped enough for other detectors (docs/anonymize.md, padding).
    pad: float = Field(
        0.4, ge=0, le=2, description="Grow each face box by this fraction of its size on every side"
    )
    hold_s: float = Field(
        1.0,
        ge=0,
        le=10,
        description="Keep covering a face's last box this long after the detector last found it "
        "(same shot only)",
    )

    persons: PersonOptions = Field(
        default_factory=PersonOptions,
        description="Bodies and clothes in the covered picture, as anonymize.persons (style none: "
        "left as they are)",
    )

    def covered(self, camera: str, role: Role) -> bool:
        """Whether `role` sees the faces of camera `camera` covered."""
        return role in self.roles(camera)

    def roles(self, camera: str) -> list[Role]:
        """The roles that see the faces of camera `camera` covered."""
        return self.cameras.get(camera, self.covered_roles)


@dataclass(frozen=True)
class _Seen:
    ts: float
    box: tuple[float, float, float, float]
    landmarks: FloatArray | None


class HeldFaces:
    """One camera's recent faces, to cover the ones the detector misses for a moment.

    Not thread-safe on its own: `LivePrivacy` serialises calls per camera."""

    def __init__(self, hold_s: float) -> None:
        self.hold_s = hold_s
        self._shot: int | None = None
        self._last_ts = float("-inf")
        self._tracks: dict[int, _Seen] = {}  # track id -> its last face
        self._untracked: list[_Seen] = []  # faces without a track id yet

    def regions(
        self, ts: float, shot: int, faces: Detections | None, tracked: Detections
    ) -> list[FaceRegion] | None:
        """The faces to cover on the frame captured at `ts` in shot `shot`, whose detector found
        `faces` (None: not searched) and whose tracker kept `tracked`; None means the whole frame."""
        if faces is None:
            return None
        if shot != self._shot:  # nothing seen before a cut can be on this frame
            self._shot, self._tracks, self._untracked = shot, {}, []
        # The tracker's boxes are rows of the detector's: add only those it does not hold.
        current = _regions(faces) + [
            region for region in _regions(tracked) if _max_iou(region.box, faces.xyxy.reshape(-1, 4)) < 0.9
        ]
        boxes = np.array([r.box for r in current], np.float32).reshape(-1, 4)
        now_tracked = {int(t) for t in tracked.track_id if t >= 0}
        held = [
            seen
            for track, seen in self._tracks.items()
            if track not in now_tracked and ts - seen.ts <= self.hold_s
        ] + [seen for seen in self._untracked if ts - seen.ts <= self.hold_s]
        held = [seen for seen in held if _max_iou(seen.box, boxes) < SAME_FACE_IOU]
        if ts >= self._last_ts:  # learn from new frames only (a slow viewer may ask an older one)
            self._last_ts = ts
            self._learn(ts, faces, tracked, held)
        return current + [FaceRegion(seen.box, seen.landmarks) for seen in held]

    def _learn(self, ts: float, faces: Detections, tracked: Detections, held: list[_Seen]) -> None:
        tracked_boxes = tracked.xyxy.reshape(-1, 4)
        for row in range(len(tracked)):
            track = int(tracked.track_id[row])
            if track >= 0:
                self._tracks[track] = _seen(ts, tracked, row)
        untracked = [
            _seen(ts, faces, row)
            for row in range(len(faces))
            if _max_iou(_box(faces, row), tracked_boxes) < 0.9
        ]
        kept = {id(seen) for seen in held}
        still_held = [seen for seen in self._untracked if id(seen) in kept]
        self._untracked = untracked + still_held
        self._tracks = {t: s for t, s in self._tracks.items() if ts - s.ts <= self.hold_s}


class LivePrivacy:
    """The live privacy mode of every camera: who is covered, and per camera its held faces and,
    when bodies are covered too, its person anonymiser (stateful: a person keeps its colour)."""

    def __init__(self, config: LivePrivacyConfig, models_dirs: Sequence[Path] = ()) -> None:
        self.config = config
        self.models_dirs = list(models_dirs)
        self._held: dict[int, HeldFaces] = {}
        self._persons: dict[int, PersonAnonymizer] = {}
        self._locks: dict[int, threading.Lock] = {}
        self._guard = threading.Lock()

    def covered(self, camera: str, role: Role) -> bool:
        return self.config.covered(camera, role)

    def cover(
        self, camera_id: int, image: Image, frame: Frame, faces: Detections | None, tracked: Detections
    ) -> Image:
        """Covers, in place on `image` (`frame`'s picture, maybe scaled down), the faces of
        `frame` (see `HeldFaces.regions`; all of it when they were not searched) and the bodies
        when `persons.style` asks for it."""
        with self._guard:
            held = self._held.setdefault(camera_id, HeldFaces(self.config.hold_s))
            lock = self._locks.setdefault(camera_id, threading.Lock())
        config = self.config
        with lock:  # one camera's memory and anonymiser, one frame at a time
            regions = held.regions(frame.wall_ts, frame.shot, faces, tracked)
            if regions is None:
                height, width = image.shape[:2]
                whole = [FaceRegion((0.0, 0.0, float(width), float(height)))]
                return cover_faces(image, whole, "solid" if config.style == "mask" else config.style, pad=0.0)
            regions = scaled(regions, image.shape[1] / frame.image.shape[1])
            if config.persons.style != "none":
                self._person_anonymizer(camera_id).apply(image, regions)  # before: it samples face skin
            return cover_faces(image, regions, config.style, config.pad)

    def forget(self, camera_id: int) -> None:
        with self._guard:
            self._held.pop(camera_id, None)
            lock = self._locks.pop(camera_id, None)
            anonymizer = self._persons.pop(camera_id, None)
        if anonymizer is not None:
            with lock or threading.Lock():  # not while a frame of this camera is being covered
                anonymizer.close()

    def _person_anonymizer(self, camera_id: int) -> PersonAnonymizer:
        with self._guard:
            found = self._persons.get(camera_id)
        if found is None:
            from vigil.anonymize.persons import PersonAnonymizer

            found = PersonAnonymizer(self.config.persons, self.models_dirs)
            with self._guard:
                self._persons[camera_id] = found
        return found


def scaled(regions: Sequence[FaceRegion], factor: float) -> list[FaceRegion]:
    """Regions in the coordinates of the frame resized by `factor`."""
    return [
        FaceRegion(
            (r.box[0] * factor, r.box[1] * factor, r.box[2] * factor, r.box[3] * factor),
            None if r.landmarks is None else r.landmarks * factor,
        )
        for r in regions
    ]


def _box(detections: Detections, row: int) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (float(v) for v in detections.xyxy[row])
    return x1, y1, x2, y2


def _seen(ts: float, detections: Detections, row: int) -> _Seen:
    landmarks = None if detections.landmarks is None else detections.landmarks[row].copy()
    return _Seen(ts, _box(detections, row), landmarks)


def _regions(detections: Detections) -> list[FaceRegion]:
    return [
        FaceRegion(_box(detections, row), None if detections.landmarks is None else detections.landmarks[row])
        for row in range(len(detections))
    ]


def _max_iou(box: tuple[float, float, float, float], others: FloatArray) -> float:
    if len(others) == 0:
        return 0.0
    x1 = np.maximum(box[0], others[:, 0])
    y1 = np.maximum(box[1], others[:, 1])
    x2 = np.minimum(box[2], others[:, 2])
    y2 = np.minimum(box[3], others[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    return float((inter / np.maximum(area + areas - inter, 1e-6)).max())
