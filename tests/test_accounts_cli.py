"""`vigil users …` and `vigil keys …` against a real store (both backends where the database
matters): what they change is checked through `AccountRepository`, as the web app reads it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from vigil.cli import app
from vigil.store.accounts import Account, AccountRepository
from vigil.store.audit import AuditLog
from vigil.store.database import connect

ENV = {"COLUMNS": "200"}
ROOT_PASSWORD = "root-Secret-1"
ADA_PASSWORD = "ada-Secret-22"


def vigil(*args: str, stdin: str = "") -> Result:
    return CliRunner().invoke(app, list(args), input=stdin, env=ENV)


@pytest.fixture
def users(db_url: str) -> Iterator[AccountRepository]:
    """The accounts the commands of a test change, read the way the web app reads them."""
    db = connect(db_url)
    yield AccountRepository(db)
    db.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'vigil.db'}"


def account(users: AccountRepository, name: str) -> Account:
    found = users.by_name(name)
    assert found is not None, f"no {name}"
    return found


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


def refused(result: Result, message: str) -> None:
    """Exit code 1 with the store's message, as a message rather than a traceback."""
    assert result.exit_code == 1, result.output
    assert message in result.stderr and "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


def create_root_and_ada(db_url: str) -> None:
    typed_twice = f"{ROOT_PASSWORD}\n{ROOT_PASSWORD}\n"
    ok(vigil("users", "create", "root", "--role", "admin", "--db", db_url, stdin=typed_twice))
    ok(vigil("users", "create", "ada", "--password-stdin", "--db", db_url, stdin=ADA_PASSWORD + "\n"))


def test_create_list_role_disable_enable(db_url: str, users: AccountRepository) -> None:
    create_root_and_ada(db_url)
    assert users.authenticate("root", ROOT_PASSWORD) == account(users, "root")
    assert account(users, "ada").role == "viewer"  # the default role

    listed = ok(vigil("users", "list", "--db", db_url)).stdout
    assert "Users (2)" in listed
    created = account(users, "ada").created_at
    assert created is not None and created.astimezone().strftime("%Y-%m-%d %H:%M:%S") in listed
    rows = {line.split()[1]: line.split()[3] for line in listed.splitlines() if "│ " in line}
    assert rows == {"ada": "viewer", "root": "admin"}

    before = account(users, "ada")
    ok(vigil("users", "role", "ada", "admin", "--db", db_url))
    after = account(users, "ada")
    assert after.role == "admin" and after.session_version > before.session_version

    ok(vigil("users", "disable", "ada", "--db", db_url))
    assert account(users, "ada").disabled and users.authenticate("ada", ADA_PASSWORD) is None
    assert "disabled" in ok(vigil("users", "list", "--db", db_url)).stdout.split("ada", 1)[1].splitlines()[0]
    ok(vigil("users", "enable", "ada", "--db", db_url))
    assert users.authenticate("ada", ADA_PASSWORD) == account(users, "ada")


def test_reset_password_logout_and_delete(db_url: str, users: AccountRepository) -> None:
    create_root_and_ada(db_url)
    new_password = "ada-Reset-333"
    reset = ok(vigil("users", "reset-password", "ada", "--db", db_url, stdin=f"{new_password}\n" * 2))
    assert users.authenticate("ada", new_password) is not None
    assert users.authenticate("ada", ADA_PASSWORD) is None
    assert new_password not in reset.output  # typed without echo

    before = account(users, "ada").session_version
    ok(vigil("users", "logout", "ada", "--db", db_url))
    assert account(users, "ada").session_version == before + 1

    kept = vigil("users", "delete", "ada", "--db", db_url, stdin="n\n")
    assert kept.exit_code == 1 and "Aborted" in kept.output
    assert users.by_name("ada") is not None
    ok(vigil("users", "delete", "ada", "--db", db_url, stdin="y\n"))
    assert users.by_name("ada") is None


def test_the_last_admin_stays(db_url: str, users: AccountRepository) -> None:
    create_root_and_ada(db_url)
    refused(vigil("users", "disable", "root", "--db", db_url), "cannot disable the last admin")
    refused(vigil("users", "role", "root", "viewer", "--db", db_url), "cannot take the admin role")
    refused(vigil("users", "delete", "root", "--yes", "--db", db_url), "cannot delete the last admin")
    root = account(users, "root")
    assert root.role == "admin" and not root.disabled
    ok(vigil("users", "role", "ada", "admin", "--db", db_url))
    ok(vigil("users", "disable", "root", "--db", db_url))  # ada is an admin now
    refused(vigil("users", "delete", "ada", "--yes", "--db", db_url), "cannot delete the last admin")


