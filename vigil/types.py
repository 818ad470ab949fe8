"""Value types passed between pipeline stages.

`Detections` follows supervision's design: parallel arrays, validated once on
construction, so every stage can trust shapes and dtypes without re-checking.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

# Loose aliases on purpose: OpenCV/PyAV return arrays of unknown dtype; `Detections` and
# `FaceEmbedding` check and convert at runtime instead.
FloatArray = npt.NDArray[Any]  # float32 after validation
IntArray = npt.NDArray[Any]  # int64 after validation
Image = npt.NDArray[Any]  # uint8 BGR, H x W x 3


@dataclass(frozen=True)
class Frame:
    """A decoded BGR frame with its stream timestamp and wall-clock capture time.

    `shot` counts the hard cuts (and file loop points) the decoder saw before this frame: two
    analysed frames of different shots cannot show the same face track."""

    image: Image
    pts: float
    wall_ts: float
    index: int
    shot: int = 0


@dataclass
class Detections:
    """N faces: boxes `xyxy` (N,4), `score` (N,), optional `landmarks` (N,K,2),
    `track_id` (N,) with -1 for untracked, `quality` (N,) with NaN when not scored, and `data`:
    extra per-row arrays (N,...) by name that travel with their rows through indexing, as in
    supervision's `Detections.data`."""

    xyxy: FloatArray
    score: FloatArray
    landmarks: FloatArray | None = None
    track_id: IntArray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    quality: FloatArray = field(default_factory=lambda: np.empty(0, dtype=np.float32))
    data: dict[str, npt.NDArray[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.xyxy)
        self.xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(n, 4)
        self.score = np.asarray(self.score, dtype=np.float32).reshape(n)
        if self.landmarks is not None:
            self.landmarks = np.asarray(self.landmarks, dtype=np.float32)
            if self.landmarks.ndim != 3 or self.landmarks.shape[0] != n or self.landmarks.shape[2] != 2:
                raise ValueError(f"landmarks must be (N,K,2) with N={n}, got {self.landmarks.shape}")
        if len(self.track_id) == 0:
            self.track_id = np.full(n, -1, dtype=np.int64)
        self.track_id = np.asarray(self.track_id, dtype=np.int64).reshape(n)
        if len(self.quality) == 0:
            self.quality = np.full(n, np.nan, dtype=np.float32)
        self.quality = np.asarray(self.quality, dtype=np.float32).reshape(n)
        self.data = {key: np.asarray(values) for key, values in self.data.items()}
        for key, values in self.data.items():
            if values.ndim == 0 or values.shape[0] != n:
                raise ValueError(f"data[{key!r}] must have one row per detection ({n}), got {values.shape}")

    @classmethod
    def empty(cls, landmark_count: int | None = None) -> Detections:
        lm = None if landmark_count is None else np.empty((0, landmark_count, 2), np.float32)
        return cls(np.empty((0, 4), np.float32), np.empty(0, np.float32), lm)

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: npt.NDArray[np.bool_] | npt.NDArray[np.intp] | slice) -> Detections:
        return Detections(
            xyxy=self.xyxy[index],
            score=self.score[index],
            landmarks=None if self.landmarks is None else self.landmarks[index],
            track_id=self.track_id[index],
            quality=self.quality[index],
            data={key: values[index] for key, values in self.data.items()},
        )

    def scaled(self, factor: float) -> Detections:
        """Coordinates multiplied by `factor` (maps a resized frame back to the original)."""
        return Detections(
            xyxy=self.xyxy * factor,
            score=self.score,
            landmarks=None if self.landmarks is None else self.landmarks * factor,
            track_id=self.track_id,
            quality=self.quality,
            data=self.data,
        )


@dataclass(frozen=True)
class FaceEmbedding:
    """An L2-normalised face vector and the model that produced it.

    Vectors of different `model` values are never comparable."""

    vector: FloatArray
    model: str

    def __post_init__(self) -> None:
        vec = np.asarray(self.vector, dtype=np.float32).reshape(-1)
        norm = float(np.linalg.norm(vec))
        if not np.isfinite(norm) or norm == 0.0:
            raise ValueError("embedding vector is zero or not finite")
        object.__setattr__(self, "vector", vec / norm)

    @property
    def dim(self) -> int:
        return int(self.vector.shape[0])
