"""Everything the routes share, built once per app (kept on `app.state.ctx`; no module globals)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from fastapi import Request
from prometheus_client import CollectorRegistry

from vigil.batch.step5 import Step5Store
from vigil.config import VigilSettings
from vigil.jobs.manager import JobManager
from vigil.store.accounts import AccountRepository
from vigil.store.audit import AuditLog
from vigil.store.repository import IdentityStore
from vigil.web.auth import Sessions
from vigil.web.cameras import CameraManager
from vigil.web.errorlog import RecentErrors
from vigil.web.events import EventBus
from vigil.web.images import ImageSigner
from vigil.web.login_throttle import LoginThrottle
from vigil.web.ratelimit import RateLimiter
from vigil.web.watchlist_host import WatchlistHost


@dataclass
class WebContext:
    settings: VigilSettings
    store: IdentityStore
    users: AccountRepository
    audit: AuditLog
    sessions: Sessions
    limiter: RateLimiter
    login_throttle: LoginThrottle  # per-IP login attempts and per-account delays after failures
    signing_key: str
    images: ImageSigner  # signed, expiring URLs of face crops
    events: EventBus
    cameras: CameraManager  # camera workers of this server
    metrics: CollectorRegistry
    jobs: JobManager  # persistent jobs (batch tracking, ...), run by this server
    step5: Step5Store  # seed 000's batch defaults, set through /api/step5/*
    watchlist: WatchlistHost  # registry, alerts, live monitor and alert streams
    decisions: RateLimiter  # alert decisions per user (stricter than `limiter`)
    errors: RecentErrors = field(default_factory=RecentErrors)
    started_at: float = field(default_factory=time.time)


def get_ctx(request: Request) -> WebContext:
    ctx = request.app.state.ctx
    assert isinstance(ctx, WebContext)
    return ctx
