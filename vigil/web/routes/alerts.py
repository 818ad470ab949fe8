"""Watchlist alerts: listing, one alert, the operators' decision, and the live streams (SSE and
WebSocket, seed 004 names both). Operators and admins only: viewers get 403.

Open alerts older than `watchlist.alert_expiry_h` are expired before every decision and, at most
every 10 s, before reads."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from typing import Annotated, Literal
from urllib.parse import urlsplit

import anyio
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from vigil.errors import RefusedError
from vigil.watchlist.alerts import AlertFilter, Status
from vigil.watchlist.matching import Level
from vigil.web.alert_feed import FeedFilter
from vigil.web.alert_views import AlertOut
from vigil.web.auth import Principal, principal_of, require_operator
from vigil.web.context import WebContext, get_ctx
from vigil.web.events import Subscription
from vigil.web.routes.system import sse_stream

router = APIRouter(prefix="/api/alerts", tags=["alerts"])
Ctx = Annotated[WebContext, Depends(get_ctx)]
Operator = Annotated[Principal, Depends(require_operator)]
AlertId = Annotated[uuid.UUID, Path(description="The alert's id")]
CameraFilter = Annotated[str | None, Query(max_length=200, description="Only this camera's alerts")]
LevelFilter = Annotated[Level | None, Query(description="Only this level (match or probable)")]
WS_WAIT_S = 30.0  # how long a WebSocket pump waits for events before looking again


class DecisionsTooFast(RefusedError):
    """More decisions than `web.decisions_per_min` allows for one user."""

    status = 429

    def __init__(self, wait_s: float) -> None:
        super().__init__("too many alert decisions: slow down")
        self.retry_after_s = int(wait_s) + 1


class AlertListOut(BaseModel):
    total: int = Field(description="Alerts matching the filters (all pages)")
    alerts: list[AlertOut]


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["confirmed", "rejected"]
    note: str = Field("", max_length=2000, description="Why (optional); kept with the alert")
    add_to_references: bool = Field(
        False,
        description="Admins only (403 otherwise): a confirmation also adds the alert's best face to the "
        "person's references (409 when the alert kept none)",
    )


class DecisionOut(AlertOut):
    """The decided alert and what the decision taught the watchlist."""

    negatives_learned: int = Field(
        description="Faces of the alert's track a rejection turned into negatives of the person"
    )
    reference_added: bool = Field(description="A confirmation added the alert's face to the references")


@router.get("", response_model=AlertListOut, summary="Alerts, newest first (operator or admin)")
def list_alerts(
    ctx: Ctx,
    _: Operator,
    status: Annotated[Status | None, Query(description="open, confirmed, rejected or expired")] = None,
    camera: CameraFilter = None,
    level: LevelFilter = None,
    person: Annotated[uuid.UUID | None, Query(description="Only this watchlist person's alerts")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> AlertListOut:
    host = ctx.watchlist
    host.expire_before_reading()
    total, alerts = host.alerts.page(AlertFilter(status, camera, level, person), limit, offset)
    return AlertListOut(total=total, alerts=[AlertOut.of(a, host.images) for a in alerts])


@router.get(
    "/stream",
    response_class=StreamingResponse,
    summary="Live alerts as server-sent events (operator or admin)",
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-sent events"}},
)
async def alert_stream(
    request: Request,
    ctx: Ctx,
    _: Operator,
    camera: CameraFilter = None,
    level: LevelFilter = None,
    timeout_s: Annotated[
        float | None, Query(gt=0, le=86400, description="Close the stream after this many seconds")
    ] = None,
) -> StreamingResponse:
    """Each message is `event: <type>` and `data: {"type": ..., "alert": <alert>}`; types:
    `watchlist_alert` (raised), `watchlist_alert_upgraded` (probable -> match), `watchlist_alert_repeat`
    (a repeat sighting joined it) and `watchlist_alert_decided` (an operator confirmed or rejected it).
    A comment line is sent after 10 s without events."""
    feed = ctx.watchlist.feed
    subscription = feed.subscribe(FeedFilter(camera, level))
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    stream = sse_stream(request, subscription, deadline, feed.unsubscribe)
    return StreamingResponse(stream, media_type="text/event-stream", headers=headers)


@router.websocket("/ws")
async def alert_socket(websocket: WebSocket, camera: CameraFilter = None, level: LevelFilter = None) -> None:
    """The same events as `/api/alerts/stream`, one JSON text message each (documented in docs/api.md:
    WebSocket routes are not part of OpenAPI)."""
    ctx: WebContext = websocket.app.state.ctx
    refusal = _refusal(websocket)
    if refusal is not None:
        await _deny(websocket, *refusal)
        return
    feed = ctx.watchlist.feed
    subscription = feed.subscribe(FeedFilter(camera, level))  # before accepting: nothing is missed
    try:
        await websocket.accept()
        if await _serve_until_either_side_ends(websocket, subscription):  # the feed closed: server stopping
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await websocket.close(code=1001)
    finally:
        feed.unsubscribe(subscription)


async def _serve_until_either_side_ends(websocket: WebSocket, subscription: Subscription) -> bool:
    """Sends the events while reading the client's messages (to see it leave); True when the feed
    ended first. An anyio task group, so a cancellation from the server reaches both sides."""
    feed_ended = False
    async with anyio.create_task_group() as group:

        async def send_events() -> None:
            nonlocal feed_ended
            with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):  # the client left
                await _pump(websocket, subscription)
                feed_ended = True
            group.cancel_scope.cancel()

        async def watch_client() -> None:
            await _until_disconnect(websocket)
            group.cancel_scope.cancel()

        group.start_soon(send_events)
        group.start_soon(watch_client)
    return feed_ended


def _refusal(websocket: WebSocket) -> tuple[int, str] | None:
    """(HTTP status, reason) when the handshake must be refused: who asks, and from which page."""
    principal = principal_of(websocket)  # resolved by SecurityMiddleware, as for HTTP
    if principal is None:
        return 401, "authentication required: log in or send 'Authorization: Bearer <API key>'"
    if not principal.sees_alerts:
        return 403, "this action needs the operator or admin role"
    origin = websocket.headers.get("origin")
    # Browsers always send Origin on WebSocket handshakes; a page of another site must not borrow
    # the user's session cookie (cookies are sent cross-site on WebSocket handshakes).
    if origin is not None and urlsplit(origin).netloc.lower() != websocket.headers.get("host", "").lower():
        return 403, "cross-origin WebSocket refused"
    return None


async def _deny(websocket: WebSocket, status: int, reason: str) -> None:
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(JSONResponse({"detail": reason}, status_code=status))
    else:  # the server cannot answer with a status: a policy-violation close (1008)
        await websocket.close(code=1008, reason=reason[:120])


async def _pump(websocket: WebSocket, subscription: Subscription) -> None:
    while not subscription.closed:
        for event in await subscription.next_batch(WS_WAIT_S):
            await websocket.send_text(json.dumps(event, ensure_ascii=False))


async def _until_disconnect(websocket: WebSocket) -> None:
    """Reads (and ignores) client messages until the client leaves."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return


