"""A throwaway PostgreSQL 16 + pgvector server for the benchmarks (the `pgserver` dev wheel)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def postgres_url(tmp: Path, database: str = "bench") -> Iterator[str]:
    """The URL of a new, empty database on a server living in `tmp`, stopped on exit."""
    import pgserver  # dev dependency: imported only when a benchmark asks for PostgreSQL

    server = pgserver.get_server(tmp / "pg", cleanup_mode="stop")  # type: ignore[attr-defined]
    try:
        server.psql(f"CREATE DATABASE {database};")
        yield str(server.get_uri(database))
    finally:
        server.cleanup()
