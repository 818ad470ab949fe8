"""The web application: dashboard pages, REST API, live views, all behind the security middleware.

`create_web_app()` builds an independent app (state on `app.state.ctx`), so tests can run several."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from vigil import __version__
from vigil.activity.clip import adopt_named_folders
from vigil.activity.reports import ReportService, report_metrics, start_report_service
from vigil.batch.step5 import Step5Store, step5_defaults
from vigil.config import VigilSettings
from vigil.errors import RefusedError
from vigil.jobs.manager import JobManager
from vigil.private_files import warn_if_exposed
from vigil.redact import install_log_redaction
from vigil.store.accounts import AccountRepository
from vigil.store.audit import AuditLog
from vigil.store.database import sqlite_files
from vigil.store.jobs import JobRepository
from vigil.store.login_failures import LoginFailureRepository
from vigil.store.repository import IdentityStore
from vigil.watchlist.outbox import OutboxWorker, start_outbox_worker
from vigil.watchlist.outbox_metrics import OutboxCollector
from vigil.watchlist.outbox_store import OutboxStore
from vigil.web.auth import Sessions, require_admin
from vigil.web.camera_takeover import CameraTakeover
from vigil.web.cameras import CameraManager
from vigil.web.context import WebContext
from vigil.web.errors import refused
from vigil.web.events import EventBus
from vigil.web.images import ImageSigner
from vigil.web.login_throttle import DelayPolicy, LoginThrottle
from vigil.web.metrics import build_registry
from vigil.web.middleware import SecurityMiddleware
from vigil.web.ratelimit import RateLimiter
from vigil.web.routes import (
    accounts,
    activity,
    activity_history,
    activity_pages,
    alerts,
    anonymize,
    audio_devices,
    auth,
    cameras,
    jobs,
    live,
    save_clip,
    step5,
    system,
    track,
    uploads,
    visitors,
    watchlist,
    watchlist_pages,
)
from vigil.web.routes.docs import mount_api_docs
from vigil.web.secrets import first_admin_password, signing_key
from vigil.web.templating import LoginRequired, login_redirect
from vigil.web.validation import invalid_request, refuse_non_finite_numbers
from vigil.web.watchlist_host import WatchlistHost

log = logging.getLogger(__name__)
FAVICON = "favicon.svg"  # in vigil/web/static, linked by base.html
DESCRIPTION = """People-centric video analytics: cameras, live results, recurring visitors.

