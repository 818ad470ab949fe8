"""Live segments into the activity history (the `activity_segments` table): each segment of a
camera's run is one row, keyed by camera and start, written again as it grows; a new segment
closes the one before it (the lost run's too, after a restart), and the camera's stop closes the
last one (`ActivityRepository.record_live`)."""

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
        new = NewSegment(
            camera=segment.camera,
            activity=segment.activity,
            started_at=datetime.fromtimestamp(segment.start, UTC),
            ended_at=datetime.fromtimestamp(segment.end, UTC),
            confidence=segment.confidence,
            cues=segment.cues,
            source="live",
            visitor_id=segment.visitor_id,
        )
        repository.record_live(new, final=segment.final)

    return record
