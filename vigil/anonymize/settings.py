"""The `anonymize:` settings section (`VIGIL_ANONYMIZE__*`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from vigil.anonymize.live_privacy import LivePrivacyConfig
from vigil.anonymize.person_options import PersonOptions
from vigil.anonymize.styles import FaceStyle


class FaceOptions(BaseModel):
    """How faces are found and covered in files."""

    model_config = ConfigDict(extra="forbid")

    style: FaceStyle = Field(
        "blur", description="blur, pixelate, solid, or mask (an ellipse following the landmarks)"
    )
    # 0.4 rather than 0.25: on hamilton and crowd_1080p, YuNet@0.6 still found 23 blurred faces at
    # 0.25 and 1 at 0.4 (0.5: 1), BlazeFace 13 and 6 (0.5: 5): the chin, ears and hair outside a
    # tighter box keep the blurred patch face-shaped (docs/anonymize.md).
    pad: float = Field(
        0.4, ge=0, le=2, description="Grow each face box by this fraction of its size on every side"
    )
    hold_frames: int = Field(
        5,
        ge=0,
        le=300,
        description="Files: keep a track's box this many frames before its first and after its last "
        "detection (never across a shot cut); frames between two detections are interpolated",
    )
    score_threshold: float = Field(
        0.5,
        ge=0.05,
        le=1,
        description="Files: minimum face detector confidence (lower than tracking's, for recall: a "
        "false face costs a blurred patch, a missed one a leak)",
    )
    extra_engines: list[str] = Field(
        default_factory=list,
        description="Files: more face detectors (e.g. blazeface) run over the whole file after "
        "track.engine's; every box any of them tracks is covered (recall, at one more face pass each)",
    )

    @field_validator("extra_engines", mode="after")
    @classmethod
    def _known_engines(cls, value: list[str]) -> list[str]:
        from vigil.detect.registry import detector_configs  # the detectors import heavy modules

        unknown = [name for name in value if name not in detector_configs()]
        if unknown:
            raise ValueError(f"unknown face detectors {unknown}; choose from {', '.join(detector_configs())}")
        return list(dict.fromkeys(value))


X264Preset = Literal[
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"
]


class VideoOutputOptions(BaseModel):
    """How anonymised files are encoded (H.264, yuv420p; the audio is copied as it is)."""

    model_config = ConfigDict(extra="forbid")

    # 16 rather than x264's usual 18: the picture outside the faces must stay as it was (background
    # SSIM median >= 0.99 on the close-up clips at 16, 0.989 at 18; crf 12 for >= 0.99 on every
    # frame, at about twice the size of 18). docs/anonymize.md, "Identity left ... background".
    crf: int = Field(16, ge=0, le=51, description="libx264 constant rate factor (lower: better, larger)")
    preset: X264Preset = Field("veryfast", description="libx264 preset (slower: smaller files, same quality)")


class AnonymizeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    faces: FaceOptions = Field(default_factory=FaceOptions, description="Faces")
    persons: PersonOptions = Field(default_factory=PersonOptions, description="Bodies and clothes")
    live: LivePrivacyConfig = Field(
        default_factory=LivePrivacyConfig, description="Live privacy mode: faces covered in the dashboard"
    )
    video: VideoOutputOptions = Field(
        default_factory=VideoOutputOptions, description="Encoding of anonymised files"
    )
    strip_metadata: bool = Field(
        True,
        description="Remove identifying container metadata (location, device, creation time) from "
        "outputs; what was removed is listed in the sidecar report",
    )

    @model_validator(mode="before")
    @classmethod
    def _drop_moved_upload_limit(cls, data: Any) -> Any:
        """Jobs stored before `max_upload_mb` moved to `web.max_video_upload_mb` still carry it
        in their parameters; it never mattered to a run."""
        if isinstance(data, dict) and "max_upload_mb" in data:
            return {key: value for key, value in data.items() if key != "max_upload_mb"}
        return data