@router.get("/{alert_id}", response_model=AlertOut, summary="One alert (operator or admin)")
def get_alert(alert_id: AlertId, ctx: Ctx, _: Operator) -> AlertOut:
    host = ctx.watchlist
    host.expire_before_reading()
    return AlertOut.of(host.alerts.get(alert_id), host.images)


@router.post(
    "/{alert_id}/decision",
    response_model=DecisionOut,
    summary="Confirm or reject an open alert (operator or admin)",
    responses={
        403: {"description": "`add_to_references` asked by an operator (admins only)"},
        409: {"description": "Already decided or expired; or no face kept to add to the references"},
        429: {"description": "Too many decisions"},
    },
)
async def decide_alert(alert_id: AlertId, body: DecisionIn, ctx: Ctx, principal: Operator) -> DecisionOut:
    """Once per alert: a second decision answers 409. A rejection teaches: the alert's faces become
    negatives of the person (`negatives_learned`), so the same look-alike raises no more alerts for
    them. An admin's confirmation with `add_to_references` adds the alert's best face to the
    person's references (`reference_added`). Decisions are limited per user
    (`web.decisions_per_min`) and, like every change, written to the audit log; every open alert
    stream receives a `watchlist_alert_decided` event."""
    add_reference = body.add_to_references and body.decision == "confirmed"
    if body.add_to_references and not principal.is_admin:
        # It changes the registry, which only admins enrol into.
        raise HTTPException(403, "only admins add an alert's face to the references")
    wait = ctx.decisions.acquire(principal.username)
    if wait > 0:
        raise DecisionsTooFast(wait)
    host = ctx.watchlist
    result = await run_in_threadpool(
        host.decide, alert_id, body.decision, principal.username, body.note, add_reference
    )
    shown = AlertOut.of(result.alert, host.images).model_dump()
    return DecisionOut(
        **shown, negatives_learned=result.negatives_learned, reference_added=result.reference_added
    )
