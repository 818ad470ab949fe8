"""Body pose for the activity cues: MediaPipe Tasks' PoseLandmarker (`pose_landmarker_full.task`,
33 landmarks) in VIDEO mode, which follows the previous sample's body and runs its person
detector only when it lost it (37-40 ms per call here instead of 59 ms in IMAGE mode).

A `Body` keeps the landmarks in image pixels and answers the geometric questions the cues ask:
the person's box, how far the torso leans towards horizontal, where the head and hands are."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from vigil.errors import ModelError
from vigil.mediapipe_lazy import import_mediapipe
from vigil.native_logs import quiet_native_startup
from vigil.types import FloatArray, Image

__all__ = ["POSE_LANDMARKER_FILENAME", "Body", "PoseEstimator", "lying_score"]

POSE_LANDMARKER_FILENAME: Final = "pose_landmarker_full.task"

# MediaPipe pose landmark indices.
NOSE: Final = 0
HEAD: Final = tuple(range(11))  # nose, eyes, ears, mouth corners
EARS: Final = (7, 8)
MOUTH: Final = (9, 10)
SHOULDERS: Final = (11, 12)
HIPS: Final = (23, 24)
HANDS: Final = ((15, 17, 19, 21), (16, 18, 20, 22))  # left, right: wrist, pinky, index, thumb
VISIBLE: Final = 0.5  # MediaPipe's landmark visibility above which a point is trusted
# A "body" with fewer visible landmarks is no evidence of a person: on a close-up of a plate the
# model reports one with 0-2 visible points. A webcam's head and shoulders show 12-13.
MIN_VISIBLE: Final = 6


@dataclass(frozen=True)
class Body:
    """One person's 33 landmarks: `points` (33, 2) in pixels, `visibility` (33,) in 0..1."""

    points: FloatArray
    visibility: FloatArray
    frame_size: tuple[int, int]  # width, height

    def seen(self, *indices: int) -> bool:
        return bool(np.all(self.visibility[list(indices)] > VISIBLE))

    def box(self) -> tuple[float, float, float, float]:
        """The visible landmarks' box in pixels, grown by 10% (landmarks are joints, not the
        outline) and by a head's height above the eyes; clipped to the frame."""
        width, height = self.frame_size
        mask = self.visibility > VISIBLE
        xy = self.points[mask] if mask.any() else self.points
        x0, y0 = xy.min(axis=0)
        x1, y1 = xy.max(axis=0)
        pad_x, pad_y = 0.1 * (x1 - x0), 0.1 * (y1 - y0)
        head = self.head_size() or 0.0
        return (
            float(max(0.0, x0 - pad_x - 0.3 * head)),
            float(max(0.0, y0 - pad_y - 0.6 * head)),
            float(min(width, x1 + pad_x + 0.3 * head)),
            float(min(height, y1 + pad_y)),
        )

    def head_size(self) -> float | None:
        """Ear-to-ear distance in pixels (about the face's width), from the eyes when an ear is
        hidden; None when the head is not seen."""
        if self.seen(*EARS):
            return float(np.linalg.norm(self.points[7] - self.points[8]))
        if self.seen(2, 5):  # eye centres: ~0.45 of the face width apart
            return float(np.linalg.norm(self.points[2] - self.points[5])) / 0.45
        return None

    def head_centre(self) -> FloatArray | None:
        mask = self.visibility[list(HEAD)] > VISIBLE
        if mask.sum() < 3:
            return None
        return np.asarray(self.points[list(HEAD)][mask].mean(axis=0), np.float64)

    def shoulder_width(self) -> float | None:
        return float(np.linalg.norm(self.points[11] - self.points[12])) if self.seen(*SHOULDERS) else None

    def hands(self) -> list[FloatArray]:
        """The (4, 2) wrist/pinky/index/thumb points of each hand whose wrist is seen."""
        return [self.points[list(hand)] for hand in HANDS if self.seen(hand[0])]


