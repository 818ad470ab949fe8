"""The one place where refusals become HTTP answers, for the API and the page forms alike.

A `RefusedError` raised anywhere below a route (store, camera manager, image links, jobs) answers
with its `status` and the envelope FastAPI uses for `HTTPException`: `{"detail": "<message>"}`,
plus `Retry-After` when the error says when to try again, and the structured fields of `details()`."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from vigil.errors import RefusedError
from vigil.redact import redact


async def refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RefusedError)
    headers = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s is not None else None
    body = {**exc.details(), "detail": redact(str(exc))}
    return JSONResponse(body, status_code=exc.status, headers=headers)