Every route except `/login` and `/api/health*` needs authentication: a session cookie from the
login page (mutating requests then need the `X-CSRF-Token` header) or `Authorization: Bearer <API key>`
(create keys with `POST /api/keys`). Roles: `admin` (everything), `operator` (a viewer who also sees
the watchlist and decides its alerts) and `viewer` (read only; no watchlist, no alerts)."""


def build_context(settings: VigilSettings, db_url: str | None = None) -> WebContext:
    store = IdentityStore.open(settings, db_url)
    warn_if_exposed([settings.data_dir, store.crops.root, *sqlite_files(store.db)])
    try:
        return _context_over(settings, store)
    except BaseException:
        store.close()  # nothing else would: the app was never built
        raise


def _context_over(settings: VigilSettings, store: IdentityStore) -> WebContext:
    store.tidy()
    users = AccountRepository(store.db)
    password, generated_at = first_admin_password(settings)
    if users.ensure_admin(settings.web.admin_user, password):
        where = f"read it in {generated_at}" if generated_at else "from VIGIL_WEB__ADMIN_PASSWORD(_FILE)"
        log.warning("created the admin account %r (password: %s)", settings.web.admin_user, where)
    web, key = settings.web, signing_key(settings)
    events = EventBus()
    host = WatchlistHost(settings, store, key)  # ConfigError: thresholds unusable with the embedder
    cameras = CameraManager(settings, store, events, model_sinks=host.sinks_for)
    return WebContext(
        settings=settings,
        store=store,
        users=users,
        audit=AuditLog(store.db),
        sessions=Sessions(key, web.session_ttl_h * 3600),
        limiter=RateLimiter(web.rate_limit_per_min),
        login_throttle=LoginThrottle(
            LoginFailureRepository(store.db), DelayPolicy.of(web), RateLimiter(web.login_attempts_per_min)
        ),
        signing_key=key,
        images=ImageSigner(key, web.image_url_ttl_s),
        events=events,
        cameras=cameras,
        metrics=build_registry(cameras.statuses, events, store.counts),
        jobs=JobManager(JobRepository(store.db), settings.jobs),  # its executor: `jobs.executor`
        step5=Step5Store(step5_defaults(settings.track)),
        watchlist=host,
        decisions=RateLimiter(web.decisions_per_min),
    )


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    ctx: WebContext = app.state.ctx
    root = logging.getLogger()
    root.addHandler(ctx.errors)  # recent warnings/errors for the System page
    outbox: OutboxWorker | None = None
    reports: ReportService | None = None
    takeover: CameraTakeover | None = None
    try:  # whatever fails at start, the cameras, jobs and store are closed
        # Saved clips are kept by camera id: those still in a name's folder follow their camera
        # before anything can rename it.
        cameras = [(c.id, c.name) for c in ctx.cameras.cameras()]
        await run_in_threadpool(adopt_named_folders, ctx.settings.data_dir, cameras)
        if ctx.settings.web.start_cameras:
            await run_in_threadpool(ctx.cameras.start_enabled)
            if ctx.settings.web.camera_takeover_s > 0:
                takeover = CameraTakeover(ctx.cameras.take_over, ctx.settings.web.camera_takeover_s)
                takeover.start()
        # The scheduler lock: recover what a stopped server left and run the queued jobs.
        await run_in_threadpool(ctx.jobs.start)
        outbox = start_outbox_worker(ctx.settings, ctx.store.db)  # UPR_API_URL's deliveries, if set
        reports = start_report_service(ctx.settings.activity.report, ctx.store.db)  # activity.report, if on
        yield
    finally:
        if takeover is not None:  # before the cameras close: it would start them again
            await run_in_threadpool(takeover.close)
        await run_in_threadpool(ctx.cameras.close)  # before the store and the event bus close
        if outbox is not None:  # after the cameras: it flushes their last alerts for a few seconds
            await run_in_threadpool(outbox.close)
        if reports is not None:
            await run_in_threadpool(reports.close)
        root.removeHandler(ctx.errors)
        ctx.events.close()
        await run_in_threadpool(ctx.watchlist.close)
        await run_in_threadpool(ctx.jobs.shutdown)  # the running job stops, resumable ones re-queue
        ctx.store.close()


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return login_redirect(exc)


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    # The seed's 500 envelope (kept for the STEP5 clients) plus a `detail` like every other error.
    body = {"status": "error", "message": "Erreur interne", "detail": "internal error (see the server log)"}
    return JSONResponse(body, status_code=500)


def create_web_app(settings: VigilSettings, db_url: str | None = None) -> FastAPI:
    """A new dashboard + API app over the store at `db_url` (default: the configured one)."""
    install_log_redaction()  # camera and database passwords never reach a log line or recent_errors
    ctx = build_context(settings, db_url)
    if settings.watchlist.upr_enabled:
        ctx.metrics.register(OutboxCollector(OutboxStore(ctx.store.db).counts))
    if settings.activity.report.enabled:
        ctx.metrics.register(report_metrics(ctx.store.db))
    app = FastAPI(
        title="Vigil",
        version=__version__,
        description=DESCRIPTION,
        lifespan=_lifespan,
        dependencies=[Depends(refuse_non_finite_numbers)],  # JSON bodies: NaN and infinities get 422
        # The API docs are served by routes/docs.py, behind login and from local assets.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.ctx = ctx
    # The batch tracking API (issue 4), admin only: it reads and writes server paths.
    for batch_router in (step5.router, track.router):
        app.include_router(batch_router, dependencies=[Depends(require_admin)])
    routers = (auth.pages, auth.api, live.router, cameras.router, visitors.router, system.router)
    for router in (*routers, accounts.pages, accounts.api, jobs.router, watchlist.router, alerts.router):
        app.include_router(router)
    app.include_router(watchlist_pages.pages)  # /watchlist, /watchlist/{person_id}, /alerts
    app.include_router(uploads.router)  # admin only: /api/anonymize/uploads (every page's videos)
    app.include_router(anonymize.router)  # admin only: /anonymize and /api/anonymize/*
    app.include_router(audio_devices.router)  # /api/audio-devices (viewer), /api/set-audio-device (admin)
    app.include_router(activity.router)  # admin only: /activity and /api/activity/*
    app.include_router(save_clip.router)  # admin only: /api/save-clip, /api/clips/*
    app.include_router(activity_history.router)  # /api/activity/segments, statistics, reports
    app.include_router(activity_pages.router)  # /activity/statistics and /activity/history (viewers)
    mount_api_docs(app)  # before /static: its assets live under /static/swagger
    app.mount("/static", StaticFiles(directory=str(resources.files("vigil.web") / "static")), name="static")
    app.add_api_route("/", _home, include_in_schema=False)
    app.add_api_route("/favicon.ico", _favicon, include_in_schema=False)
    app.add_api_route("/api/health", _health, tags=["health"], summary="Liveness (no authentication)")
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(RefusedError, refused)  # store, camera, image-link and job refusals
    app.add_exception_handler(RequestValidationError, invalid_request)  # 422s that echo nothing back
    app.add_exception_handler(Exception, _internal_error)
    app.add_middleware(SecurityMiddleware, ctx=ctx)
    if settings.web.trusted_proxies:  # outermost: the middleware above must see the real client
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.web.trusted_proxies)
    return app


def _home() -> Response:
    return RedirectResponse("/live", status_code=303)


def _favicon() -> Response:
    # Browsers ask for /favicon.ico on every site, before any login (the pages also link the SVG).
    icon = (resources.files("vigil.web") / "static" / FAVICON).read_bytes()
    return Response(icon, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"})


def _health() -> dict[str, str]:
    return {"status": "ok", "version": __version__}
