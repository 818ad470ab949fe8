"""Account management: the Account page (own password, own API keys) and the Users page (admins),
and their API: me, own password, users (create, role, disable, reset password, delete), API keys.

The store enforces the rules (the last enabled admin stays, password length, sessions ended on
every change); its typed refusals become HTTP answers in `vigil.web.errors`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from vigil.errors import UserNotFound
from vigil.store.accounts import USERNAME_PATTERN, Account, Role
from vigil.web.auth import SESSION_COOKIE, Principal, require_admin, require_viewer
from vigil.web.context import WebContext, get_ctx
from vigil.web.params import DbId
from vigil.web.templating import page_admin, page_viewer, render

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["accounts"])
Ctx = Annotated[WebContext, Depends(get_ctx)]
Viewer = Annotated[Principal, Depends(require_viewer)]
Admin = Annotated[Principal, Depends(require_admin)]
Password = Annotated[str, Field(min_length=8, max_length=256)]
# The Account page's one-shot notices after a reload (a fixed set: nothing from the URL is shown).
NOTICES = ("password_changed",)


# ------------------------------------------------------------------ models
class Me(BaseModel):
    username: str
    role: Role
    via: Literal["session", "api_key"]


class UserOut(BaseModel):
    id: int
    username: str
    role: Role
    disabled: bool = Field(description="A disabled account cannot log in and its API keys are refused")
    created_at: datetime | None

    @classmethod
    def of(cls, account: Account) -> UserOut:
        return cls(
            id=account.id,
            username=account.username,
            role=account.role,
            disabled=account.disabled,
            created_at=account.created_at,
        )


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64, pattern=USERNAME_PATTERN)
    password: Password
    role: Role = "viewer"


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role | None = Field(None, description="Ends the user's sessions")
    disabled: bool | None = Field(
        None, description="true ends the user's sessions and refuses their API keys"
    )

    @model_validator(mode="after")
    def _something_to_change(self) -> Self:
        if self.role is None and self.disabled is None:
            raise ValueError("give role and/or disabled")
        return self


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: Password


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(min_length=1, max_length=256)
    new_password: Password


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


# ------------------------------------------------------------------ pages
@pages.get("/account", response_class=HTMLResponse)
def account_page(
    request: Request,
    ctx: Ctx,
    principal: Annotated[Principal, Depends(page_viewer)],
    notice: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    """Every user: role, own password change, own API keys."""
    shown = notice if notice in NOTICES else None
    return render(request, "account.html", keys=ctx.users.keys(principal.user_id), notice=shown)


@pages.get("/users", response_class=HTMLResponse)
def users_page(request: Request, ctx: Ctx, _: Annotated[Principal, Depends(page_admin)]) -> Response:
    """Admins: every account and every API key."""
    return render(request, "users.html", accounts=ctx.users.all(), keys=ctx.users.keys())


# ------------------------------------------------------------------ the caller
@api.get("/me", response_model=Me)
def me(principal: Viewer) -> Me:
    """The caller's account."""
    return Me(username=principal.username, role=principal.role, via=principal.via)


@api.post(
    "/me/password",
    status_code=204,
    responses={
        403: {"description": "The current password is wrong"},
        429: {"description": "Too many wrong current passwords (or logins) for this account or client"},
    },
)
def change_own_password(body: PasswordChange, request: Request, ctx: Ctx, principal: Viewer) -> Response:
    """Change one's own password (the current one is asked). Every other session of the account
    ends; a browser session making the change gets a new session cookie and stays logged in
    (its CSRF token changes: reload the page). API keys keep working. Wrong current passwords
    count like failed logins (429 with growing delays): a stolen session cannot guess it fast."""
    client = request.client.host if request.client else "unknown"
    ctx.login_throttle.admit(principal.username, client)
    if not ctx.users.check_password(principal.user_id, body.current_password):
        # 403, not 401: the caller is authenticated and stays so; only this change is refused.
        raise HTTPException(403, "the current password is wrong")
    ctx.login_throttle.succeeded(principal.username)
    ctx.users.set_password(principal.user_id, body.new_password)
    response = Response(status_code=204)
    if principal.via == "session":
        _renew_session(ctx, principal.user_id, response)
    return response


