"""Settings of the job system (`jobs:` in YAML, `VIGIL_JOBS__*` in the environment)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class JobsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_active: int = Field(
        16, ge=1, le=10_000, description="Jobs queued or running at once; more are refused (HTTP 429)"
    )
    keep_finished: int = Field(
        100, ge=0, le=1_000_000, description="Finished jobs kept (the newest); older ones are deleted"
    )
    keep_days: float = Field(
        30.0, ge=0, le=36_500, description="Finished jobs older than this are deleted (0: no age limit)"
    )
    executor: Literal["local"] = Field(
        "local", description="Where jobs run: local (a thread here; chunks in a process pool)"
    )
