"""Secrets come from the environment or from files, never from code.

When none is configured, a random one is generated once into the data directory (mode 600)
so a fresh `make run` is secure without any setup, and stays stable across restarts."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from pydantic import SecretStr

from vigil.config import VigilSettings
from vigil.errors import ConfigError
from vigil.private_files import create_private_file, make_private_dir

log = logging.getLogger(__name__)


def _read(path: Path, what: str) -> str:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} file {path}: {exc.strerror}") from exc
    if not value:
        raise ConfigError(f"the {what} file {path} is empty")
    return value


def _generated(path: Path, what: str) -> str:
    """The value stored at `path`, created (random, mode 600) on first use."""
    if path.exists():
        return _read(path, what)
    make_private_dir(path.parent)
    value = secrets.token_urlsafe(32)
    fd = create_private_file(path, exclusive=True)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    log.warning("generated a new %s into %s", what, path)
    return value


def _configured(value: SecretStr | None, file: Path | None) -> str | None:
    if value is not None and value.get_secret_value():
        return value.get_secret_value()
    return _read(file, "secret") if file is not None else None


def signing_key(settings: VigilSettings) -> str:
    web = settings.web
    return _configured(web.secret_key, web.secret_key_file) or _generated(
        settings.data_dir / "secret_key", "signing key"
    )


def first_admin_password(settings: VigilSettings) -> tuple[str, Path | None]:
    """The first admin's password and, when generated, the file an operator reads it from."""
    web = settings.web
    configured = _configured(web.admin_password, web.admin_password_file)
    if configured:
        return configured, None
    path = settings.data_dir / "admin_password"
    return _generated(path, "admin password"), path