def _renew_session(ctx: WebContext, user_id: int, response: Response) -> None:
    """A cookie naming the account's new session version (the old one has just been ended)."""
    account = ctx.users.get(user_id)
    if account is None:  # deleted meanwhile: nothing to keep
        raise UserNotFound(f"no user with id {user_id}")
    response.set_cookie(
        SESSION_COOKIE,
        ctx.sessions.issue(account),
        max_age=int(ctx.sessions.ttl_s),
        httponly=True,
        samesite="lax",
        secure=ctx.settings.web.cookie_secure,
    )


# ------------------------------------------------------------------ users (admin)
@api.get("/users", response_model=list[UserOut])
def list_users(ctx: Ctx, _: Admin) -> list[UserOut]:
    """Every account (admin only)."""
    return [UserOut.of(account) for account in ctx.users.all()]


@api.post("/users", response_model=UserOut, status_code=201)
def create_user(body: UserIn, ctx: Ctx, _: Admin) -> UserOut:
    """Create an account (admin only). 409 when the name is taken."""
    return UserOut.of(ctx.users.create(body.username, body.password, body.role))


@api.patch(
    "/users/{user_id}",
    response_model=UserOut,
    responses={404: {"description": "No such user"}, 409: {"description": "The last enabled admin"}},
)
def update_user(user_id: DbId, body: UserPatch, ctx: Ctx, _: Admin) -> UserOut:
    """Change a user's role and/or disable or enable the account (admin only). Either change ends
    the user's sessions; the last enabled admin can be neither demoted nor disabled (409)."""
    ctx.users.update(user_id, role=body.role, disabled=body.disabled)
    account = ctx.users.get(user_id)
    if account is None:  # deleted meanwhile
        raise UserNotFound(f"no user with id {user_id}")
    return UserOut.of(account)


@api.post("/users/{user_id}/password", status_code=204, responses={404: {"description": "No such user"}})
def reset_password(user_id: DbId, body: PasswordReset, ctx: Ctx, _: Admin) -> Response:
    """Set a user's password (admin only); ends that user's sessions, API keys stay."""
    ctx.users.set_password(user_id, body.password)
    return Response(status_code=204)


@api.delete("/users/{user_id}", status_code=204)
def delete_user(user_id: DbId, ctx: Ctx, _: Admin) -> Response:
    """Delete an account and its API keys (admin only; the last admin cannot be deleted)."""
    ctx.users.delete(user_id)
    return Response(status_code=204)


# ------------------------------------------------------------------ API keys
@api.get("/keys", response_model=list[KeyOut])
def list_keys(ctx: Ctx, principal: Viewer) -> list[KeyOut]:
    """API keys: all of them for admins, one's own otherwise (tokens are never shown again)."""
    keys = ctx.users.keys(None if principal.is_admin else principal.user_id)
    return [KeyOut.model_validate(key, from_attributes=True) for key in keys]


@api.post("/keys", response_model=KeyCreated, status_code=201)
def create_key(body: KeyIn, ctx: Ctx, principal: Viewer) -> KeyCreated:
    """A new API key for oneself (or, for admins, for `username`). The token is in this answer only."""
    user_id = principal.user_id
    if body.username and body.username != principal.username:
        if not principal.is_admin:
            raise HTTPException(403, "only admins create keys for other users")
        owner = ctx.users.by_name(body.username)
        if owner is None:
            raise UserNotFound(f"no user named {body.username!r}")
        user_id = owner.id
    key_id, token = ctx.users.create_key(user_id, body.name)
    if user_id != principal.user_id:  # the request's own audit line names no owner: say whose key
        ctx.audit.record(principal.username, f"create API key {key_id} for", body.username, 201, None)
    return KeyCreated(id=key_id, name=body.name, token=token)


@api.delete("/keys/{key_id}", status_code=204)
def revoke_key(key_id: DbId, ctx: Ctx, principal: Viewer) -> Response:
    """Revoke a key (one's own; admins any)."""
    ctx.users.revoke_key(key_id, None if principal.is_admin else principal.user_id)
    return Response(status_code=204)
