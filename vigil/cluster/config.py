"""Settings of the camera cluster (`cluster:` in YAML, `VIGIL_CLUSTER__*`, `vigil serve --cluster`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from vigil.errors import ConfigError
from vigil.jobs.config import check_ray_address


class ClusterNeedsPostgres(ConfigError):
    """Cluster mode was asked for with a store the other nodes cannot write to (SQLite)."""


class ClusterConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ray_address: str | None = Field(
        None,
        description="Run the cameras of `vigil serve` as Ray actors on this cluster: auto (the one "
        "`ray start` runs on this machine), HOST:PORT of the head or ray://HOST:PORT; unset: cameras "
        "run in the server process. Needs a PostgreSQL store",
    )
    camera_cpus: float = Field(
        1.0,
        gt=0,
        le=64,
        description="CPUs a camera actor reserves on its node (Ray resource), so a node takes as many "
        "cameras as its --num-cpus carries",
    )
    call_timeout_s: float = Field(
        2.0, gt=0, le=60, description="How long the server waits for a camera actor's answer"
    )
    check_period_s: float = Field(
        0.5, gt=0, le=60, description="How often the server checks its camera actors and pulls their events"
    )

    @field_validator("ray_address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        return check_ray_address(value)

    @property
    def enabled(self) -> bool:
        return self.ray_address is not None


def check_cluster_store(db_url: str) -> None:
    """Cluster mode needs a store every node writes to: refuses anything but PostgreSQL."""
    from vigil.store.database import parse_url

    if parse_url(db_url)[1] != "postgresql":
        raise ClusterNeedsPostgres(
            "cluster mode (--cluster / cluster.ray_address) needs a PostgreSQL store reachable from every "
            "node (--db postgresql://USER@HOST/DB or store.url): camera actors on other machines write "
            "their sightings there themselves, and SQLite is a file of this machine only"
        )
