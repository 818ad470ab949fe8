"""Server-rendered pages: Jinja2 templates with the translator, the user and the CSRF token."""

from __future__ import annotations

from importlib import resources
from typing import Any
from urllib.parse import quote

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from vigil.web.auth import Principal, principal_of
from vigil.web.context import get_ctx
from vigil.web.i18n import LANG_COOKIE, number_formatter, pick_language, translator

TEMPLATES = Jinja2Templates(directory=str(resources.files("vigil.web") / "templates"))


class LoginRequired(Exception):
    """Raised by `page_viewer`/`page_admin`; the app answers with a redirect to the login page."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


def language_of(request: Request) -> str:
    default = get_ctx(request).settings.web.language
    return pick_language(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"), default)


def render(request: Request, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    lang = language_of(request)
    principal = principal_of(request)
    context = {
        "t": translator(lang),
        "number": number_formatter(lang),
        "lang": lang,
        "user": principal,
        "csrf_token": principal.csrf if principal and principal.csrf else "",
        **values,
    }
    return TEMPLATES.TemplateResponse(request, template, context, status_code=status_code)


def page_viewer(request: Request) -> Principal:
    """Pages: any logged-in user, else a redirect to /login (not a bare 401)."""
    principal = principal_of(request)
    if principal is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(path)
    return principal


def page_admin(request: Request) -> Principal:
    principal = page_viewer(request)
    if not principal.is_admin:
        raise HTTPException(403, "this page needs the admin role")
    return principal


def login_redirect(exc: LoginRequired) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(exc.next_path, safe='/')}", status_code=303)
