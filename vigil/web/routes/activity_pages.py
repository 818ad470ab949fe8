"""The activity history's pages (issue 18 item 4): Statistics (time per activity per day and week,
trend, transitions: Chart.js served from /static/vendor) and History (the stored segments, paged,
filtered, with the CSV export). Both draw /api/activity/statistics and /api/activity/segments in
the browser, in its time zone. For every logged-in user, like the API they read (viewer role).

Clips (admin only, like the clip API it calls): save the last seconds of a running camera whose
activity is on (POST /api/save-clip), play, download and delete the saved ones (/api/clips)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from vigil.activity.clip import MAX_CLIP_SECONDS
from vigil.activity.labels import Activity, cue_words, display_name
from vigil.activity.repository import ActivityRepository
from vigil.web.auth import Principal
from vigil.web.context import WebContext, get_ctx
from vigil.web.templating import language_of, page_admin, page_viewer, render

router = APIRouter(include_in_schema=False)
Ctx = Annotated[WebContext, Depends(get_ctx)]
PageViewer = Annotated[Principal, Depends(page_viewer)]
PageAdmin = Annotated[Principal, Depends(page_admin)]
HISTORY_PAGE_SIZE = 50


async def _page(request: Request, ctx: WebContext, template: str, active: str) -> Response:
    lang = language_of(request)
    stored = await run_in_threadpool(ActivityRepository(ctx.store.db).cameras)
    # Cameras with a history, and the ones listed now (a new camera has none yet).
    cameras = sorted(set(stored) | {c.name for c in ctx.cameras.cameras()})
    return render(
        request, template, active=active, cameras=cameras, activities=[a.value for a in Activity],
        names={a.value: display_name(a, lang) for a in Activity}, words=cue_words(lang),
        page_size=HISTORY_PAGE_SIZE,
    )  # fmt: skip


@dataclass(frozen=True)
class _ClipCamera:
    """A camera the Clips page can save from (a stopped one is shown, disabled)."""

    id: int
    name: str
    running: bool


@router.get("/activity/statistics", response_class=HTMLResponse)
async def statistics_page(request: Request, ctx: Ctx, _: PageViewer) -> Response:
    return await _page(request, ctx, "activity_stats.html", "activity-log")


@router.get("/activity/history", response_class=HTMLResponse)
async def history_page(request: Request, ctx: Ctx, _: PageViewer) -> Response:
    return await _page(request, ctx, "activity_history.html", "activity-log")


@router.get("/activity/clips", response_class=HTMLResponse)
def clips_page(request: Request, ctx: Ctx, _: PageAdmin) -> Response:
    """The cameras with activity on (a stopped one is listed, disabled: its clips still are)."""
    manager = ctx.cameras
    on = [c for c in manager.cameras() if c.activity]
    cameras = [_ClipCamera(c.id, c.name, manager.is_running(c.id)) for c in on]
    options = ctx.settings.activity
    most = max(1.0, min(MAX_CLIP_SECONDS, options.clip_buffer_s))  # 0: clips off, which a save says
    return render(
        request, "activity_clips.html", active="activity", cameras=cameras, max_seconds=most,
        default_seconds=min(10.0, most), keep_days=options.clips_keep_days, max_mb=options.clips_max_mb,
    )  # fmt: skip
