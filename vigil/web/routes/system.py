"""System area: live event stream (SSE), Prometheus metrics, health/counters/errors (API and page)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from vigil import __version__
from vigil.web.auth import Principal, require_viewer
from vigil.web.context import WebContext, get_ctx
from vigil.web.events import Subscription
from vigil.web.templating import page_viewer, render

router = APIRouter()
Ctx = Annotated[WebContext, Depends(get_ctx)]
Viewer = Annotated[Principal, Depends(require_viewer)]
KEEPALIVE_S = 10.0  # a comment line when nothing else was sent, so proxies keep the stream
DISCONNECT_CHECK_S = 1.0  # how soon an idle stream notices its client left


# ------------------------------------------------------------------------- SSE
@router.get(
    "/api/events",
    tags=["system"],
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-sent events"}},
)
async def events(
    request: Request,
    ctx: Ctx,
    _: Viewer,
    camera: Annotated[str | None, Query(max_length=200, description="Only this camera's events")] = None,
    timeout_s: Annotated[
        float | None, Query(gt=0, le=86400, description="Close the stream after this many seconds")
    ] = None,
) -> StreamingResponse:
    """Pipeline events as they happen (`track_started`, `face_embedded` with `visitor_id`, `track_ended`).

    Each SSE message has `event: <type>` and a JSON `data:` line; a comment line is sent after 10 s
    without events to keep proxies from closing an idle stream. A reader too slow loses its oldest events."""
    subscription = ctx.events.subscribe(camera)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    stream = sse_stream(request, subscription, deadline, ctx.events.unsubscribe)
    return StreamingResponse(stream, media_type="text/event-stream", headers=headers)


async def sse_stream(
    request: Request,
    subscription: Subscription,
    deadline: float | None,
    unsubscribe: Callable[[Subscription], None],
) -> AsyncIterator[str]:
    """Waits on the event loop (no worker thread per stream); ends at the deadline, when the
    client leaves or the bus closes, and always unsubscribes (also used by the alert stream)."""
    try:
        yield ": connected\n\n"
        last_sent = time.monotonic()
        while not subscription.closed and not await request.is_disconnected():
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            if now - last_sent >= KEEPALIVE_S:
                yield ": keepalive\n\n"
                last_sent = now
            end = math.inf if deadline is None else deadline
            wait = min(DISCONNECT_CHECK_S, last_sent + KEEPALIVE_S - now, end - now)
            batch = await subscription.next_batch(wait)
            if batch:
                yield "".join(_sse_message(event) for event in batch)
                last_sent = time.monotonic()
    finally:
        unsubscribe(subscription)


def _sse_message(event: dict[str, Any]) -> str:
    return f"event: {event['type']}\ndata: {json.dumps(event, ensure_ascii=False)}\n\n"


# --------------------------------------------------------------------- metrics
@router.get(
    "/metrics",
    tags=["system"],
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
def metrics(ctx: Ctx, _: Viewer) -> Response:
    """Prometheus metrics (send an API key: `bearer_token` in the scrape config)."""
    return Response(generate_latest(ctx.metrics), media_type=CONTENT_TYPE_LATEST)


# ---------------------------------------------------------------------- status
class SystemStatus(BaseModel):
    version: str
    uptime_s: float
    cameras: dict[str, dict[str, Any]]
    store: dict[str, int]
    store_backend: str
    cluster: bool = Field(False, description="Cameras run as Ray actors; each camera's `node` says where")
    event_subscribers: int
    events_published: int
    recent_errors: list[dict[str, Any]]


def system_status(ctx: WebContext) -> SystemStatus:
    statuses = ctx.cameras.statuses()
    nodes = ctx.cameras.nodes()
    return SystemStatus(
        version=__version__,
        uptime_s=round(time.time() - ctx.started_at, 1),
        cameras={
            name: {
                "health": s.health.to_dict(),
                "counters": s.counters.to_dict(),
                "progress": s.progress,
                **({"node": nodes.get(name)} if ctx.cameras.cluster is not None else {}),
            }
            for name, s in statuses.items()
        },
        store=ctx.store.counts(),
        store_backend=ctx.store.db.backend,
        cluster=ctx.cameras.cluster is not None,
        event_subscribers=ctx.events.subscriber_count,
        events_published=ctx.events.published,
        recent_errors=[
            {
                "at": line.at.isoformat(),
                "level": line.level,
                "logger": line.logger,
                "message": line.message,
                "count": line.count,  # identical records share one entry
            }
            for line in ctx.errors.lines()[:50]
        ],
    )


@router.get("/api/system", tags=["system"], response_model=SystemStatus)
def system(ctx: Ctx, _: Viewer) -> SystemStatus:
    """Health of every camera, per-stage counters, store sizes and the latest warnings/errors."""
    return system_status(ctx)


@router.get("/system", response_class=HTMLResponse, include_in_schema=False)
def system_page(request: Request, ctx: Ctx, _: Annotated[Principal, Depends(page_viewer)]) -> Response:
    return render(request, "system.html", active="system", status=system_status(ctx))
