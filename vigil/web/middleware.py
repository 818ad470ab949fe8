"""One ASGI middleware for the cross-cutting rules, so no route can forget them:

1. request bodies above `web.max_body_kb` get 413 (declared length or counted while streaming); the
   photo uploads of the watchlist and the activity frame picture (`UPLOAD_PATHS`) get
   `watchlist.max_upload_mb` instead, video uploads (`vigil.web.uploads`) `web.max_video_upload_mb`;
2. the caller is resolved once (bearer API key, else session cookie) into `request.state.principal`
   (for WebSocket handshakes too: the alert stream checks it);
3. mutating requests are rate-limited per caller (429 + Retry-After);
4. mutating requests made with a session cookie must carry its CSRF token (`X-CSRF-Token` header or
   a `csrf_token` form field), so another site cannot post forms with the user's cookie;
5. every mutating request is written to the audit log with its status;
6. security headers on every response.

It is plain ASGI (not BaseHTTPMiddleware) so MJPEG and SSE streams pass through untouched."""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool

from vigil.web.auth import SESSION_COOKIE, Principal
from vigil.web.uploads import UPLOAD_PATH

if TYPE_CHECKING:
    from vigil.web.context import WebContext

log = logging.getLogger(__name__)
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# Watchlist enrolment: several photos in one multipart request (POST only).
UPLOAD_PATHS = re.compile(r"^/api/watchlist(?:/[^/]+/photos|/?)$|^/api/activity/frame$")
CSRF_EXEMPT = {"/login"}  # checked by the login route itself (no session exists yet)
NOT_AUDITED = {"/login"}  # the login route records attempts with the attempted user name
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
        b"script-src 'self'; frame-ancestors 'none'; form-action 'self'",
    ),
]


class BodyTooLarge(Exception):
    pass


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def _json_error(send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]]) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
                *SECURITY_HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class SecurityMiddleware:
    def __init__(self, app: ASGIApp, ctx: WebContext) -> None:
        self.app = app
        self.ctx = ctx
        self.default_max_body = ctx.settings.web.max_body_kb * 1024
        self.upload_max_body = int(ctx.settings.watchlist.max_upload_mb * 1024 * 1024)
        self.video_max_body = int(ctx.settings.web.max_video_upload_mb * 1024 * 1024)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":  # no body, no CSRF (the route checks the Origin): who it is
            scope.setdefault("state", {})["principal"] = await self._principal(scope)
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        upload = method == "POST" and UPLOAD_PATHS.match(path) is not None
        max_body = self.upload_max_body if upload else self.default_max_body
        if method == "POST" and path == UPLOAD_PATH:  # streamed to disk
            max_body = self.video_max_body
        too_large = f"request body larger than {max_body // 1024} KiB"
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > max_body):
            await _json_error(send, 413, too_large, [])
            return
        principal = await self._principal(scope)
        scope.setdefault("state", {})["principal"] = principal
        mutating = method not in SAFE_METHODS
        if mutating:
            wait = self.ctx.limiter.acquire(principal.username if principal else f"ip:{_client(scope)}")
            if wait > 0:
                retry = str(int(wait) + 1).encode()
                await _json_error(send, 429, "too many requests: slow down", [(b"retry-after", retry)])
                return
        try:
            receive = await self._checked_body(scope, receive, principal, mutating, max_body)
        except BodyTooLarge:
            await _json_error(send, 413, too_large, [])
            return
        except PermissionError as exc:
            await self._audit(principal, scope, 403)
            await _json_error(send, 403, str(exc), [])
            return
        status: dict[str, Any] = {"code": 500, "started": False}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"], status["started"] = message["status"], True
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except BodyTooLarge:
            status["code"] = 413
            if not status["started"]:
                await _json_error(send, 413, too_large, [])
        finally:
            if mutating and path not in NOT_AUDITED:
                await self._audit(principal, scope, status["code"])

    async def _principal(self, scope: Scope) -> Principal | None:
        users = self.ctx.users
        authorization = _header(scope, b"authorization") or ""
        if authorization.lower().startswith("bearer "):
            account = await run_in_threadpool(users.by_key, authorization[7:].strip())
            if account is None:
                return None
            return Principal(account.id, account.username, account.role, "api_key")
        cookie = SimpleCookie()
        try:
            cookie.load(_header(scope, b"cookie") or "")
        except Exception:  # a malformed Cookie header is an anonymous caller, not a 500
            return None
        morsel = cookie.get(SESSION_COOKIE)
        session = self.ctx.sessions.read(morsel.value) if morsel else None
        if session is None:
            return None
        # The account is read on every request anyway (role may change), so checking its session
        # version costs nothing more and holds across processes sharing the database.
        account = await run_in_threadpool(users.get, session.user_id)
        if account is None or account.disabled or account.session_version != session.version:
            return None
        return Principal(account.id, account.username, account.role, "session", csrf=session.csrf)

    async def _checked_body(
        self, scope: Scope, receive: Receive, principal: Principal | None, mutating: bool, max_body: int
    ) -> Receive:
        """Reads the body (bounded) when it must be inspected for CSRF; returns a replaying receive."""
        needs_csrf = mutating and principal is not None and principal.via == "session"
        needs_csrf = needs_csrf and scope["path"] not in CSRF_EXEMPT
        if needs_csrf:
            assert principal is not None and principal.csrf is not None
            token = _header(scope, b"x-csrf-token")
            if token is not None:
                if not hmac.compare_digest(token, principal.csrf):
                    raise PermissionError("CSRF token mismatch: reload the page and try again")
                return self._counting(receive, max_body)
            form_type = (_header(scope, b"content-type") or "").split(";")[0].strip()
            if form_type != "application/x-www-form-urlencoded":  # no token can be in it: not read
                raise PermissionError("missing or wrong CSRF token: reload the page and try again")
            body = await self._read_all(receive, max_body)
            sent = parse_qs(body.decode("latin-1")).get("csrf_token", [""])[0]
            if not sent or not hmac.compare_digest(sent, principal.csrf):
                raise PermissionError("missing or wrong CSRF token: reload the page and try again")
            return _replay(body, receive)
        if mutating and _header(scope, b"content-length") is None:
            # A streamed (chunked) body: read it here, bounded, so the app never parses a partial one.
            return _replay(await self._read_all(receive, max_body), receive)
        return self._counting(receive, max_body)

    async def _read_all(self, receive: Receive, max_body: int) -> bytes:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > max_body:
                raise BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def _counting(self, receive: Receive, max_body: int) -> Receive:
        """Counts streamed (chunked) bodies that declared no length."""
        seen = {"bytes": 0}

        async def counted() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                seen["bytes"] += len(message.get("body", b""))
                if seen["bytes"] > max_body:
                    raise BodyTooLarge
            return message

        return counted

    async def _audit(self, principal: Principal | None, scope: Scope, status: int) -> None:
        actor = principal.username if principal else None
        action = f"{scope['method']} {scope['path']}"
        query = scope.get("query_string", b"").decode("latin-1") or None
        await run_in_threadpool(self.ctx.audit.record, actor, action, query, status, _client(scope))


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _replay(body: bytes, original: Receive) -> Receive:
    """Hands the already-read body to the app, then the real channel (for disconnects)."""
    sent = {"done": False}

    async def receive() -> Message:
        if sent["done"]:
            return await original()
        sent["done"] = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive
