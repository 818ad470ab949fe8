"""The `--executor` and `--ray-address` options of the chunked job commands (`vigil track`,
`vigil anonymize`, `vigil activity analyse`): overrides of `jobs.executor` / `jobs.ray_address`."""

from __future__ import annotations

from typing import Annotated

import typer

ExecutorOption = Annotated[
    str | None,
    typer.Option(
        "--executor",
        help="Where the chunks run: local (worker processes here) or ray (Ray actors on the "
        "cluster of --ray-address; the media must be at the same path on every node: docs/ray.md).",
        show_default="jobs.executor: local",
    ),
]
RayAddressOption = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        help="The Ray cluster of --executor ray: auto (the one `ray start` runs here), HOST:PORT of "
        "the head, or ray://HOST:PORT (Ray Client).",
        show_default="jobs.ray_address: a local Ray instance",
    ),
]


def jobs_overrides(executor: str | None, ray_address: str | None) -> dict[str, str]:
    """The `jobs` settings the options set (validated with the settings)."""
    given = {"executor": executor, "ray_address": ray_address}
    return {key: value for key, value in given.items() if value is not None}
