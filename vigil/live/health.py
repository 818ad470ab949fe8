"""Per-source health, written by the camera's decode thread and read as snapshots."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from vigil.live.counters import RateMeter
from vigil.live.events import iso
from vigil.redact import redact


class SourceState(StrEnum):
    STARTING = "starting"
    CONNECTING = "connecting"
    RUNNING = "running"
    RECONNECTING = "reconnecting"
    FINISHED = "finished"  # a file reached its end
    FAILED = "failed"  # will not retry (missing/corrupt file, bad config)
    STOPPED = "stopped"


@dataclass
class SourceHealth:
    camera: str
    url: str
    kind: str
    state: SourceState = SourceState.STARTING
    reconnects: int = 0
    last_frame_ts: float | None = None
    last_error: str | None = None
    # Ticked per decoded / analysed frame; rates are computed only when a snapshot is read.
    decoded: RateMeter = field(default_factory=RateMeter)
    analysed: RateMeter = field(default_factory=RateMeter)

    def snapshot(self) -> HealthSnapshot:
        return HealthSnapshot(
            camera=self.camera,
            url=redact(self.url),
            kind=self.kind,
            state=self.state,
            reconnects=self.reconnects,
            last_frame_ts=self.last_frame_ts,
            last_error=self.last_error,  # redacted where it is set (live/decode.py)
            input_fps=round(self.decoded.rate(), 2),
            analysed_fps=round(self.analysed.rate(), 2),
        )


@dataclass(frozen=True)
class HealthSnapshot:
    """A source's health at one moment; turned into strings only at the HTTP/CLI edge (`to_dict`)."""

    camera: str
    url: str  # credentials hidden
    kind: str
    state: SourceState
    reconnects: int
    last_frame_ts: float | None  # wall time of the newest decoded frame
    last_error: str | None
    input_fps: float
    analysed_fps: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "camera": self.camera,
            "url": self.url,
            "kind": self.kind,
            "state": self.state.value,
            "reconnects": self.reconnects,
            "last_frame_at": iso(self.last_frame_ts) if self.last_frame_ts else None,
            "last_error": self.last_error,
            "input_fps": self.input_fps,
            "analysed_fps": self.analysed_fps,
        }
