"""The face-embedder interface and the crop handed to it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict

from vigil.types import FaceEmbedding, FloatArray, Image


@dataclass(frozen=True)
class FaceCrop:
    """A face cut from a frame with a margin; `box`/`landmarks` are in crop coordinates."""

    image: Image
    box: FloatArray
    landmarks: FloatArray | None

    @classmethod
    def cut(
        cls, frame: Image, box: FloatArray, landmarks: FloatArray | None, margin: float = 0.5
    ) -> FaceCrop:
        """Copy the face plus `margin` x its size on each side (alignment needs context)."""
        height, width = frame.shape[:2]
        w, h = box[2] - box[0], box[3] - box[1]
        x0 = int(max(0, np.floor(box[0] - margin * w)))
        y0 = int(max(0, np.floor(box[1] - margin * h)))
        x1 = int(min(width, np.ceil(box[2] + margin * w)))
        y1 = int(min(height, np.ceil(box[3] + margin * h)))
        offset = np.array([x0, y0], np.float32)
        return cls(
            image=np.ascontiguousarray(frame[y0:y1, x0:x1]),
            box=(box.reshape(2, 2) - offset).reshape(4),
            landmarks=None if landmarks is None else landmarks - offset,
        )


class FaceEmbedder(ABC):
    """Turns an aligned face into an L2-normalised vector. Implementations are thread-safe."""

    name: str
    dim: int

    @abstractmethod
    def embed(self, crop: FaceCrop) -> FaceEmbedding:
        """One vector for one face."""

    def close(self) -> None:  # noqa: B027 - optional hook, most embedders hold nothing to release
        """Release resources (child processes, sessions); the default has none."""

    def _wrap(self, vector: FloatArray) -> FaceEmbedding:
        return FaceEmbedding(vector=vector, model=self.name)


class EmbedderConfigBase(BaseModel):
    """Each embedder module subclasses it with a `type` literal and its own keys; the registry
    (`vigil.embed.registry`) is derived from the subclasses."""

    model_config = ConfigDict(extra="forbid")

    type: str

    def create(self, use_gpu: bool) -> FaceEmbedder:
        """The embedder these settings describe, in this process."""
        raise NotImplementedError(f"{type(self).__name__} must implement create()")

    def vector_model(self) -> str | None:
        """The model name its vectors will carry, known without loading any weights (None when only
        the loaded model can tell): lets a server check model-dependent settings at start."""
        return None
