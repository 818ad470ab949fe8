"""Pipeline events and sinks.

The recognition worker emits, per camera and in order: `track_started`, zero or more
`face_embedded`, `track_ended`. Sinks receive the same event objects in the order given,
so an enriching sink (the identity store) can add fields to `extra` before a writer sink
(JSON lines) serialises them. `face_embedded` carries the vector and crop for such sinks;
they are not written to JSON."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

from vigil.types import FaceEmbedding, FloatArray, Image


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class PipelineEvent:
    camera: str
    track_id: int
    ts: float  # wall-clock seconds since the epoch
    pts: float  # stream seconds
    extra: dict[str, Any] = field(default_factory=dict)
    type: str = "event"

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "camera": self.camera,
            "track_id": self.track_id,
            "ts": iso(self.ts),
            "pts": round(self.pts, 3),
            **self._fields(),
            **self.extra,
        }

    def _fields(self) -> dict[str, Any]:
        return {}


@dataclass
class TrackStarted(PipelineEvent):
    box: list[float] = field(default_factory=list)
    type: str = "track_started"

    def _fields(self) -> dict[str, Any]:
        return {"box": [round(v, 1) for v in self.box]}


@dataclass
class FaceEmbedded(PipelineEvent):
    quality: float = 0.0
    embedding: FaceEmbedding | None = None
    crop: Image | None = None
    box: FloatArray | None = None
    type: str = "face_embedded"

    def _fields(self) -> dict[str, Any]:
        assert self.embedding is not None
        return {
            "quality": round(self.quality, 4),
            "embedding_model": self.embedding.model,
            "embedding_dim": self.embedding.dim,
        }


@dataclass
class TrackEnded(PipelineEvent):
    frames: int = 0
    embeddings: int = 0
    best_quality: float = 0.0
    duration_s: float = 0.0
    best_crop: Image | None = None
    type: str = "track_ended"

    def _fields(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "embeddings": self.embeddings,
            "best_quality": round(self.best_quality, 4),
            "duration_s": round(self.duration_s, 3),
        }


class EventSink(Protocol):
    def handle(self, event: PipelineEvent) -> None: ...

    def close(self) -> None: ...


class JsonlSink:
    """One JSON object per line, flushed per event; safe to share between camera threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = path.open("a", encoding="utf-8", buffering=1)
        self._lock = threading.Lock()

    def handle(self, event: PipelineEvent) -> None:
        line = json.dumps(event.to_dict(), ensure_ascii=False)
        with self._lock:
            self._file.write(line + "\n")

    def close(self) -> None:
        with self._lock:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()


class MemorySink:
    """Keeps events in a list (tests, benchmarks, the future live view)."""

    def __init__(self) -> None:
        self.events: list[PipelineEvent] = []
        self._lock = threading.Lock()

    def handle(self, event: PipelineEvent) -> None:
        with self._lock:
            self.events.append(event)

    def close(self) -> None:
        pass
