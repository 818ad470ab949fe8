"""Live segments into the activity history (the `activity_segments` table): the camera's open
segment grows while its activity lasts (`extend`), a new activity closes it, and the camera's
stop closes the last one."""

from __future__ import annotations

from datetime import UTC, datetime

from vigil.activity.history import NewSegment
from vigil.activity.live import LiveSegment, SegmentSink
from vigil.activity.repository import ActivityRepository
from vigil.store.database import Database

__all__ = ["store_sink"]


def store_sink(db: Database) -> SegmentSink:
    repository = ActivityRepository(db)

    def record(segment: LiveSegment) -> None:
        ended = datetime.fromtimestamp(segment.end, UTC)
        repository.extend(
            NewSegment(
                camera=segment.camera,
                activity=segment.activity,
                started_at=datetime.fromtimestamp(segment.start, UTC),
                ended_at=ended,
                confidence=segment.confidence,
                cues=segment.cues,
                source="live",
            )
        )
        if segment.final:
            repository.close(segment.camera, ended)

    return record
