"""Migrations are frozen: each revision spells out its own DDL (no import of live application code,
which could change under an applied revision), and migrating gives the schema `schema.py` declares
(columns, keys, constraints; the indexes are compared in test_analytics_indexes.py), on both backends."""

from __future__ import annotations

import ast
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, inspect

from tests.test_analytics_indexes import migrated_and_declared

VERSIONS = Path(str(resources.files("vigil.store") / "migrations" / "versions"))


def vigil_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        found += [f"{path.name}: {name}" for name in names if name == "vigil" or name.startswith("vigil.")]
    return found


def test_migrations_import_no_vigil_code() -> None:
    revisions = sorted(VERSIONS.glob("0*.py"))
    assert len(revisions) >= 6
    assert [hit for path in revisions for hit in vigil_imports(path)] == []


def foreign_key(fk: Any) -> tuple[Any, ...]:
    ondelete = (fk.get("options") or {}).get("ondelete")
    return tuple(fk["constrained_columns"]), fk["referred_table"], tuple(fk["referred_columns"]), ondelete


def table_shapes(engine: Engine) -> dict[str, dict[str, Any]]:
    inspector = inspect(engine)
    return {
        table: {
            "columns": {c["name"]: (str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)},
            "primary_key": sorted(inspector.get_pk_constraint(table)["constrained_columns"]),
            "foreign_keys": sorted(map(foreign_key, inspector.get_foreign_keys(table)), key=str),
            "unique": sorted(tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)),
        }
        for table in inspector.get_table_names()
        if table != "alembic_version"
    }


def test_migrated_schema_is_the_declared_one(
    db_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    migrated, declared = migrated_and_declared(db_url, tmp_path, request, table_shapes)
    assert set(migrated) == set(declared)
    for table in declared:
        assert migrated[table] == declared[table], table
