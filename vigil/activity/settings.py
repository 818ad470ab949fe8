"""The `activity:` settings section (`VIGIL_ACTIVITY__*`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from vigil.activity.report_settings import ReportSettings

__all__ = ["ActivitySettings", "AudioSource", "Classifier"]

Classifier = Literal["rules", "model"]
AudioSource = Literal["stream", "microphone", "none"]


class ActivitySettings(BaseModel):
    """How cues are sampled and turned into activity segments."""

    model_config = ConfigDict(extra="forbid")

    sample_interval_s: float = Field(
        0.5,
        gt=0,
        le=60,
        description="Seconds between two analysed video frames (the seed's sampling interval; "
        "longer is faster, shorter follows quick changes)",
    )
    live_interval_s: float = Field(
        1.0,
        gt=0,
        le=60,
        description="Live cameras: seconds between two analysed frames (cues change slowly; one "
        "per second keeps the cost per camera low)",
    )
    window_s: float = Field(
        4.0, gt=0, le=600, description="Cues are summarised over windows this long before classification"
    )
    hop_s: float = Field(1.0, gt=0, le=600, description="One decision every this many seconds")
    min_segment_s: float = Field(
        3.0,
        ge=0,
        le=3600,
        description="A state shorter than this is merged into its neighbours (no flicker)",
    )
    asleep_min_s: float = Field(
        5.0,
        ge=0,
        le=3600,
        description="Eyes closed (or lying still) must last this long before `asleep` is said; "
        "blinks and glances down are far shorter. Raise it for carers (e.g. 120)",
    )
    workers: int | None = Field(
        None,
        ge=1,
        le=64,
        description="Workers that extract a file's vision cues in parallel chunks (locally threads of "
        "this process, Ray: actors); default: one per 30 s of video, up to the CPU count (a short "
        "clip gets one)",
    )
    classifier: Classifier = Field(
        "rules", description="rules (readable, the default) or model (trained with `vigil activity train`)"
    )
    audio_device: int | str | None = Field(
        None,
        description="Microphone for live activity: a PortAudio input index or exact name (see "
        "GET /api/audio-devices); default: the system's default input. A choice made with "
        "POST /api/set-audio-device overrides it",
    )
    live_audio: AudioSource = Field(
        "stream",
        description="Sound of a live camera's activity: `stream` (the camera's own audio track, "
        "when it has one), `microphone` (`audio_device`) or `none`; a camera's "
        "`activity_audio` overrides it",
    )
    clip_buffer_s: float = Field(
        30.0,
        ge=0,
        le=300,
        description="Live cameras with activity on keep this many seconds of their compressed video "
        "and audio for POST /api/save-clip (0: off; memory: the stream's bitrate times this)",
    )
    clip_max_fps: float = Field(
        15.0,
        ge=0,
        le=120,
        description="Cameras that give frames, not packets (USB): their clips encode at most this many "
        "frames a second (0: every frame the camera gives); about 5.6 ms of CPU a 720p frame, always, "
        "while clip_buffer_s > 0",
    )
    clips_keep_days: float = Field(
        30.0,
        ge=0,
        le=36500,
        description="Saved clips (`<data_dir>/clips/`) older than this many days are deleted after each "
        "save (0: kept until deleted by hand)",
    )
    clips_max_mb: float = Field(
        1000.0,
        ge=0,
        description="A camera's saved clips weigh at most this many MB: after a save, its oldest go "
        "first, never the one just saved (0: no limit)",
    )
    model_path: Path | None = Field(
        None,
        description="The trained model file (`vigil activity train --out`); default "
        "<data_dir>/activity_model.joblib",
    )
    report: ReportSettings = Field(
        default_factory=ReportSettings,
        description="Reports every interval_s to an external service (docs/activity.md)",
    )

    @model_validator(mode="after")
    def _window_covers_hop(self) -> ActivitySettings:
        if self.hop_s > self.window_s:
            raise ValueError(f"hop_s ({self.hop_s}) must not exceed window_s ({self.window_s})")
        return self