def test_keys_create_list_revoke(db_url: str, users: AccountRepository) -> None:
    create_root_and_ada(db_url)
    created = ok(vigil("keys", "create", "grafana", "--user", "ada", "--db", db_url))
    token = created.stdout.strip()  # alone on stdout: TOKEN=$(vigil keys create …) works
    assert "shown only once" in created.stderr
    assert users.by_key(token) == Account(account(users, "ada").id, "ada", "viewer")
    ok(vigil("keys", "create", "backup", "--user", "root", "--db", db_url))

    listed = ok(vigil("keys", "list", "--db", db_url)).stdout
    assert "API keys (2)" in listed and "grafana" in listed and "backup" in listed
    assert token[:10] in listed and token not in listed
    only_ada = ok(vigil("keys", "list", "--user", "ada", "--db", db_url)).stdout
    assert "grafana" in only_ada and "backup" not in only_ada

    (key,) = users.keys(account(users, "ada").id)
    ok(vigil("keys", "revoke", str(key.id), "--db", db_url))
    assert users.by_key(token) is None
    refused(vigil("keys", "revoke", str(key.id), "--db", db_url), f"no API key with id {key.id}")


def test_unknown_users_and_weak_passwords_are_refused(sqlite_url: str) -> None:
    create_root_and_ada(sqlite_url)
    for command in (
        ("users", "role", "bob", "admin"),
        ("users", "logout", "bob"),
        ("keys", "list", "-u", "bob"),
    ):
        refused(vigil(*command, "--db", sqlite_url), "no user 'bob'")
    refused(vigil("keys", "create", "x", "--user", "bob", "--db", sqlite_url), "no user 'bob'")
    refused(vigil("users", "create", "ada", "--db", sqlite_url), "user 'ada' already exists")
    short = vigil("users", "create", "bob", "--password-stdin", "--db", sqlite_url, stdin="short\n")
    refused(short, "at least 8 characters")


def test_generated_password_is_printed_once_and_logs_in(sqlite_url: str) -> None:
    create_root_and_ada(sqlite_url)
    reset = ok(vigil("users", "reset-password", "ada", "--generate", "--db", sqlite_url))
    password = reset.stdout.splitlines()[-1]
    assert reset.stdout.count(password) == 1 and "shown only once" in reset.stderr
    created = ok(vigil("users", "create", "bob", "--generate", "--db", sqlite_url))
    bob_password = created.stdout.splitlines()[-1]
    db = connect(sqlite_url)
    try:
        users = AccountRepository(db)
        assert users.authenticate("ada", password) is not None
        assert users.authenticate("bob", bob_password) is not None
    finally:
        db.dispose()
    both = vigil("users", "reset-password", "ada", "--generate", "--password-stdin", "--db", sqlite_url)
    assert both.exit_code == 2 and "not both" in both.output


def test_mistyped_confirmation_asks_again_and_nothing_is_echoed(sqlite_url: str) -> None:
    typed = f"first-Typo-1\nsecond-Typo-2\n{ROOT_PASSWORD}\n{ROOT_PASSWORD}\n"
    result = ok(vigil("users", "create", "root", "--role", "admin", "--db", sqlite_url, stdin=typed))
    assert "do not match" in result.output
    for password in ("first-Typo-1", "second-Typo-2", ROOT_PASSWORD):
        assert password not in result.output
    db = connect(sqlite_url)
    try:
        assert AccountRepository(db).authenticate("root", ROOT_PASSWORD) is not None
    finally:
        db.dispose()


def test_commands_use_the_configured_store(tmp_path: Path) -> None:
    """Without --db, the store of the settings (here the data dir from the environment)."""
    data = tmp_path / "state"
    env = {**ENV, "VIGIL_DATA_DIR": str(data)}
    result = CliRunner().invoke(app, ["users", "create", "eve", "--generate"], env=env)
    assert result.exit_code == 0, result.output
    db = connect(f"sqlite:///{data / 'vigil.db'}")
    try:
        assert AccountRepository(db).by_name("eve") is not None
    finally:
        db.dispose()


def test_operator_role_from_the_command_line(sqlite_url: str) -> None:
    db = connect(sqlite_url)
    users = AccountRepository(db)
    try:
        ok(vigil("users", "create", "olivia", "--role", "operator", "--generate", "--db", sqlite_url))
        assert account(users, "olivia").role == "operator"
        ok(vigil("users", "role", "olivia", "viewer", "--db", sqlite_url))
        assert account(users, "olivia").role == "viewer"
        refused = vigil("users", "role", "olivia", "superuser", "--db", sqlite_url)
        assert refused.exit_code != 0 and "operator" in refused.output
    finally:
        db.dispose()


def test_names_follow_the_api_rule_and_changes_are_audited(sqlite_url: str) -> None:
    create_root_and_ada(sqlite_url)
    spaced = vigil("users", "create", "bob smith", "--password-stdin", "--db", sqlite_url, stdin=ADA_PASSWORD)
    refused(spaced, "user names are 1 to 64 letters")
    ok(vigil("users", "role", "ada", "operator", "--db", sqlite_url))
    ok(vigil("users", "disable", "ada", "--db", sqlite_url))
    db = connect(sqlite_url)
    try:
        _, entries = AuditLog(db).page()
    finally:
        db.dispose()
    lines = [(e.action, e.target) for e in reversed(entries)]
    assert lines == [
        ("users create (admin)", "root"),
        ("users create (viewer)", "ada"),
        ("users role operator", "ada"),
        ("users disable", "ada"),
    ]
    assert all(e.actor is not None and e.actor.startswith("cli:") for e in entries)
