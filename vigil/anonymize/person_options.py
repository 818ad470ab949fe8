"""Options of the bodies-and-clothes step (`anonymize.persons`, `VIGIL_ANONYMIZE__PERSONS__*`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

PersonStyle = Literal["none", "recolor", "blur", "pixelate", "silhouette"]
PERSON_STYLES: tuple[PersonStyle, ...] = ("none", "recolor", "blur", "pixelate", "silhouette")
TileMode = Literal["auto", "always", "never"]


class PersonOptions(BaseModel):
    """How bodies and clothes are anonymised (faces are covered separately, by `faces.style`)."""

    model_config = ConfigDict(extra="forbid")

    style: PersonStyle = Field(
        "none",
        description="none (bodies left as they are), recolor (each person's clothes get a new colour, "
        "shading and skin kept), blur, pixelate, or silhouette (flat fill) of the whole person",
    )
    threshold: float = Field(
        0.5, gt=0, lt=1, description="Selfie segmentation confidence above which a pixel is a person"
    )
    segment_width: int = Field(
        512,
        ge=128,
        le=1280,
        description="Width the frame is scaled to for segmentation and instance masks (each model "
        "call works at 256x144)",
    )
    tiles: TileMode = Field(
        "auto",
        description="Also segment 2x2 overlapping tiles (4 more model calls), where people are small: "
        "auto (when no face is taller than 1/8 of the frame), always, or never",
    )
    min_area: float = Field(
        0.002, ge=0, le=1, description="Ignore person blobs smaller than this fraction of the frame"
    )
    hands: bool = Field(True, description="recolor: keep hands found by MediaPipe Hands untouched")
    hands_every: int = Field(
        3,
        ge=1,
        le=30,
        description="recolor: look for hands every N frames (about 30 ms a call) and hold their hulls "
        "in between",
    )
    skin_distance: float = Field(
        3.0,
        gt=0,
        le=10,
        description="recolor: pixels within this Mahalanobis distance of the colour (CrCb) of the "
        "person's own face are skin and kept",
    )
    skin_fallback: bool = Field(
        True,
        description="recolor: for people no face has been seen of, keep the chroma of skin in "
        "general (fitted to 50 faces; also keeps beige cloth)",
    )
    strength: float = Field(
        60, ge=5, le=127, description="recolor: chroma of the new colour (YCrCb units; luminance is kept)"
    )
    feather: float = Field(0.6, ge=0, le=5, description="Edge softness of the masks, in segmentation pixels")
