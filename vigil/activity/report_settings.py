"""The `activity.report:` settings (`VIGIL_ACTIVITY__REPORT__*`): the seed's report of what the
person is doing, POSTed every 5 minutes to an external service."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from vigil.outbox.receiver_url import receiver_url

__all__ = ["ReportSettings"]


class ReportSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(False, description="Queue a report per camera every interval_s and POST it to url")
    url: str | None = Field(
        None, description="The external service (http:// or https://) receiving the reports as JSON"
    )
    key: SecretStr | None = Field(
        None, description="Bearer key sent to url (`Authorization: Bearer …`; required with it, never shown)"
    )
    interval_s: float = Field(
        300.0, ge=10, le=86400, description="Length of a report's period (the seed's 5 minutes)"
    )
    timeout_s: float = Field(10.0, gt=0, le=300, description="Timeout of one POST")
    retry_backoff_s: float = Field(
        5.0, gt=0, le=3600, description="First retry delay of an undelivered report, doubled per failure"
    )
    max_backoff_s: float = Field(300.0, gt=0, le=86400, description="Longest delay between two retries")
    give_up_after_h: float = Field(
        72.0, gt=0, le=24 * 365, description="An undelivered report is marked failed this long after queuing"
    )
    max_refusals: int = Field(
        5,
        ge=1,
        le=100,
        description="A report refused (4xx other than 408/429) this many times is marked failed",
    )
    keep_delivered_days: float = Field(7.0, ge=0, le=3650, description="Delivered reports are kept this long")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return receiver_url(value, "activity.report.url")

    @model_validator(mode="after")
    def _complete_when_enabled(self) -> ReportSettings:
        if self.enabled and (self.url is None or not (self.key and self.key.get_secret_value())):
            raise ValueError("activity.report.enabled needs activity.report.url and activity.report.key")
        if self.max_backoff_s < self.retry_backoff_s:
            raise ValueError("activity.report.max_backoff_s is below retry_backoff_s")
        return self
