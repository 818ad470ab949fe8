"""Hard-cut detection core: a frame signature, its content score and the adaptive cut rule.

The measure and rule of batch's shot detector (`vigil.batch.shots`) and live's (`vigil.live.cuts`):
PySceneDetect's "content" value — the mean absolute difference of hue, saturation and value
between two consecutive frames — on a 48x27 HSV thumbnail scaled with area averaging. A cut is a
score of at least `min_score` that is also `ratio` times the mean of the previous `window` scores,
so a hand-held or fast-zooming shot raises its own bar.

The rule is only valid on consecutive decoded frames (29.97 fps hamilton: in-shot scores <= 14,
its three cuts 35-39). Between frames 1/5 s apart a fast zoom scores 15-28, as much as a cut;
that is why live scores every decoded frame in the decode thread (`vigil.live.cuts`), not the
sampled ones.
"""

from __future__ import annotations

from collections import deque

import cv2
import numpy as np
import numpy.typing as npt

from vigil.types import Image

THUMB_SIZE = (48, 27)  # width, height: 16:9 at a size where noise and small motion average out
MIN_CUT_SCORE = 15.0
CUT_RATIO = 3.0
CUT_WINDOW = 8

FrameSignature = npt.NDArray[np.uint8]  # (27, 48, 3) HSV, OpenCV ranges (H 0..179)


def signature(rgb_thumb: Image) -> FrameSignature:
    """The HSV signature of an RGB thumbnail of THUMB_SIZE."""
    return np.asarray(cv2.cvtColor(np.ascontiguousarray(rgb_thumb), cv2.COLOR_RGB2HSV), dtype=np.uint8)


def content_score(previous: FrameSignature, current: FrameSignature) -> float:
    """Mean absolute HSV difference (hue on its circle), 0..~170."""
    diff = np.abs(current.astype(np.int16) - previous.astype(np.int16))
    hue = diff[..., 0]
    diff[..., 0] = np.minimum(hue, 180 - hue)
    return float(diff.mean())


class CutDetector:
    """Feed each decoded frame's signature in order; `update` is True when that frame starts a
    new shot (never for the first frame). Not thread-safe: one stream, one thread."""

    def __init__(
        self, min_score: float = MIN_CUT_SCORE, ratio: float = CUT_RATIO, window: int = CUT_WINDOW
    ) -> None:
        self._min, self._ratio = min_score, ratio
        self._scores: deque[float] = deque(maxlen=window)
        self._previous: FrameSignature | None = None
        self.last_score = 0.0

    def update(self, current: FrameSignature) -> bool:
        previous, self._previous = self._previous, current
        if previous is None or previous.shape != current.shape:
            return False
        score = self.last_score = content_score(previous, current)
        history = float(np.mean(self._scores)) if self._scores else 0.0
        cut = score >= self._min and score >= self._ratio * history
        # A cut's score would raise the bar for the next few frames of the new shot.
        self._scores.append(min(score, history) if cut else score)
        return cut
