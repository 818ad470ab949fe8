"""Per-source health, written by the camera's decode thread and read as snapshots."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from vigil.runtime.events import iso


class SourceState(StrEnum):
    STARTING = "starting"
    CONNECTING = "connecting"
    RUNNING = "running"
    RECONNECTING = "reconnecting"
    FINISHED = "finished"  # a file reached its end
    FAILED = "failed"  # will not retry (missing/corrupt file, bad config)
    STOPPED = "stopped"


def redact(url: str) -> str:
    """Hide credentials in URLs shown to operators (rtsp://user:pass@host -> rtsp://***@host)."""
    return re.sub(r"(?<=://)[^/@]+@", "***@", url)


@dataclass
class SourceHealth:
    camera: str
    url: str
    kind: str
    state: SourceState = SourceState.STARTING
    reconnects: int = 0
    last_frame_ts: float | None = None
    last_error: str | None = None
    input_fps: float = 0.0
    analysed_fps: float = 0.0

    def snapshot(self) -> dict[str, Any]:
        return {
            "camera": self.camera,
            "url": redact(self.url),
            "kind": self.kind,
            "state": self.state.value,
            "reconnects": self.reconnects,
            "last_frame_at": iso(self.last_frame_ts) if self.last_frame_ts else None,
            "last_error": self.last_error,
            "input_fps": round(self.input_fps, 2),
            "analysed_fps": round(self.analysed_fps, 2),
        }
