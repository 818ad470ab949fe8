"""Settings of the watchlist (`watchlist:` in YAML, `VIGIL_WATCHLIST__*`, or seed 004's names)."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from vigil.outbox.receiver_url import receiver_url

ScoreScale = Literal["calibrated", "raw"]


class Thresholds(BaseModel):
    """The two alert levels, on the score scale of `WatchlistConfig.score_scale`."""

    model_config = ConfigDict(extra="forbid")

    similarity_threshold: float = Field(
        0.55,
        ge=0.0,
        le=1.0,
        validation_alias=AliasChoices("similarity_threshold", "SIMILARITY_THRESHOLD"),
        description="Score from which a face is a match (immediate alert); seed SIMILARITY_THRESHOLD",
    )
    warn_threshold: float = Field(
        0.45,
        ge=0.0,
        le=1.0,
        validation_alias=AliasChoices("warn_threshold", "WARN_THRESHOLD"),
        description="Score from which a face is a probable match (discreet notice); seed WARN_THRESHOLD",
    )

    @model_validator(mode="after")
    def _warn_not_above_match(self) -> Thresholds:
        if self.warn_threshold > self.similarity_threshold:
            raise ValueError(
                f"warn_threshold {self.warn_threshold} is above similarity_threshold "
                f"{self.similarity_threshold}: a probable match must need less than a match"
            )
        return self


class WatchlistConfig(Thresholds):
    enabled: bool = Field(
        True,
        description="Match faces against the watchlist in vigil watch and vigil serve (needs the store); "
        "serve pushes the alerts to operators",
    )
    score_scale: ScoreScale = Field(
        "calibrated",
        description="calibrated: thresholds apply to a score that means the same for every embedder "
        "(docs/watchlist.md); raw: to the embedder's cosine similarity (refused when it would accept "
        "every impostor of the calibration set)",
    )
    camera_thresholds: dict[str, Thresholds] = Field(
        default_factory=dict, description="Per-camera overrides of both thresholds, by camera name"
    )
    cooldown_s: float = Field(
        120.0,
        ge=0,
        le=86400,
        description="A person seen again on the same camera within this many seconds joins the open alert",
    )
    alert_expiry_h: float = Field(
        24.0, gt=0, le=24 * 365, description="Open alerts nobody decided become expired after this many hours"
    )
    max_upload_mb: float = Field(
        50.0,
        gt=0,
        le=2000,
        description="Largest enrolment request of the API (all its photos); these routes alone get this "
        "body limit instead of web.max_body_kb",
    )
    max_photo_mb: float = Field(10.0, gt=0, le=200, description="Largest accepted reference photo (MiB)")
    max_photo_megapixels: float = Field(
        40.0, gt=0, le=500, description="Largest photo size in megapixels (decompression bombs are refused)"
    )
    min_face_px: int = Field(
        80, ge=20, le=2000, description="Shortest side of a reference face, in pixels of the photo"
    )
    min_face_score: float = Field(
        0.85,
        ge=0.0,
        le=1.0,
        description="Least detector confidence for a face of a reference photo to count (weaker ones are "
        "taken for background: a painting, a poster)",
    )
    min_sharpness: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Least sharpness of a reference face: v/(v+40), v the Laplacian variance at 150x150",
    )
    min_frontality: float = Field(
        0.3, ge=0.0, le=1.0, description="Least frontality term (yaw and roll) of a reference face"
    )

    upr_api_url: str | None = Field(
        None,
        validation_alias=AliasChoices("upr_api_url", "UPR_API_URL"),
        description="External registry (seed UPR_API_URL): every alert and decision is POSTed there as "
        "JSON through a durable outbox (docs/watchlist.md); unset: nothing is queued",
    )
    upr_api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("upr_api_key", "UPR_API_KEY"),
        description="Bearer key sent to upr_api_url (seed UPR_API_KEY; required with it, never shown)",
    )
    upr_timeout_s: float = Field(10.0, gt=0, le=300, description="Timeout of one POST to the registry")
    upr_retry_backoff_s: float = Field(
        5.0, gt=0, le=3600, description="First retry delay of an undelivered message, doubled per failure"
    )
    upr_max_backoff_s: float = Field(300.0, gt=0, le=86400, description="Longest delay between two retries")
    upr_give_up_after_h: float = Field(
        168.0,
        gt=0,
        le=8760,
        description="A message still undelivered this long after it was queued is marked failed (kept, "
        "counted on /metrics, never deleted silently)",
    )
    upr_max_refusals: int = Field(
        5,
        ge=1,
        le=1000,
        description="A message the registry refuses (a 4xx other than 408 and 429) this many times is "
        "marked failed",
    )
    upr_keep_delivered_days: float = Field(
        7.0, ge=0, le=3650, description="Delivered messages are removed from the outbox after this many days"
    )

    @field_validator("upr_api_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return receiver_url(value, "upr_api_url")

    @model_validator(mode="after")
    def _key_with_url(self) -> WatchlistConfig:
        if self.upr_api_url is not None and not (self.upr_api_key and self.upr_api_key.get_secret_value()):
            raise ValueError(
                "upr_api_url is set but upr_api_key (UPR_API_KEY) is not: the registry needs its key"
            )
        if self.upr_max_backoff_s < self.upr_retry_backoff_s:
            raise ValueError("upr_max_backoff_s is below upr_retry_backoff_s")
        return self

    @property
    def upr_enabled(self) -> bool:
        """Whether alert changes and decisions are queued for the external registry."""
        return self.upr_api_url is not None

    def thresholds_for(self, camera: str) -> Thresholds:
        """The camera's override, else the global pair."""
        return self.camera_thresholds.get(camera, self)
