"""Settings of the face tracker, shared by the live pipeline and batch tracking.

Its own module so that the batch section (`vigil.batch.settings`) can extend it without importing
the settings root, which holds the batch section.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TrackerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lost_track_buffer: int = Field(
        10, ge=0, le=1000, description="Detection passes a lost track is kept before it ends"
    )
    activation_threshold: float = Field(
        0.6, ge=0.0, le=1.0, description="Detector score needed to start a track"
    )
    min_consecutive: int = Field(2, ge=1, le=30, description="Detections before a track gets an id")
    min_iou: float = Field(0.1, ge=0.0, le=1.0, description="IoU to associate a box to a track")
