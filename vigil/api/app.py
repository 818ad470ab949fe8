"""The Vigil FastAPI application: a small factory that mounts the routers.

All state lives on `app.state` (no module globals), so tests and servers can build as many
independent apps as they like:
- `app.state.batch_settings`: the batch tracking settings jobs start from (`BatchSettings`);
- `app.state.step5`: the STEP5 defaults set through `/api/step5/*` (`Step5Store`);
- `app.state.jobs`: the batch tracking jobs (`JobManager`); stopping the app cancels them.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from vigil import __version__
from vigil.api import jobs, step5
from vigil.api.jobmanager import JobManager
from vigil.api.step5 import Step5Store, step5_defaults
from vigil.batch.settings import BatchSettings, load_batch_settings

log = logging.getLogger(__name__)


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    # The seed's 500 body; the traceback goes to the log, not to the client.
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"status": "error", "message": "Erreur interne"}, status_code=500)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    manager: JobManager = app.state.jobs
    await run_in_threadpool(manager.shutdown)  # joins job threads: keep the event loop free


def mount_batch_api(app: FastAPI, settings: BatchSettings, dependencies: Sequence[Any] = ()) -> None:
    """Adds the STEP5 and jobs routes and their state to `app` (the caller's lifespan must call
    `app.state.jobs.shutdown()`); `dependencies` guard every route (e.g. an admin check)."""
    app.state.batch_settings = settings
    app.state.step5 = Step5Store(step5_defaults(settings))
    app.state.jobs = JobManager()
    app.include_router(step5.router, dependencies=list(dependencies))
    app.include_router(jobs.router, dependencies=list(dependencies))


def create_app(*, batch_settings: BatchSettings | None = None) -> FastAPI:
    """A new app; `batch_settings` defaults to the environment's (raises ConfigError if invalid)."""
    settings = batch_settings if batch_settings is not None else load_batch_settings()
    app = FastAPI(title="Vigil", version=__version__, lifespan=_lifespan)
    mount_batch_api(app, settings)
    app.add_exception_handler(Exception, _internal_error)
    return app
