"""``create_app(settings)``: the service as one FastAPI app.

It opens the store and the index at once (so the app's parts are on ``app.state.services``
from the start) and, in its lifespan, builds the sync service and the scheduler, which need the
running event loop:

- start: jobs a crash left queued or running are marked failed (not those another live process
  or replica runs), then the scheduler loop starts (it fires schedules while this replica holds
  the scheduler lease; runs missed while no replica led fire once);
- shutdown: the scheduler stops first (no new runs; the lease is released for another replica),
  running syncs are canceled and recorded
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
from pdsearch.connectors import ConnectorService
from pdsearch.index.factory import open_index
from pdsearch.mcp.schemas import OnCallAnswerer
from pdsearch.oncall import StoredOnCall
from pdsearch.scheduler import SyncScheduler
from pdsearch.search import load_embedder
from pdsearch.store import Store
from pdsearch.sync.oncall import OnCallRefresher
from pdsearch.sync.service import SyncAlreadyRunning, SyncService, running_elsewhere
from pdsearch.web.api import api_router, oauth_callback_router, ticket_link
from pdsearch.web.api_auth import ApiTokenMiddleware
from pdsearch.web.body_limit import BodyLimitMiddleware
from pdsearch.web.deps import Services
from pdsearch.web.errors import install_error_handlers
from pdsearch.web.mcp_endpoint import install_mcp, mcp_endpoint

log = logging.getLogger(__name__)

_DESCRIPTION = """\
Permission-aware search over PagerDuty escalation policies and schedules.

Every `/api/v1` call needs `Authorization: Bearer <token>`, the token the service was started
with (`PDSEARCH_API_TOKEN`); it is checked before anything else, so without it every request
is 401 whatever it holds. Errors have one shape: `{"error": {"code", "message"}}`; each
operation lists the statuses it can answer, and docs/API.md every code.
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
    oncall: OnCallAnswerer | None = None,
    oncall_check_seconds: float = 60.0,
) -> FastAPI:
    """The service. ``transport`` reaches every PagerDuty client (tests route it to the
    simulator); ``demo_users`` are the sample users ``pdsearch demo`` offers on its pages;
    ``oncall`` answers the MCP tool ``who_is_on_call`` (by default the stored on-call data);
    ``oncall_check_seconds`` is how often the scheduler's leader asks which connectors'
    on-call data is due a refresh (first after one period)."""
    store = Store.open(settings)
    try:
        index = open_index(settings)
    except Exception:
        store.close()
        raise
    # Loaded once per process (about half a second); None when semantic search is off.
    embedder = load_embedder(settings.semantic)
    refresher = OnCallRefresher(
        store, index, transport=transport, window_days=settings.oncall_window_days,
        interval_minutes=settings.oncall_refresh_minutes,
    )
    sync = SyncService(store, index, transport=transport, oncall=refresher, embedder=embedder)

    async def scheduled_sync(connector_id: str, trigger: str, mode: str) -> str:
        return await connectors.start_sync(connector_id, trigger, mode)

    scheduler = SyncScheduler(
        store, scheduled_sync, already_running=(SyncAlreadyRunning,),
        oncall_refresh=refresher.refresh_due if settings.oncall_refresh_minutes else None,
        oncall_check_seconds=oncall_check_seconds,
    )
    connectors = ConnectorService(store, index, sync, scheduler=scheduler, transport=transport)
    services = Services(
        settings=settings,
        store=store,
        index=index,
        transport=transport,
        demo_users=list(demo_users or []),
        connectors=connectors,
        sync=sync,
        scheduler=scheduler,
        oncall=oncall if oncall is not None else StoredOnCall(index, store, embedder),
        embedder=embedder,
    )
    mcp = mcp_endpoint(services)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # A sync the CLI or another replica runs right now (a fresh heartbeat; on this machine
        # a live process) is not interrupted: leave it be.
        failed = store.jobs.fail_interrupted(spare=running_elsewhere)
        if failed:
            log.warning("marked %d job(s) left running by an earlier stop as failed", failed)
        services.connectors.recover()  # a removal a crash interrupted; orphaned documents
        scheduler.start()
        try:
            async with mcp.running():  # the MCP SDK's session manager, for /mcp
                yield
        finally:
            scheduler.shutdown()
            await sync.shutdown()
            index.close()
            store.close()

    app = FastAPI(
        title="pdsearch",
        version=__version__,
        description=_DESCRIPTION,
        lifespan=lifespan,
        # /docs is served by the pages (web/api_docs.py) with Swagger UI's files from an
        # installed package: FastAPI's own loads them from a CDN, blank offline.
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = services
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware)  # 413 for bodies past 1 MiB, in the error shape
    # Added last, so it runs first: no token, no parsing (web/api_auth.py says why).
    app.add_middleware(ApiTokenMiddleware, settings=settings, exempt=ticket_link)
    app.include_router(api_router)
    app.include_router(oauth_callback_router)
    # /mcp: the MCP server over streamable HTTP (web/mcp_endpoint.py), same bearer token.
    install_mcp(app, mcp)
    # --- web pages (pdsearch/web/pages.py): HTML at /, static files, page sessions ---
    from pdsearch.web.pages import install_pages

    install_pages(app)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__})

    return app
