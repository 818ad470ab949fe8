"""`vigil visitors list`, which `vigil visitors --help` names, and its documented shorthand
`vigil visitors [OPTIONS]`, on a real SQLite store."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.test_store import obs, open_store
from vigil.cli import app

DAY = date(2026, 11, 20)


@pytest.fixture
def db(tmp_path: Path) -> str:
    """Person 0 seen the day before and on DAY (loyal), person 1 only on DAY."""
    url = f"sqlite:///{tmp_path / 'vigil.db'}"
    store = open_store(url, tmp_path, same_person_similarity=0.9)
    try:
        store.observe(obs(0, datetime(2026, 11, 19, 12).astimezone(), track=1))
        store.observe(obs(0, datetime(2026, 11, 20, 12).astimezone(), track=2))
        store.observe(obs(1, datetime(2026, 11, 20, 13).astimezone(), track=3))
    finally:
        store.close()
    return url


def visitors(tmp_path: Path, *args: str) -> tuple[int, str]:
    env = {"VIGIL_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    result = CliRunner().invoke(app, ["visitors", *args], env=env)
    return result.exit_code, result.output


def listed(tmp_path: Path, *args: str) -> dict[str, Any]:
    code, output = visitors(tmp_path, *args, "--date", DAY.isoformat(), "--json")
    assert code == 0, output
    data: dict[str, Any] = json.loads(output)
    return data


def test_list_command_lists_visitors(db: str, tmp_path: Path) -> None:
    everyone = listed(tmp_path, "list", "--db", db)
    assert everyone["total"] == 2 and len(everyone["visitors"]) == 2
    loyal = listed(tmp_path, "list", "--loyal", "--min-visits", "1", "--db", db)
    assert loyal["total"] == 1
    (regular,) = loyal["visitors"]
    assert regular["past_visits"] == 1 and regular["visits_in_window"] == 2


def test_group_options_are_short_for_list(db: str, tmp_path: Path) -> None:
    for options in ((), ("--loyal", "--min-visits", "1"), ("--sort", "visits", "--limit", "1")):
        assert listed(tmp_path, *options, "--db", db) == listed(tmp_path, "list", *options, "--db", db)
    code, output = visitors(tmp_path, "--db", db, "--date", DAY.isoformat())
    assert code == 0 and f"Visitors on {DAY} (2)" in output


def test_sub_commands_still_run(db: str, tmp_path: Path) -> None:
    visitor = listed(tmp_path, "list", "--loyal", "--db", db)["visitors"][0]["visitor_id"]
    code, output = visitors(tmp_path, "show", visitor, "--json", "--db", db)
    assert code == 0, output
    assert len(json.loads(output)) == 2  # both sightings of the loyal visitor


def test_help_names_list_and_list_help_shows_its_options() -> None:
    code, output = visitors(Path("."), "--help")
    assert code == 0 and "list" in output and "vigil visitors list [OPTIONS]" in output
    code, output = visitors(Path("."), "list", "--help")
    assert code == 0 and "--loyal" in output and "--min-visits" in output


def test_a_mistyped_sub_command_is_named_not_taken_for_list_arguments(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["visitors", "shwo", "x"], env={"VIGIL_DATA_DIR": str(tmp_path)})
    assert result.exit_code != 0 and "No such command 'shwo'" in result.output
