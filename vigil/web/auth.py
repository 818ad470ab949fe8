"""Who is asking: login sessions (signed cookies) and bearer API keys, and the role checks.

`SecurityMiddleware` resolves the caller once per request into `request.state.principal`;
routes declare what they need with `Depends(require_viewer)`, `Depends(require_operator)` (watchlist
alerts: operators and admins) or `Depends(require_admin)`."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import HTTPException, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import HTTPConnection

from vigil.store.accounts import Account, Role

SESSION_COOKIE = "vigil_session"
LOGIN_CSRF_COOKIE = "vigil_login_csrf"


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    role: Role
    via: Literal["session", "api_key"]
    csrf: str | None = None  # the session's CSRF token (cookie sessions only)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def sees_alerts(self) -> bool:
        """Watchlist alerts and the registry are biometric data: operators and admins only."""
        return self.role in ("admin", "operator")


@dataclass(frozen=True)
class SessionClaim:
    """What a valid session cookie says: who, its CSRF token, and the user's session version when
    it was issued (the middleware refuses it once the account's version has moved on)."""

    user_id: int
    csrf: str
    version: int


class Sessions:
    """Signed, timestamped cookies naming the user, its CSRF token and the user's session version.

    Revocation is per user: logout, password and role changes bump `users.session_version`, which
    ends every cookie issued before (see `AccountRepository.end_sessions`)."""

    def __init__(self, key: str, ttl_s: float) -> None:
        self._serializer = URLSafeTimedSerializer(key, salt="vigil.session")
        self.ttl_s = ttl_s

    def issue(self, account: Account) -> str:
        claim = {"u": account.id, "c": secrets.token_urlsafe(24), "v": account.session_version}
        return self._serializer.dumps(claim)

    def read(self, cookie: str) -> SessionClaim | None:
        try:
            data: Any = self._serializer.loads(cookie, max_age=int(self.ttl_s))
        except BadSignature:  # includes SignatureExpired
            return None
        if not isinstance(data, dict):
            return None
        user_id, csrf, version = data.get("u"), data.get("c"), data.get("v")
        # Cookies from before versions existed carry no "v": they are refused (one more login).
        if not isinstance(user_id, int) or not isinstance(csrf, str) or not isinstance(version, int):
            return None
        return SessionClaim(user_id, csrf, version)


def principal_of(request: HTTPConnection) -> Principal | None:
    principal = getattr(request.state, "principal", None)
    return principal if isinstance(principal, Principal) else None


def require_viewer(request: Request) -> Principal:
    """Any logged-in user or API key (401 otherwise)."""
    principal = principal_of(request)
    if principal is None:
        raise HTTPException(
            401,
            "authentication required: log in or send 'Authorization: Bearer <API key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


def require_operator(request: Request) -> Principal:
    """An operator or an admin (403 for viewers, 401 for anonymous callers)."""
    principal = require_viewer(request)
    if not principal.sees_alerts:
        raise HTTPException(403, "this action needs the operator or admin role")
    return principal


def require_admin(request: Request) -> Principal:
    """An admin (403 for operators and viewers, 401 for anonymous callers)."""
    principal = require_viewer(request)
    if not principal.is_admin:
        raise HTTPException(403, "this action needs the admin role")
    return principal
