"""The one place where refusals become HTTP answers, for the API and the page forms alike.

A `RefusedError` raised anywhere below a route (store, camera manager, image links) answers with
its `status` and the envelope FastAPI uses for `HTTPException`: `{"detail": "<message>"}`."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from vigil.errors import RefusedError


async def refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RefusedError)
    return JSONResponse({"detail": str(exc)}, status_code=exc.status)
