"""Login and logout (pages), language switch, and the audit log (page and API).

Accounts and API keys: `vigil.web.routes.accounts`."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from vigil.store.audit import AuditRecord
from vigil.web.auth import LOGIN_CSRF_COOKIE, SESSION_COOKIE, Principal, require_admin, require_viewer
from vigil.web.context import WebContext, get_ctx
from vigil.web.i18n import LANG_COOKIE, LANGUAGES
from vigil.web.login_throttle import LoginThrottled
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
