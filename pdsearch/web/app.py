"""``create_app(settings)``: the service as one FastAPI app.

It opens the store and the index at once (so the app's parts are on ``app.state.services``
from the start) and, in its lifespan, builds the sync service and the scheduler, which need the
running event loop:

- start: jobs a crash left queued or running are marked failed, then the scheduler starts
  (firing, once, runs missed while the service was down);
- shutdown: the scheduler stops first (no new runs), running syncs are canceled and recorded
  as canceled, then the store and the index are closed.

Nothing is read from the environment or from globals here: ``settings`` is everything.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from pdsearch import __version__
from pdsearch.config import Settings
from pdsearch.index.sqlite import SqliteIndex
from pdsearch.scheduler import SyncScheduler
from pdsearch.store import Store
from pdsearch.sync.service import SyncAlreadyRunning, SyncService, running_elsewhere
from pdsearch.web.api import api_router, oauth_callback_router
from pdsearch.web.body_limit import BodyLimitMiddleware
from pdsearch.web.deps import Services, TicketSigner
from pdsearch.web.errors import install_error_handlers

log = logging.getLogger(__name__)

_DESCRIPTION = """\
Permission-aware search over PagerDuty escalation policies and schedules.

Every `/api/v1` call needs `Authorization: Bearer <token>`, the token the service was started
with (`PDSEARCH_API_TOKEN`). Errors have one shape: `{"error": {"code", "message"}}`.
"""


#: Query parameters that carry one-time credentials: kept out of the access log.
_SENSITIVE_PARAMS = re.compile(r"(?i)([?&](?:code|state|ticket|access_token|token)=)[^&\s]*")


class AccessLogRedactor(logging.Filter):
    """Blanks one-time credentials (OAuth ``code``/``state``, authorize tickets) in the URLs
    uvicorn's access log prints. Install it on the ``uvicorn.access`` logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _SENSITIVE_PARAMS.sub(r"\1<redacted>", a) if isinstance(a, str) else a
                for a in record.args
            )
        return True


def create_app(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    demo_users: list[str] | None = None,
) -> FastAPI:
    """The service. ``transport`` reaches every PagerDuty client (tests route it to the
    simulator); ``demo_users`` are the sample users ``pdsearch demo`` offers on its pages."""
    store = Store.open(settings)
    try:
        index = SqliteIndex(settings.index_path)
    except Exception:
        store.close()
        raise
    services = Services(
        settings=settings,
        store=store,
        index=index,
        tickets=TicketSigner(),
        transport=transport,
        demo_users=list(demo_users or []),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # A sync the CLI runs right now (its process alive) is not interrupted: leave it be.
        failed = store.fail_interrupted_jobs(spare=running_elsewhere)
        if failed:
            log.warning("marked %d job(s) left running by an earlier stop as failed", failed)
        sync = SyncService(store, index, transport=transport)
        services.sync = sync
        scheduler = SyncScheduler(store, sync.start, already_running=(SyncAlreadyRunning,))
        services.scheduler = scheduler
        scheduler.start()
        try:
            yield
        finally:
            scheduler.shutdown()
            await sync.shutdown()
            services.scheduler = None
            services.sync = None
            index.close()
            store.close()

    app = FastAPI(
        title="pdsearch",
        version=__version__,
        description=_DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.services = services
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware)  # 413 for bodies past 1 MiB, in the error shape
    app.include_router(api_router)
    app.include_router(oauth_callback_router)
    # --- web pages (pdsearch/web/pages.py): HTML at /, static files, the pages' API bridge ---
    from pdsearch.web.pages import install_pages

    install_pages(app)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__})

    return app
