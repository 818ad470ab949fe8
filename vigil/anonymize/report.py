"""What an anonymisation run returns, and the `<stem>_anonymized.json` sidecar beside each output.

The sidecar says how the file was made (options), what was covered (faces per frame, tracks,
boxes filled between and around detections), what was kept (frames, timing, rotation, audio) and
which metadata keys were removed (keys and streams, never their values)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from vigil.anonymize.metadata import RemovedTag
from vigil.anonymize.settings import FaceOptions, VideoOutputOptions

SIDECAR_VERSION = "1.0"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OptionsUsed(_Model):
    faces: FaceOptions
    video: VideoOutputOptions
    strip_metadata: bool
    persons: str = Field(description="Bodies/clothes style applied ('none': faces only)")
    workers: int = Field(ge=1, description="Worker processes of the face pass")


class FaceCoverage(_Model):
    detector: str = Field(description="The batch tracker's engine that found the faces")
    tracks: int = Field(ge=0)
    detections: int = Field(ge=0, description="Boxes a detector found")
    filled_boxes: int = Field(ge=0, description="Boxes added between detections and held around them")
    frames_with_faces: int = Field(ge=0, description="Output frames where at least one box was covered")
    max_faces_per_frame: int = Field(ge=0)
    mean_faces_per_frame: float = Field(ge=0)
    shot_cuts: list[int] = Field(description="First frames of new shots (tracks end there)")


class TrackSummary(_Model):
    id: str
    first_frame: int = Field(ge=1)
    last_frame: int = Field(ge=1)
    detections: int = Field(ge=1)


class AudioKept(_Model):
    codec: str
    packets: int = Field(ge=0, description="Packets copied as they are (not re-encoded)")


class Timings(_Model):
    faces_s: float = Field(ge=0, description="Face pass (shared by the videos of one run)")
    render_s: float = Field(ge=0)
    render_fps: float = Field(ge=0)


class AnonymizedVideo(_Model):
    """The sidecar `<stem>_anonymized.json`."""

    version: str = SIDECAR_VERSION
    input: str
    output: str
    options: OptionsUsed
    frames: int = Field(ge=0)
    input_frames: int = Field(ge=0)
    fps: float = Field(gt=0)
    width: int = Field(ge=1)
    height: int = Field(ge=1)
    rotation: int = Field(description="Display rotation kept from the input, degrees")
    audio: AudioKept | None
    faces: FaceCoverage
    tracks: list[TrackSummary]
    metadata_removed: list[RemovedTag]
    timings: Timings


@dataclass
class AnonymizeReport:
    """Per input: its output, or why it was skipped or failed."""

    done: dict[Path, Path] = field(default_factory=dict)  # input -> anonymised file
    skipped: dict[Path, Path] = field(default_factory=dict)  # input -> the existing output
    failed: dict[Path, str] = field(default_factory=dict)  # input -> reason
    sidecars: dict[Path, AnonymizedVideo] = field(default_factory=dict)  # input -> its report