def lying_score(body: Body) -> float:
    """0 for an upright torso .. 1 for a horizontal one: the angle from vertical of the hips-to-
    shoulders line (of the shoulders-to-nose line when the hips are hidden, as at a desk), / 90."""
    if not body.seen(*SHOULDERS):
        return 0.0
    top = body.points[list(SHOULDERS)].mean(axis=0)
    if body.seen(*HIPS):
        bottom = body.points[list(HIPS)].mean(axis=0)
        vector = top - bottom
    elif body.seen(NOSE):
        vector = body.points[NOSE] - top
    else:
        return 0.0
    length = float(np.linalg.norm(vector))
    if length < 1e-6:
        return 0.0
    # Upside down (head below hips, e.g. a yoga inversion) counts as far from upright too.
    angle = math.degrees(math.acos(max(-1.0, min(1.0, -float(vector[1]) / length))))
    return min(1.0, angle / 90.0)


class PoseEstimator:
    """PoseLandmarker in VIDEO mode: frames must come in time order (`t` in seconds), each one
    tracked from the last. `independent=True` is IMAGE mode instead, for unrelated pictures:
    every frame is searched afresh and `t` is ignored. Not thread-safe: one per extractor."""

    def __init__(
        self,
        model: Path,
        num_poses: int = 1,
        min_confidence: float = 0.5,
        min_visible: int = MIN_VISIBLE,
        independent: bool = False,
    ) -> None:
        mp = import_mediapipe()  # slow import, only when used
        from mediapipe.tasks.python import BaseOptions, vision

        options = vision.PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(model)),
            running_mode=vision.RunningMode.IMAGE if independent else vision.RunningMode.VIDEO,
            num_poses=num_poses,
            min_pose_detection_confidence=min_confidence,
            min_pose_presence_confidence=min_confidence,
            min_tracking_confidence=min_confidence,
        )
        self._options, self._model = options, model
        self._landmarker: Any = self._create()
        self._mp = mp
        self._last_ms = -1
        self._min_visible = min_visible
        self._independent = independent

    def _create(self) -> Any:
        from mediapipe.tasks.python import vision

        try:
            with quiet_native_startup():
                return vision.PoseLandmarker.create_from_options(self._options)
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"cannot load the pose landmarker {self._model}: {exc}") from exc

    def reset(self) -> None:
        """Forget the frames seen: VIDEO mode tracks and smooths from the previous frame, so a
        file's chunk would otherwise depend on the chunks its worker ran before (the graph is
        rebuilt, ~0.1 s; nothing to do when no frame was seen, nor in IMAGE mode)."""
        if self._last_ms < 0 or self._independent:
            return
        self._landmarker.close()
        self._landmarker = self._create()
        self._last_ms = -1

    def bodies(self, image_rgb: Image, t: float) -> list[Body]:
        height, width = image_rgb.shape[:2]
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=image_rgb)
        if self._independent:
            result = self._landmarker.detect(image)
        else:
            # VIDEO mode refuses a timestamp that does not increase.
            ms = max(round(t * 1000), self._last_ms + 1)
            self._last_ms = ms
            result = self._landmarker.detect_for_video(image, ms)
        bodies = []
        for landmarks in result.pose_landmarks:
            points = np.array([(p.x * width, p.y * height) for p in landmarks], np.float64)
            visibility = np.array([p.visibility or 0.0 for p in landmarks], np.float64)
            # A landmark outside the frame is a guess, whatever its visibility score says.
            inside = (
                (points[:, 0] >= 0) & (points[:, 0] < width) & (points[:, 1] >= 0) & (points[:, 1] < height)
            )
            visibility = np.where(inside, visibility, 0.0)
            if int((visibility > VISIBLE).sum()) >= self._min_visible:
                bodies.append(Body(points, visibility, (width, height)))
        return bodies

    def close(self) -> None:
        self._landmarker.close()
