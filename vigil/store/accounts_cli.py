"""`vigil users` and `vigil keys`: accounts and API keys of the configured database.

They write the rows directly, so they work with or without a running server: the way to a first
API key, or back in after a lost admin password. Passwords are never options (shell history and
`ps` would keep them): they are prompted for without echo, read from stdin, or generated."""

from __future__ import annotations

import getpass
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from vigil.cli_console import error_console
from vigil.cli_typer import VigilTyper
from vigil.errors import UserExists, UserNotFound
from vigil.store.accounts import Account, AccountRepository, Role
from vigil.store.audit import AuditLog
from vigil.store.cli import ConfigOption, DbOption, opened_store

users_app = VigilTyper(
    help="Accounts of the web app (admin / operator / viewer): list, create, role, disable, enable, "
    "reset-password, delete, logout.",
    no_args_is_help=True,
)
keys_app = VigilTyper(
    help="API keys (bearer tokens): create (shown once), list, revoke.", no_args_is_help=True
)
out = Console()
err = error_console()

UserName = Annotated[str, typer.Argument(help="User name.")]
PasswordStdin = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password from the first line of stdin (scripts)."),
]
Generate = Annotated[bool, typer.Option("--generate", help="Generate a random password and print it once.")]
GENERATED_BYTES = 18  # 24 URL-safe characters


@contextmanager
def _accounts(config: Path | None, db: str | None) -> Iterator[AccountRepository]:
    """The accounts of the store `vigil visitors` opens; a typed error exits 1 with its message."""
    with opened_store(config, db) as (store, _):
        yield AccountRepository(store.db)


def _user(users: AccountRepository, name: str) -> Account:
    account = users.by_name(name)
    if account is None:
        raise UserNotFound(f"no user {name!r}")
    return account


def _audit(users: AccountRepository, action: str, target: str | None) -> None:
    """The change in the audit log the web app writes, by `cli:<OS user>` (no IP): changes made
    on the server's shell are as visible to admins as those made through the API."""
    AuditLog(users.db).record(f"cli:{getpass.getuser()}", action, target, 200, None)


def _new_password(from_stdin: bool, generate: bool) -> str:
    if from_stdin and generate:
        raise typer.BadParameter("give --password-stdin or --generate, not both", param_hint="--generate")
    if generate:
        return secrets.token_urlsafe(GENERATED_BYTES)
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


def _show_once(secret: str, what: str) -> None:
    """The secret alone on stdout (`TOKEN=$(vigil keys create …)`), the hint on stderr."""
    typer.echo(secret)
    err.print(f"{what}: shown only once, store it now", highlight=False)


def _when(at: datetime | None) -> str:
    return "" if at is None else at.astimezone().isoformat(sep=" ", timespec="seconds")


# ------------------------------------------------------------------ users
@users_app.command("list")
def list_users(db: DbOption = None, config: ConfigOption = None) -> None:
    """Every account: name, role, whether it is disabled, when it was created."""
    with _accounts(config, db) as users:
        accounts = users.all()
    table = Table(title=f"Users ({len(accounts)})")
    for column in ("name", "role", "disabled", "created"):
        table.add_column(column)
    for account in accounts:
        disabled = Text("disabled", style="red") if account.disabled else ""
        table.add_row(Text(account.username), account.role, disabled, _when(account.created_at))
    out.print(table)


