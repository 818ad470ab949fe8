"""The migrations create exactly the indexes `schema.py` declares (both backends), so a schema made
from the metadata and a migrated one plan the recurrence queries the same way."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine, create_engine, inspect, text

import vigil.activity.tables
import vigil.cluster.tables
import vigil.watchlist.tables  # noqa: F401 - capability packages' tables join the store's metadata
from vigil.store.database import connect
from vigil.store.schema import Base

T = TypeVar("T")

IndexRow = tuple[str, str, tuple[str, ...], bool]


def indexes(engine: Engine) -> set[IndexRow]:
    inspector = inspect(engine)
    return {
        (table, str(index["name"]), tuple(str(c) for c in index["column_names"]), bool(index["unique"]))
        for table in inspector.get_table_names()
        if table != "alembic_version"
        for index in inspector.get_indexes(table)
    }


def metadata_engine(db_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Engine:
    """A second, empty database of the same backend, made by `create_all`."""
    if db_url.startswith("sqlite"):
        return create_engine(f"sqlite:///{tmp_path / 'metadata.db'}")
    server: Any = request.getfixturevalue("pg_server")
    server.psql("CREATE DATABASE vigil_metadata_check;")
    engine = create_engine(str(server.get_uri("vigil_metadata_check")))
    with engine.begin() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
    return engine


def migrated_and_declared(
    db_url: str, tmp_path: Path, request: pytest.FixtureRequest, read: Callable[[Engine], T]
) -> tuple[T, T]:
    """`read` of a database the migrations made, and of one `schema.py`'s `create_all` made."""
    db = connect(db_url)
    declared_engine = metadata_engine(db_url, tmp_path, request)
    try:
        Base.metadata.create_all(declared_engine)
        return read(db.writer), read(declared_engine)
    finally:
        declared_engine.dispose()
        db.dispose()


def test_migrated_indexes_are_the_declared_ones(
    db_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    migrated, declared = migrated_and_declared(db_url, tmp_path, request, indexes)
    assert migrated == declared
    # The covering (time, visitor) indexes the recurrence listings read, and no redundant
    # single-column time index beside them (dropped by 0004).
    assert ("sightings", "ix_sightings_captured_visitor", ("captured_at", "visitor_id"), False) in migrated
    assert ("visits", "ix_visits_started_visitor", ("started_at", "visitor_id"), False) in migrated
    single = {(table, columns) for table, _, columns, _ in migrated if len(columns) == 1}
    assert ("sightings", ("captured_at",)) not in single and ("visits", ("started_at",)) not in single
