"""The live area: the /live page, each camera's MJPEG stream and its current picture with the
green face boxes of the pipeline's latest analysed frame (no second decode); for operators and
admins, faces whose track has an open watchlist alert in red (match) or amber (probable) with the
person's name. Roles under a camera's live privacy mode (`anonymize.live`) get its faces covered."""

from __future__ import annotations

import time
from functools import cache
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from vigil.activity.labels import Activity, display_name
from vigil.live.analyse import LatestResult
from vigil.web.auth import Principal, require_viewer
from vigil.web.cameras import CameraManager
from vigil.web.context import WebContext, get_ctx
from vigil.web.live import (
    MJPEG_MEDIA_TYPE,
    NO_MARKS,
    LiveJpeg,
    Marks,
    WatchlistMark,
    label_text,
    mjpeg_stream,
    placeholder_jpeg,
)
from vigil.web.routes.cameras import ERRORS, JPEG, CameraId, camera_out, jpeg_response, sound_texts
from vigil.web.templating import language_of, page_viewer, render

router = APIRouter()
Ctx = Annotated[WebContext, Depends(get_ctx)]
Viewer = Annotated[Principal, Depends(require_viewer)]
MJPEG_MAX_CAMERAS = 4  # more streams than this would use up the browser's 6 connections per host
WAITING, STOPPED = -1, -2  # `seq` of the placeholder pictures
DISCONNECT_CHECK_S = 1.0


@cache
def _placeholder(seq: int) -> LiveJpeg:
    text = "Waiting for pictures..." if seq == WAITING else "Camera stopped"
    return LiveJpeg(seq, placeholder_jpeg(text), 0.0)


def watchlist_marks(ctx: WebContext, camera_id: int, latest: LatestResult, user: Principal) -> Marks:
    """The faces of `latest` whose track has an open watchlist alert, for users who see alerts
    (none for viewers: they never learn who is on the watchlist). Cheap: the monitor's marks in
    memory, no database."""
    if not (user.sees_alerts and ctx.watchlist.live) or len(latest.detections) == 0:
        return NO_MARKS
    open_alerts = ctx.watchlist.track_alerts(ctx.cameras.get(camera_id).name)
    if not open_alerts:
        return NO_MARKS
    tracks = {int(t) for t in latest.detections.track_id}
    return {t: WatchlistMark(a.person, a.level) for t, a in open_alerts.items() if t in tracks}


def live_picture(manager: CameraManager, ctx: WebContext, camera_id: int, user: Principal) -> LiveJpeg | None:
    """The shared JPEG (with boxes) of the camera's latest analysed frame for `user`'s audience;
    None before the first. Blocking when this frame was not encoded yet: call it off the event loop."""
    latest = manager.latest(camera_id)
    if latest is None:
        return None
    name = manager.get(camera_id).name
    marks = watchlist_marks(ctx, camera_id, latest, user)
    covered = manager.live.privacy.covered(name, user.role)

    def label(track: int) -> str:  # called only when this frame gets encoded
        visitor = ctx.events.visitor_of(name, track)
        visitor_name = manager.visitor_names.names([visitor]).get(visitor) if visitor else None
        return label_text(track, visitor, visitor_name)

    return manager.live.picture(camera_id, latest, label, marks, covered)


async def _next_picture(manager: CameraManager, ctx: WebContext, camera_id: int, user: Principal) -> LiveJpeg:
    latest = manager.latest(camera_id)
    if latest is None:
        return _placeholder(WAITING if manager.is_running(camera_id) else STOPPED)
    marks = watchlist_marks(ctx, camera_id, latest, user)
    covered = manager.live.privacy.covered(manager.get(camera_id).name, user.role)
    shared = manager.live.cached(camera_id, latest, marks, covered)  # most calls: encoded, no thread hop
    if shared is not None:
        return shared
    async with manager.live.encoding_turn(camera_id, marks, covered):
        shared = manager.live.cached(camera_id, latest, marks, covered)  # encoded while this viewer waited
        if shared is not None:
            return shared
        picture = await run_in_threadpool(live_picture, manager, ctx, camera_id, user)
    return picture or _placeholder(WAITING)


@router.get(
    "/api/cameras/{camera_id}/live.mjpg",
    tags=["live"],
    response_class=StreamingResponse,
    responses={
        200: {"content": {MJPEG_MEDIA_TYPE: {}}, "description": "MJPEG stream (multipart JPEG parts)"},
        **ERRORS,
    },
    summary="Live MJPEG stream with boxes on tracked faces (at most web.live_fps); watchlisted ones "
    "in red or amber with the name for operators and admins; faces covered for the roles under the "
    "camera's privacy mode",
)
async def live_stream(camera_id: CameraId, request: Request, ctx: Ctx, user: Viewer) -> StreamingResponse:
    manager = ctx.cameras
    manager.get(camera_id)  # an unknown camera answers 404 (vigil.web.errors)

    checked = {"at": time.monotonic()}

    async def finished() -> bool:
        # Starlette also ends the stream when a send fails; asking the client channel at every
        # picture would cost more than the picture itself, so ask once a second.
        if manager.closed:
            return True
        if time.monotonic() - checked["at"] < DISCONNECT_CHECK_S:
            return False
        checked["at"] = time.monotonic()
        return await request.is_disconnected()

    async def next_picture() -> LiveJpeg | None:
        try:
            return await _next_picture(manager, ctx, camera_id, user)
        except HTTPException:
            return None

    parts = mjpeg_stream(next_picture, ctx.settings.web.live_fps, finished)
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(parts, media_type=MJPEG_MEDIA_TYPE, headers=headers)


@router.get(
    "/api/cameras/{camera_id}/frame.jpg",
    tags=["live"],
    response_class=Response,
    responses={**JPEG, **ERRORS},
    summary="The current live picture with boxes on tracked faces (watchlisted ones for operators; "
    "faces covered for the roles under the camera's privacy mode)",
)
def live_frame(camera_id: CameraId, ctx: Ctx, user: Viewer) -> Response:
    manager = ctx.cameras
    manager.get(camera_id)  # an unknown camera answers 404 (vigil.web.errors)
    picture = live_picture(manager, ctx, camera_id, user)
    if picture is not None:
        return jpeg_response(picture.jpeg)
    if not manager.is_running(camera_id):
        raise HTTPException(409, "the camera is not running: start it (POST /api/cameras/{id}/start)")
    raise HTTPException(503, "no analysed picture yet: retry in a moment", headers={"Retry-After": "1"})


@router.get("/live", response_class=HTMLResponse, include_in_schema=False)
def live_page(request: Request, ctx: Ctx, user: Annotated[Principal, Depends(page_viewer)]) -> Response:
    manager = ctx.cameras
    cameras = [camera_out(manager, info) for info in manager.cameras()]
    mode = "mjpeg" if len(cameras) <= MJPEG_MAX_CAMERAS else "refresh"
    covered = {c.id for c in cameras if manager.live.privacy.covered(c.name, user.role)}
    return render(
        request,
        "live.html",
        active="live",
        cameras=cameras,
        mode=mode,
        live_fps=ctx.settings.web.live_fps,
        covered=covered,
        activity_names={a.value: display_name(a, language_of(request)) for a in Activity},
        sound_texts=sound_texts(language_of(request)),
    )
