"""`Shared`: a chunk argument that many chunks of a job take unchanged (a video's frame table).

A caller wraps the value once (per video) and passes the same `Shared` object as a top-level
argument of every chunk's `submit`. A Ray pool (ray_pool.py) puts it into Ray's object store at
its first chunk and sends the following chunks only its reference: the value crosses the network
once per node instead of once per chunk (a 2-hour video's frame table is ~1.6 MB). Any other pool
pickles it with each chunk as any argument. Either way the chunk's function receives the
`Shared` and reads `.value`, so it runs the same wherever it runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Shared"]

T = TypeVar("T")


@dataclass(frozen=True, eq=False)  # identity: the Ray pool keys what it has put by the object
class Shared(Generic[T]):
    value: T
