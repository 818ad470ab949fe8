"""Hands and where they are: at the ear (a phone), at the mouth (eating, drinking), in front of
the chest or face (holding a book, a cup, a phone).

Hands come from two sources: the pose's wrist/pinky/index/thumb points (free with every pose)
and MediaPipe Tasks' HandLandmarker (`hand_landmarker.task`, 21 points per hand, ~23 ms), run
only when a hand may be near the face, on a crop around the head so that the hands there are
large for its palm detector. Distances are in face widths, so the cues do not depend on how
far the person is from the camera."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from vigil.errors import ModelError
from vigil.mediapipe_lazy import import_mediapipe
from vigil.native_logs import quiet_native_startup
from vigil.types import FloatArray, Image

__all__ = ["HAND_LANDMARKER_FILENAME", "HandFinder", "HandPlaces", "Landmarks", "hand_places"]

HAND_LANDMARKER_FILENAME: Final = "hand_landmarker.task"

AT_EAR: Final = 0.6  # a hand point within this many face widths of an ear
AT_MOUTH: Final = 0.5  # ... of the mouth
NEAR_FACE: Final = 2.0  # a pose hand within this many face widths of the face: worth a closer look


@dataclass(frozen=True)
class Landmarks:
    """Where the face and torso are, in pixels: what hand places are measured against."""

    face_width: float  # the distance unit
    mouth: FloatArray
    ears: tuple[FloatArray, FloatArray]
    eyes_y: float
    shoulders: tuple[FloatArray, FloatArray] | None = None
    hips_y: float | None = None


@dataclass(frozen=True)
class HandPlaces:
    at_ear: bool = False
    at_mouth: bool = False
    in_front: bool = False


def hand_places(hands: Sequence[FloatArray], where: Landmarks) -> HandPlaces:
    """Places of `hands` ((K, 2) point arrays in pixels) relative to `where`."""
    unit = max(where.face_width, 1.0)
    at_ear = at_mouth = in_front = False
    for hand in hands:
        to_mouth = float(np.min(np.linalg.norm(hand - where.mouth, axis=1))) / unit
        to_ear = min(float(np.min(np.linalg.norm(hand - ear, axis=1))) for ear in where.ears) / unit
        at_mouth |= to_mouth < AT_MOUTH
        # Beside the head, not in front of the mouth: a hand held to the ear.
        at_ear |= to_ear < AT_EAR and to_ear < to_mouth
        in_front |= _in_front(np.asarray(hand.mean(axis=0)), where)
    return HandPlaces(at_ear=at_ear, at_mouth=at_mouth, in_front=in_front)


def _in_front(centre: FloatArray, where: Landmarks) -> bool:
    """Between the shoulders (+ half a face width) and from the eyes down to the lower chest."""
    unit = where.face_width
    x, y = float(centre[0]), float(centre[1])
    if where.shoulders is not None:
        left, right = where.shoulders
        lo, hi = min(left[0], right[0]) - 0.5 * unit, max(left[0], right[0]) + 0.5 * unit
        shoulders_y = float(left[1] + right[1]) / 2
        bottom = (
            shoulders_y + 0.6 * (where.hips_y - shoulders_y) if where.hips_y else shoulders_y + 2.0 * unit
        )
    else:  # no torso: around the face, down to where the chest would be
        cx = float(where.ears[0][0] + where.ears[1][0]) / 2
        lo, hi = cx - 1.5 * unit, cx + 1.5 * unit
        bottom = where.eyes_y + 3.0 * unit
    return lo <= x <= hi and where.eyes_y - 0.5 * unit <= y <= bottom


def near_face(hands: Sequence[FloatArray], where: Landmarks) -> bool:
    """Any pose hand point within NEAR_FACE face widths of the mouth."""
    unit = max(where.face_width, 1.0)
    return any(float(np.min(np.linalg.norm(h - where.mouth, axis=1))) / unit < NEAR_FACE for h in hands)


class HandFinder:
    """HandLandmarker in IMAGE mode on a region of the frame (up to 2 hands)."""

    def __init__(self, model: Path, num_hands: int = 2, min_confidence: float = 0.4) -> None:
        mp = import_mediapipe()  # slow import, only when used
        from mediapipe.tasks.python import BaseOptions, vision

        options = vision.HandLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(model)),
            running_mode=vision.RunningMode.IMAGE,
            num_hands=num_hands,
            min_hand_detection_confidence=min_confidence,
            min_hand_presence_confidence=min_confidence,
        )
        try:
            with quiet_native_startup():
                self._landmarker: Any = vision.HandLandmarker.create_from_options(options)
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"cannot load the hand landmarker {model}: {exc}") from exc
        self._mp = mp

    def hands(self, image_rgb: Image, region: tuple[int, int, int, int] | None = None) -> list[FloatArray]:
        """The (21, 2) landmarks of each hand found in `region`, in the frame's pixels."""
        height, width = image_rgb.shape[:2]
        x0, y0, x1, y1 = region or (0, 0, width, height)
        crop = np.ascontiguousarray(image_rgb[y0:y1, x0:x1])
        if crop.shape[0] < 16 or crop.shape[1] < 16:
            return []
        result = self._landmarker.detect(self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=crop))
        ch, cw = crop.shape[:2]
        return [
            np.array([(p.x * cw + x0, p.y * ch + y0) for p in landmarks], np.float64)
            for landmarks in result.hand_landmarks
        ]

    def close(self) -> None:
        self._landmarker.close()
