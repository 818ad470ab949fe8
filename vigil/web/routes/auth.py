"""Login and logout (pages), language switch, and the account API: me, users, API keys, audit log."""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from vigil.store.accounts import Role
from vigil.store.audit import AuditRecord
from vigil.web.auth import LOGIN_CSRF_COOKIE, SESSION_COOKIE, Principal, require_admin, require_viewer
from vigil.web.context import WebContext, get_ctx
from vigil.web.i18n import LANG_COOKIE, LANGUAGES
from vigil.web.login_throttle import LoginThrottled
from vigil.web.params import DbId
from vigil.web.templating import page_admin, render

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["accounts"])
Ctx = Annotated[WebContext, Depends(get_ctx)]


def _safe_next(target: str | None) -> str:
    """Only local paths: an attacker-provided ?next=https://evil.example must not redirect away."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@pages.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> Response:
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", login_csrf=token, next=_safe_next(next), error=None)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", max_age=3600)
    return response


@pages.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    ctx: Ctx,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    client = request.client.host if request.client else None
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    again = {"login_csrf": expected, "next": _safe_next(next)}
    if not expected or not hmac.compare_digest(csrf_token, expected):
        return render(request, "login.html", 400, error="login.expired", **again)
    try:  # before the password is checked: a refused guess is not tested at all
        await run_in_threadpool(ctx.login_throttle.admit, username, client or "unknown")
    except LoginThrottled as refusal:
        await run_in_threadpool(ctx.audit.record, username, "login", f"refused ({refusal.by})", 429, client)
        return _throttled(request, refusal, again)
    account = await run_in_threadpool(ctx.users.authenticate, username, password)
    await run_in_threadpool(ctx.audit.record, username, "login", None, 303 if account else 401, client)
    if account is None:
        return render(request, "login.html", 401, error="login.failed", **again)
    await run_in_threadpool(ctx.login_throttle.succeeded, username)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        ctx.sessions.issue(account),
        max_age=int(ctx.sessions.ttl_s),
        httponly=True,
        samesite="lax",
        secure=ctx.settings.web.cookie_secure,
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


def _throttled(request: Request, refusal: LoginThrottled, again: dict[str, str]) -> Response:
    """The login page again, saying how long to wait (429 + Retry-After)."""
    error = f"login.throttled.{refusal.by}"
    response = render(request, "login.html", 429, error=error, retry_after=refusal.retry_after_s, **again)
    response.headers["Retry-After"] = str(refusal.retry_after_s)
    return response


@pages.post("/logout")
def logout(ctx: Ctx, principal: Annotated[Principal, Depends(require_viewer)]) -> Response:
    """Ends every session of the caller (all browsers: sessions are revoked per user); API keys stay."""
    ctx.users.end_sessions(principal.user_id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@pages.get("/lang/{code}")
def set_language(code: str, request: Request) -> Response:
    if code not in LANGUAGES:
        raise HTTPException(404, f"language {code!r} not available: {', '.join(LANGUAGES)}")
    referer = request.headers.get("referer", "/")
    target = "/" + referer.split("/", 3)[3] if referer.count("/") >= 3 else "/"
    response = RedirectResponse(_safe_next(target), status_code=303)
    response.set_cookie(LANG_COOKIE, code, max_age=365 * 86400, samesite="lax")
    return response


@pages.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    ctx: Ctx,
    _: Annotated[Principal, Depends(page_admin)],
    page: Annotated[int, Query(ge=1, le=10**6)] = 1,
) -> Response:
    per_page = 50
    total, rows = ctx.audit.page(per_page, (page - 1) * per_page)
    pages_count = max(1, -(-total // per_page))
    return render(request, "audit.html", rows=rows, page=page, pages=pages_count)


# ------------------------------------------------------------------------------ API
class Me(BaseModel):
    username: str
    role: Role
    via: str


@api.get("/me", response_model=Me)
def me(principal: Annotated[Principal, Depends(require_viewer)]) -> Me:
    """The caller's account."""
    return Me(username=principal.username, role=principal.role, via=principal.via)


class UserOut(BaseModel):
    id: int
    username: str
    role: Role


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(min_length=8, max_length=256)
    role: Role = "viewer"


@api.get("/users", response_model=list[UserOut])
def list_users(ctx: Ctx, _: Annotated[Principal, Depends(require_admin)]) -> list[UserOut]:
    """Every account (admin only)."""
    return [UserOut(id=a.id, username=a.username, role=a.role) for a in ctx.users.all()]


@api.post("/users", response_model=UserOut, status_code=201)
def create_user(body: UserIn, ctx: Ctx, _: Annotated[Principal, Depends(require_admin)]) -> UserOut:
    """Create an account (admin only). 409 when the name is taken."""
    account = ctx.users.create(body.username, body.password, body.role)
    return UserOut(id=account.id, username=account.username, role=account.role)


@api.delete("/users/{user_id}", status_code=204)
def delete_user(user_id: DbId, ctx: Ctx, principal: Annotated[Principal, Depends(require_admin)]) -> Response:
    """Delete an account and its API keys (admin only; the last admin cannot be deleted)."""
    ctx.users.delete(user_id)
    return Response(status_code=204)


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    username: str | None = Field(None, max_length=64, description="Admins may create keys for other users")


class KeyCreated(BaseModel):
    id: int
    name: str
    token: str = Field(description="Send as 'Authorization: Bearer <token>'; shown only once")


class KeyOut(BaseModel):
    id: int
    name: str
    prefix: str
    user: str
    created_at: datetime
    last_used_at: datetime | None


@api.get("/keys", response_model=list[KeyOut])
def list_keys(ctx: Ctx, principal: Annotated[Principal, Depends(require_viewer)]) -> list[KeyOut]:
    """API keys: all of them for admins, one's own otherwise (tokens are never shown again)."""
    keys = ctx.users.keys(None if principal.is_admin else principal.user_id)
    return [KeyOut.model_validate(key, from_attributes=True) for key in keys]


@api.post("/keys", response_model=KeyCreated, status_code=201)
def create_key(body: KeyIn, ctx: Ctx, principal: Annotated[Principal, Depends(require_viewer)]) -> KeyCreated:
    """A new API key for oneself (or, for admins, for `username`)."""
    user_id = principal.user_id
    if body.username and body.username != principal.username:
        if not principal.is_admin:
            raise HTTPException(403, "only admins create keys for other users")
        match = [a for a in ctx.users.all() if a.username == body.username]
        if not match:
            raise HTTPException(404, f"no user named {body.username!r}")
        user_id = match[0].id
    key_id, token = ctx.users.create_key(user_id, body.name)
    return KeyCreated(id=key_id, name=body.name, token=token)


@api.delete("/keys/{key_id}", status_code=204)
def revoke_key(key_id: DbId, ctx: Ctx, principal: Annotated[Principal, Depends(require_viewer)]) -> Response:
    """Revoke a key (one's own; admins any)."""
    ctx.users.revoke_key(key_id, None if principal.is_admin else principal.user_id)
    return Response(status_code=204)


class AuditOut(BaseModel):
    total: int
    items: list[dict[str, object]]


@api.get("/audit", response_model=AuditOut)
def audit_log(
    ctx: Ctx,
    _: Annotated[Principal, Depends(require_admin)],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> AuditOut:
    """The audit log, newest first (admin only)."""
    total, rows = ctx.audit.page(limit, offset)
    return AuditOut(total=total, items=[AuditRecord.to_dict(r) for r in rows])
