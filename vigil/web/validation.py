"""Invalid request bodies answer 422 for the whole app: non-finite numbers refused, nothing echoed back.

Python's JSON parser accepts `NaN`, `Infinity` and `-Infinity` (and turns `1e999` into infinity)
although JSON has no such numbers. They would slip into float fields, and FastAPI's own 422 answer,
which echoes each bad value in `input`, could not even be written as JSON (a 500). That `input`
also echoed whatever was sent, passwords, API tokens and camera URLs with credentials included, so
this app's 422 answers leave it out: the caller has its own request."""

from __future__ import annotations

import math
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.requests import HTTPConnection

Location = tuple[str | int, ...]


async def refuse_non_finite_numbers(request: HTTPConnection) -> None:
    """An app-wide dependency: a JSON body a route validates against a model must hold finite numbers.

    Routes that parse their body themselves (the STEP5 API and its seed error rules) are left alone,
    and so are WebSocket routes (no body; an app dependency runs for them too)."""
    route = request.scope.get("route")
    if not isinstance(request, Request) or not isinstance(route, APIRoute) or route.body_field is None:
        return
    if not _is_json(request):
        return
    try:
        body = await request.json()  # already parsed (and cached) by FastAPI for the route
    except ValueError:  # empty or malformed: FastAPI's own checks answer that
        return
    places = _non_finite_places(body)
    if places:
        raise RequestValidationError(
            [
                {"type": "finite_number", "loc": ("body", *loc), "msg": "Input should be a finite number"}
                for loc in places
            ]
        )


async def invalid_request(request: Request, exc: Exception) -> Response:
    """FastAPI's 422 envelope (`{"detail": [{"type", "loc", "msg", "ctx"}]}`) without `input`."""
    assert isinstance(exc, RequestValidationError)
    errors = [{key: value for key, value in error.items() if key != "input"} for error in exc.errors()]
    return JSONResponse({"detail": _finite(jsonable_encoder(errors))}, status_code=422)


def _is_json(request: Request) -> bool:
    """The content types FastAPI parses as JSON (it needs one: `strict_content_type` is on)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def _non_finite_places(body: Any) -> list[Location]:
    """Where a parsed JSON document holds NaN or an infinity (iterative: any nesting depth)."""
    places: list[Location] = []
    pending: list[tuple[Location, Any]] = [((), body)]
    while pending:
        loc, value = pending.pop()
        if isinstance(value, float) and not math.isfinite(value):
            places.append(loc)
        elif isinstance(value, dict):
            pending.extend(((*loc, key), item) for key, item in value.items())
        elif isinstance(value, list):
            pending.extend(((*loc, index), item) for index, item in enumerate(value))
    return sorted(places, key=str)


def _finite(value: Any) -> Any:
    """The answer stays valid JSON even if a validator's `ctx` carries a non-finite number."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value
