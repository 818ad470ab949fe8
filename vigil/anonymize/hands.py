"""Hands as polygons to keep out of the clothes mask: MediaPipe Hands (legacy solution in the
`mediapipe==0.10.14` wheel, lite model). About 30 ms a call here whatever the frame size (its
palm detector works at 192x192), so it runs every `every` frames and its hulls are held between."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from vigil.errors import ModelError
from vigil.mediapipe_lazy import import_mediapipe
from vigil.native_logs import reset_quietly, started_quietly
from vigil.types import Image, IntArray

# The hull of the 21 landmarks runs through the finger joints and tips: grown from its centre so
# the edges of fingers and the palm's heel are inside too, and more while held (hands move).
_GROW = 1.3
_GROW_HELD = 1.5
_WRIST, _MIDDLE_BASE = 0, 9
_PALM_BASE = (0, 1, 5, 17)


class HandFinder:
    """Hand hulls (int32 polygons, frame pixels) of BGR frames, one call per frame in order."""

    def __init__(self, every: int = 3, max_hands: int = 4, input_width: int = 640) -> None:
        import_mediapipe()  # slow import, only when used
        from mediapipe.python.solutions import hands

        self.every, self.input_width = every, input_width
        try:
            self._mp: Any = started_quietly(
                lambda: hands.Hands(
                    static_image_mode=False,
                    max_num_hands=max_hands,
                    model_complexity=0,
                    min_detection_confidence=0.5,
                )
            )
        except (OSError, RuntimeError, ValueError) as exc:  # the model files are in the mediapipe wheel
            raise ModelError(f"cannot start MediaPipe Hands: {exc}") from exc
        self._frame = 0
        self._held: list[np.ndarray[Any, Any]] = []  # landmarks (21, 2), frame pixels
        self.calls = 0

    def hulls(self, image: Image) -> list[IntArray]:
        height, width = image.shape[:2]
        fresh = self._frame % self.every == 0
        self._frame += 1
        if fresh:
            self.calls += 1
            scale = min(1.0, self.input_width / width)
            small = (
                image
                if scale == 1.0
                else cv2.resize(
                    image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA
                )
            )
            result = self._mp.process(cv2.cvtColor(small, cv2.COLOR_BGR2RGB))
            self._held = [
                np.array([(p.x * width, p.y * height) for p in hand.landmark], np.float32)
                for hand in (result.multi_hand_landmarks or [])
            ]
        grow = _GROW if fresh else _GROW_HELD
        out: list[IntArray] = []
        for points in self._held:
            # The wrist: the base of the palm carried half a palm's length down the forearm.
            down = (points[_WRIST] - points[_MIDDLE_BASE]) * 0.5
            points = np.vstack([points, points[list(_PALM_BASE)] + down])
            centre = points.mean(axis=0)
            hull = cv2.convexHull((centre + (points - centre) * grow).astype(np.float32))
            out.append(np.round(hull).astype(np.int32))
        return out

    def reset(self) -> None:
        """Back to the state of a new finder (the model kept): hands looked for on the next frame,
        MediaPipe's tracking between frames restarted."""
        reset_quietly(self._mp)  # MediaPipe's tracking restarted with its graph
        self._frame = 0
        self._held = []

    def close(self) -> None:
        self._mp.close()
