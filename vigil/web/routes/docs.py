"""The API's documentation, behind login: `/openapi.json` and Swagger UI at `/docs`.

FastAPI's own `/docs` page loads Swagger UI from a CDN with an inline script, which the app's CSP
(`script-src 'self'`) blocks: the page stayed blank. Here the assets come from the
`fastapi-offline` package (Swagger UI 5, which reads FastAPI's OpenAPI 3.1; `swagger-ui-bundle`'s
Swagger UI 4 cannot), served by the app, and the start-up script is a static file."""

from __future__ import annotations

from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from vigil.web.auth import Principal, require_viewer
from vigil.web.templating import page_viewer

SWAGGER_ASSETS = "/static/swagger"
router = APIRouter(include_in_schema=False)

_PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Vigil API</title>
<link rel="stylesheet" href="{SWAGGER_ASSETS}/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="{SWAGGER_ASSETS}/swagger-ui-bundle.js"></script>
<script src="/static/api-docs.js"></script>
</body></html>
"""


@router.get("/openapi.json")
def openapi(request: Request, _: Annotated[Principal, Depends(require_viewer)]) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@router.get("/docs", response_class=HTMLResponse)
def docs(_: Annotated[Principal, Depends(page_viewer)]) -> HTMLResponse:
    return HTMLResponse(_PAGE)


def mount_api_docs(app: FastAPI) -> None:
    """The docs routes and Swagger UI's files (a generic library: served without login)."""
    app.include_router(router)
    assets = StaticFiles(directory=str(resources.files("fastapi_offline") / "static"))
    app.mount(SWAGGER_ASSETS, assets, name="swagger")
