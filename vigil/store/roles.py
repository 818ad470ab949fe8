"""Account roles, apart from the accounts store so that settings can name them without importing
the database layer (SQLAlchemy, Alembic: ~0.5 s of every command's start)."""

from __future__ import annotations

from typing import Literal

__all__ = ["ROLES", "Role"]

# admin: everything; operator: a viewer who also sees and decides watchlist alerts; viewer: read only.
Role = Literal["admin", "operator", "viewer"]
ROLES: tuple[Role, ...] = ("admin", "operator", "viewer")
