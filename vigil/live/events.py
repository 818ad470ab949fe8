"""Pipeline events and sinks.

The recognition worker emits, per camera and in order: `track_started`, zero or more
`face_embedded`, `track_ended`. Before a `face_embedded` reaches any sink, the worker's
`Identifier` (the identity store) has set its typed `identity` (or `identity_error`), so sinks
are plain observers whose order does not matter. `face_embedded` carries the vector and crop
for sinks that need them, and the analysed frame it was cut from (`SourceFrame`, shared, not
copied, and let go once every sink had it); none of them is written to JSON."""

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


@dataclass(frozen=True)
class IdentityMatch:
    """Which visitor a track's face was assigned to."""

    visitor_id: str
    similarity: float | None  # to the visitor's prototype; None for a new visitor
    new_visitor: bool
    moved_from: str | None = None  # a better embedding moved the track from this visitor

    def to_dict(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "visitor_id": self.visitor_id,
            "similarity": None if self.similarity is None else round(self.similarity, 4),
            "new_visitor": self.new_visitor,
        }
        return fields if self.moved_from is None else {**fields, "moved_from": self.moved_from}


@dataclass(frozen=True)
class SourceFrame:
    """The analysed frame a face was cut from and the face's box in it (x1, y1, x2, y2).

    The pipeline's own frame, not a copy (frames are never modified once decoded): the watchlist
    draws an alert's snapshot from it. The recognition worker lets go of it once every sink has
    handled the event, so sinks use it inside `handle` only."""

    image: Image
    box: FloatArray


@dataclass
class PipelineEvent:
    camera: str
    track_id: int
    ts: float  # wall-clock seconds since the epoch
    pts: float  # stream seconds
    type: str = "event"

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "camera": self.camera,
            "track_id": self.track_id,
            "ts": iso(self.ts),
            "pts": round(self.pts, 3),
            **self._fields(),
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
    box: FloatArray | None = None  # in the crop's coordinates
    source: SourceFrame | None = None  # the whole frame, during the sinks' `handle` only
    identity: IdentityMatch | None = None  # set by the worker's Identifier before any sink
    identity_error: str | None = None  # the Identifier failed (store down): no identity
    type: str = "face_embedded"

    def _fields(self) -> dict[str, Any]:
        assert self.embedding is not None
        fields: dict[str, Any] = {
            "quality": round(self.quality, 4),
            "embedding_model": self.embedding.model,
            "embedding_dim": self.embedding.dim,
        }
        if self.identity is not None:
            fields.update(self.identity.to_dict())
        if self.identity_error is not None:
            fields["store_error"] = self.identity_error
        return fields


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


class Identifier(EventSink, Protocol):
    """Assigns identities: the worker calls `identify` on each `face_embedded` before the sinks,
    and `handle` with every event (as a sink, e.g. to store a track's best crop at its end)."""

    def identify(self, event: FaceEmbedded) -> IdentityMatch | None: ...


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
