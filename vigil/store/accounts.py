"""Accounts (admin / operator / viewer) and their API keys, in the store's database.

API keys are random tokens shown once; only their SHA-256 is stored."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Row, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from vigil.errors import ApiKeyNotFound, InvalidAccount, LastAdmin, UserExists, UserNotFound
from vigil.store.database import Database
from vigil.store.passwords import hash_password, verify_password
from vigil.store.roles import ROLES as ROLES  # re-exported: callers import them from here
from vigil.store.roles import Role as Role
from vigil.store.schema import ApiKey, User

KEY_PREFIX = "vgl_"
KEY_TOUCH_S = 60  # `last_used_at` is written at most once a minute per key
# User names: the API's and the CLI's one rule (no spaces or control characters in logs and URLs).
USERNAME_PATTERN = r"^[A-Za-z0-9_.@-]{1,64}$"


@dataclass(frozen=True)
class Account:
    id: int
    username: str
    role: Role
    # Signed into session cookies; a cookie naming an older version is no longer valid.
    session_version: int = 0
    # A disabled account cannot log in, its sessions are ended and its API keys refused.
    disabled: bool = False
    created_at: datetime | None = None  # None only where not read (API-key lookups)


@dataclass(frozen=True)
class ApiKeyInfo:
    """A key as listed: never its token."""

    id: int
    name: str
    prefix: str
    user: str
    created_at: datetime
    last_used_at: datetime | None


def _account(row: Row[User]) -> Account:
    return Account(row.id, row.username, row.role, row.session_version, row.disabled, row.created_at)


def _key_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AccountRepository:
    def __init__(self, db: Database) -> None:
        self.db = db
        # A fixed hash to verify against when the user is unknown: same time as a wrong password.
        self._dummy_hash = hash_password(secrets.token_urlsafe(16))

    def count(self) -> int:
        with self.db.reader.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(User)).scalar_one())

    def create(self, username: str, password: str, role: Role) -> Account:
        if not re.fullmatch(USERNAME_PATTERN, username):
            raise InvalidAccount("user names are 1 to 64 letters, digits or . _ @ -")
        if role not in ROLES:
            raise InvalidAccount(f"role must be one of {', '.join(ROLES)}")
        if len(password) < 8:
            raise InvalidAccount("passwords need at least 8 characters")
        try:
            with self.db.writer.begin() as conn:
                created = conn.execute(
                    insert(User)
                    .values(username=username, password_hash=hash_password(password), role=role)
                    .returning(User.id, User.created_at)
                ).one()
        except IntegrityError as exc:
            raise UserExists(f"user {username!r} already exists") from exc
        return Account(int(created.id), username, role, created_at=created.created_at)

    def ensure_admin(self, username: str, password: str) -> bool:
        """Create the first admin when there is no user at all; True when created."""
        if self.count():
            return False
        try:
            self.create(username, password, "admin")
        except UserExists:  # another process created it first
            return False
        return True

    def authenticate(self, username: str, password: str) -> Account | None:
        with self.db.reader.connect() as conn:
            row = conn.execute(select(User).where(User.username == username)).first()
        if row is None:
            verify_password(password, self._dummy_hash)
            return None
        if not verify_password(password, row.password_hash) or row.disabled:
            return None
        return _account(row)

    def check_password(self, user_id: int, password: str) -> bool:
        """Whether `password` is the user's current one (own password change asks for it)."""
        with self.db.reader.connect() as conn:
            stored = conn.execute(select(User.password_hash).where(User.id == user_id)).scalar_one_or_none()
        if stored is None:
            raise UserNotFound(f"no user with id {user_id}")
        return verify_password(password, stored)

    def by_name(self, username: str) -> Account | None:
        with self.db.reader.connect() as conn:
            row = conn.execute(select(User).where(User.username == username)).first()
        return None if row is None else _account(row)

    def get(self, user_id: int) -> Account | None:
        with self.db.reader.connect() as conn:
            row = conn.execute(select(User).where(User.id == user_id)).first()
        return None if row is None else _account(row)

    def all(self) -> list[Account]:
        with self.db.reader.connect() as conn:
            rows = conn.execute(select(User).order_by(User.username)).all()
        return [_account(r) for r in rows]

    def delete(self, user_id: int) -> None:
        with self.db.writer.begin() as conn:
            row = conn.execute(select(User.role, User.disabled).where(User.id == user_id)).first()
            if row is None:
                raise UserNotFound(f"no user with id {user_id}")
            if row.role == "admin" and not row.disabled and _active_admins(conn) <= 1:
                raise LastAdmin("cannot delete the last admin")
            conn.execute(delete(User).where(User.id == user_id))

    # ------------------------------------------------------------------ sessions
    def end_sessions(self, user_id: int) -> None:
        """Ends every login session of the user (their cookies name an older version); API keys stay."""
        with self.db.writer.begin() as conn:
            self._bump(conn, user_id, {})

    def set_role(self, user_id: int, role: Role) -> None:
        """Changes the role and ends the user's sessions (the last admin cannot become a viewer)."""
        self.update(user_id, role=role)

    def set_disabled(self, user_id: int, disabled: bool) -> None:
        """Disables (ending the user's sessions; API keys are refused while disabled) or re-enables
        an account. The last enabled admin cannot be disabled."""
        self.update(user_id, disabled=disabled)

    def update(self, user_id: int, role: Role | None = None, disabled: bool | None = None) -> None:
        """Role and/or disabled flag in one transaction, ending the user's sessions. The last
        enabled admin can be neither demoted nor disabled (LastAdmin): the admins' rows are locked
        first, so two concurrent changes on PostgreSQL cannot each leave the other as the last."""
        if role is not None and role not in ROLES:
            raise InvalidAccount(f"role must be one of {', '.join(ROLES)}")
        values: dict[str, str | bool] = {}
        if role is not None:
            values["role"] = role
        if disabled is not None:
            values["disabled"] = disabled
        if not values:
            return
        with self.db.writer.begin() as conn:
            stays_admin = role in (None, "admin") and not disabled
            if not stays_admin and _is_last_active_admin(conn, user_id):
                what = "disable" if disabled else "take the admin role from"
                raise LastAdmin(f"cannot {what} the last admin")
            self._bump(conn, user_id, values)

    def set_password(self, user_id: int, password: str) -> None:
        """Sets a new password and ends the user's sessions."""
        if len(password) < 8:
            raise InvalidAccount("passwords need at least 8 characters")
        with self.db.writer.begin() as conn:
            self._bump(conn, user_id, {"password_hash": hash_password(password)})

    @staticmethod
    def _bump(conn: Connection, user_id: int, values: dict[str, str | bool]) -> None:
        """Applies `values` and increments the session version in one UPDATE (atomic across processes)."""
        bump = update(User).where(User.id == user_id)
        bump = bump.values(session_version=User.session_version + 1, **values)
        if conn.execute(bump).rowcount == 0:
            raise UserNotFound(f"no user with id {user_id}")

    # ------------------------------------------------------------------ API keys
    def create_key(self, user_id: int, name: str) -> tuple[int, str]:
        """A new key for `user_id`: (key id, token). The token is shown once and never stored."""
        if self.get(user_id) is None:
            raise UserNotFound(f"no user with id {user_id}")
        token = KEY_PREFIX + secrets.token_urlsafe(32)
        with self.db.writer.begin() as conn:
            key_id = conn.execute(
                insert(ApiKey)
                .values(user_id=user_id, name=name, prefix=token[:10], key_hash=_key_hash(token))
                .returning(ApiKey.id)
            ).scalar_one()
        return int(key_id), token

    def by_key(self, token: str) -> Account | None:
        if not token.startswith(KEY_PREFIX):
            return None
        with self.db.reader.connect() as conn:
            row = conn.execute(
                select(User.id, User.username, User.role, User.session_version, User.disabled)
                .add_columns(ApiKey.id.label("key_id"), ApiKey.last_used_at)
                .join(ApiKey, ApiKey.user_id == User.id)
                .where(ApiKey.key_hash == _key_hash(token))
            ).first()
        if row is None or row.disabled:
            return None
        now = datetime.now(UTC)
        if row.last_used_at is None or (now - row.last_used_at).total_seconds() > KEY_TOUCH_S:
            with self.db.writer.begin() as conn:
                conn.execute(update(ApiKey).where(ApiKey.id == row.key_id).values(last_used_at=now))
        return Account(row.id, row.username, row.role, row.session_version)

    def keys(self, user_id: int | None = None) -> list[ApiKeyInfo]:
        """Every key (or `user_id`'s), oldest first."""
        query = select(ApiKey, User.username).join(User, User.id == ApiKey.user_id).order_by(ApiKey.id)
        if user_id is not None:
            query = query.where(ApiKey.user_id == user_id)
        with self.db.reader.connect() as conn:
            rows = conn.execute(query).all()
        return [ApiKeyInfo(r.id, r.name, r.prefix, r.username, r.created_at, r.last_used_at) for r in rows]

    def revoke_key(self, key_id: int, user_id: int | None = None) -> None:
        """Deletes the key (only among `user_id`'s keys when given)."""
        query = delete(ApiKey).where(ApiKey.id == key_id)
        if user_id is not None:
            query = query.where(ApiKey.user_id == user_id)
        with self.db.writer.begin() as conn:
            if conn.execute(query).rowcount == 0:
                raise ApiKeyNotFound(f"no API key with id {key_id}")


def _active_admins(conn: Connection) -> int:
    """Enabled admins, their rows locked until the transaction ends (FOR UPDATE on PostgreSQL,
    whose READ COMMITTED would let two transactions each count the other; SQLite's writer holds
    the database's write lock already and renders no FOR UPDATE)."""
    query = select(User.id).where(User.role == "admin", User.disabled.is_(False)).with_for_update()
    return len(conn.execute(query).all())


def _is_last_active_admin(conn: Connection, user_id: int) -> bool:
    row = conn.execute(select(User.role, User.disabled).where(User.id == user_id)).first()
    if row is None:
        raise UserNotFound(f"no user with id {user_id}")
    return bool(row.role == "admin" and not row.disabled and _active_admins(conn) <= 1)
