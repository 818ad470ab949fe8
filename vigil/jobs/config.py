"""Settings of the job system (`jobs:` in YAML, `VIGIL_JOBS__*` in the environment)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# `auto`, HOST:PORT (a head's GCS port) or ray://HOST:PORT (Ray Client); HOST a name, IPv4 or [IPv6].
_RAY_ADDRESS = re.compile(r"^(auto|(ray://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*):[0-9]{1,5})$")

Executor = Literal["local", "ray"]


def check_ray_address(address: str | None) -> str | None:
    """The address as given, or ValueError naming the accepted forms (None: a local Ray instance)."""
    if address is None or address == "":
        return None
    if not _RAY_ADDRESS.match(address):
        raise ValueError(
            f"ray address {address!r}: use auto (the cluster `ray start` runs here), HOST:PORT of the "
            "head (its --port, 6379 by default) or ray://HOST:PORT (Ray Client, port 10001)"
        )
    return address


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
    executor: Executor = Field(
        "local",
        description="Where the chunks of tracking, anonymisation and activity jobs run: local (worker "
        "processes here) or ray (Ray actors on any node; the job itself still runs here)",
    )
    ray_address: str | None = Field(
        None,
        description="The Ray cluster of `executor: ray`: auto (the one `ray start` runs on this machine), "
        "HOST:PORT of the head, or ray://HOST:PORT (Ray Client); unset: a local Ray instance",
    )

    @field_validator("ray_address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        return check_ray_address(value)
