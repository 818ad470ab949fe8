"""The `anonymize:` settings section (`VIGIL_ANONYMIZE__*`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from vigil.anonymize.live_privacy import LivePrivacyConfig
from vigil.anonymize.styles import FaceStyle


class FaceOptions(BaseModel):
    """How faces are found and covered in files."""

    model_config = ConfigDict(extra="forbid")

    style: FaceStyle = Field(
        "blur", description="blur, pixelate, solid, or mask (an ellipse following the landmarks)"
    )
    pad: float = Field(
        0.25, ge=0, le=2, description="Grow each face box by this fraction of its size on every side"
    )


class AnonymizeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    faces: FaceOptions = Field(default_factory=FaceOptions, description="Faces")
    live: LivePrivacyConfig = Field(
        default_factory=LivePrivacyConfig, description="Live privacy mode: faces covered in the dashboard"
    )
    strip_metadata: bool = Field(
        True,
        description="Remove identifying container metadata (location, device, creation time) from "
        "outputs; what was removed is listed in the sidecar report",
    )