@users_app.command("create")
def create_user(
    name: UserName,
    role: Annotated[
        Role,
        typer.Option(
            help="Role: admin (everything), operator (viewer + watchlist alerts), viewer (read only)."
        ),
    ] = "viewer",
    password_stdin: PasswordStdin = False,
    generate: Generate = False,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Create an account; the password (8 characters or more) is prompted for twice."""
    with _accounts(config, db) as users:
        if users.by_name(name) is not None:  # before the prompt, not after two typed passwords
            raise UserExists(f"user {name!r} already exists")
        password = _new_password(password_stdin, generate)
        users.create(name, password, role)
        _audit(users, f"users create ({role})", name)
    out.print(f"created {role} {escape(name)}")
    if generate:
        _show_once(password, f"password of {escape(name)}")


@users_app.command("role")
def set_role(
    name: UserName,
    role: Annotated[Role, typer.Argument(help="New role: admin, operator or viewer.")],
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Change a user's role and end their sessions (the last admin stays an admin)."""
    with _accounts(config, db) as users:
        users.set_role(_user(users, name).id, role)
        _audit(users, f"users role {role}", name)
    out.print(f"{escape(name)} is now {role}; their sessions are ended")


@users_app.command("disable")
def disable(name: UserName, db: DbOption = None, config: ConfigOption = None) -> None:
    """Refuse the user's logins and API keys and end their sessions (the last admin stays)."""
    with _accounts(config, db) as users:
        users.set_disabled(_user(users, name).id, True)
        _audit(users, "users disable", name)
    out.print(f"disabled {escape(name)}: sessions ended, logins and API keys refused")


@users_app.command("enable")
def enable(name: UserName, db: DbOption = None, config: ConfigOption = None) -> None:
    """Allow a disabled user's logins and API keys again."""
    with _accounts(config, db) as users:
        users.set_disabled(_user(users, name).id, False)
        _audit(users, "users enable", name)
    out.print(f"enabled {escape(name)}")


@users_app.command("reset-password")
def reset_password(
    name: UserName,
    password_stdin: PasswordStdin = False,
    generate: Generate = False,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Set a new password (prompted for twice) and end the user's sessions."""
    with _accounts(config, db) as users:
        account = _user(users, name)  # before the prompt: no password typed for nobody
        password = _new_password(password_stdin, generate)
        users.set_password(account.id, password)
        _audit(users, "users reset-password", name)
    out.print(f"new password for {escape(name)}; their sessions are ended")
    if generate:
        _show_once(password, f"password of {escape(name)}")


@users_app.command("delete")
def delete(
    name: UserName,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Delete an account and its API keys (the last admin stays)."""
    with _accounts(config, db) as users:
        account = _user(users, name)
        if not yes:
            typer.confirm(f"delete user {name!r} and their API keys?", abort=True)
        users.delete(account.id)
        _audit(users, "users delete", name)
    out.print(f"deleted {escape(name)}")


@users_app.command("logout")
def logout(name: UserName, db: DbOption = None, config: ConfigOption = None) -> None:
    """End every login session of the user (their API keys keep working)."""
    with _accounts(config, db) as users:
        users.end_sessions(_user(users, name).id)
        _audit(users, "users logout", name)
    out.print(f"ended the sessions of {escape(name)}")


# ------------------------------------------------------------------ API keys
@keys_app.command("create")
def create_key(
    name: Annotated[str, typer.Argument(help="What the key is for, e.g. grafana.")],
    user: Annotated[str, typer.Option("--user", "-u", help="The user the key acts as.")],
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Create an API key and print its token, once (`Authorization: Bearer <token>`)."""
    with _accounts(config, db) as users:
        key_id, token = users.create_key(_user(users, user).id, name)
        _audit(users, f"keys create {key_id}", user)
    _show_once(token, f"API key {key_id} of {escape(user)}")


@keys_app.command("list")
def list_keys(
    user: Annotated[
        str | None, typer.Option("--user", "-u", help="Only this user's keys.", show_default="every user")
    ] = None,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """API keys with the start of their token (the token itself is not stored)."""
    with _accounts(config, db) as users:
        keys = users.keys(None if user is None else _user(users, user).id)
    table = Table(title=f"API keys ({len(keys)})")
    for column in ("id", "name", "token starts", "user", "created", "last used"):
        table.add_column(column)
    for key in keys:
        row = (str(key.id), Text(key.name), f"{key.prefix}…", Text(key.user))
        table.add_row(*row, _when(key.created_at), _when(key.last_used_at))
    out.print(table)


@keys_app.command("revoke")
def revoke_key(
    key_id: Annotated[int, typer.Argument(help="Key id, as `vigil keys list` shows it.")],
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Revoke an API key: it is refused from now on."""
    with _accounts(config, db) as users:
        users.revoke_key(key_id)
        _audit(users, f"keys revoke {key_id}", None)
    out.print(f"revoked API key {key_id}")
