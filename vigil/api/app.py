"""The Vigil FastAPI application: a small factory that mounts the routers.

All state lives on `app.state` (no module globals), so tests and servers can build as many
independent apps as they like:
- `app.state.step5`: the STEP5 defaults set through `/api/step5/*` (`Step5Store`).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from vigil import __version__
from vigil.api import step5
from vigil.api.step5 import Step5Config, Step5Store

log = logging.getLogger(__name__)


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    # The seed's 500 body; the traceback goes to the log, not to the client.
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"status": "error", "message": "Erreur interne"}, status_code=500)


def create_app(*, step5_defaults: Step5Config | None = None) -> FastAPI:
    """A new app. `step5_defaults` seeds the values `/api/step5/*` reports and changes."""
    app = FastAPI(title="Vigil", version=__version__)
    app.state.step5 = Step5Store(step5_defaults or Step5Config())
    app.include_router(step5.router)
    app.add_exception_handler(Exception, _internal_error)
    return app
