"""What the routes depend on: the wired parts of the service, the bearer check, paging.

``create_app`` puts one ``Services`` on ``app.state.services``; routes (and the pages) reach it
through ``get_services``. Nothing here is global.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

import httpx
from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from pdsearch.config import Settings
from pdsearch.connectors import ConnectorService
from pdsearch.index.base import SearchIndex
from pdsearch.mcp.schemas import OnCallAnswerer
from pdsearch.scheduler import SyncScheduler
from pdsearch.store import Store
from pdsearch.sync.service import SyncService
from pdsearch.web.errors import ApiError
from pdsearch.web.schemas import DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT

if TYPE_CHECKING:
    from pdsearch.semantic import Embedder

#: Put in the request's scope by ``web.api_auth`` when a page's session (cookie and CSRF token)
#: authenticated it.
PAGE_SESSION_MARK = "pdsearch.page_session"
#: How long the one-time authorize link a browser follows stays valid.
TICKET_SECONDS = 300


@dataclass
class Services:
    """The parts of a service, wired by ``create_app``: ``connectors`` holds the use-cases;
    the scheduler fires only while the app's lifespan runs; ``oncall`` answers the MCP tool
    ``who_is_on_call`` (None: not available)."""

    settings: Settings
    store: Store
    index: SearchIndex
    connectors: ConnectorService
    sync: SyncService
    scheduler: SyncScheduler
    transport: httpx.AsyncBaseTransport | None = None
    demo_users: list[str] = field(default_factory=list)
    oncall: OnCallAnswerer | None = None
    #: The embedding model when semantic search is on (hybrid search), else None.
    embedder: Embedder | None = None


def get_services(request: Request) -> Services:
    services = getattr(request.app.state, "services", None)
    if services is None:  # pragma: no cover - only if create_app was bypassed
        raise ApiError(503, "unavailable", "The service is not set up; start it with create_app.")
    if not isinstance(services, Services):
        raise TypeError(f"app.state.services is a {type(services).__name__}, not Services")
    return services


def get_connectors(services: Annotated[Services, Depends(get_services)]) -> ConnectorService:
    """The connector use-cases."""
    return services.connectors


bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearerAuth",
    description="The service's API token (PDSEARCH_API_TOKEN), as `Authorization: Bearer <token>`.",
)


def token_matches(settings: Settings, presented: str | None) -> bool:
    """Constant-time comparison with the configured token; no token configured admits no one."""
    if settings.api_token is None or not presented:
        return False
    expected = settings.api_token.get_secret_value().encode()
    return hmac.compare_digest(expected, presented.encode())


def missing_token() -> ApiError:
    return ApiError(
        401,
        "unauthorized",
        "This call needs the service's API token: send 'Authorization: Bearer <token>' "
        "(the token is PDSEARCH_API_TOKEN).",
        headers={"WWW-Authenticate": "Bearer"},
    )


def wrong_token() -> ApiError:
    return ApiError(
        401,
        "unauthorized",
        "The API token is not valid. Use the token the service was started with "
        "(PDSEARCH_API_TOKEN).",
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> None:
    """Every /api/v1 call: ``Authorization: Bearer <settings.api_token>``, else 401 (or the
    pages' session, which ``web.api_auth.ApiTokenMiddleware`` checked and marked).

    The middleware checks the same before the request is even routed; this dependency
    documents the scheme in OpenAPI and guards the routes without it."""
    services = get_services(request)
    if credentials is None and request.scope.get(PAGE_SESSION_MARK):
        return
    if credentials is None:
        raise missing_token()
    if not token_matches(services.settings, credentials.credentials):
        raise wrong_token()


@dataclass(frozen=True)
class Paging:
    skip: int
    limit: int


def paging(
    skip: Annotated[int, Query(ge=0, le=1_000_000, description="items to skip")] = 0,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIST_LIMIT, description=f"items to return, ≤ {MAX_LIST_LIMIT}")
    ] = DEFAULT_LIST_LIMIT,
) -> Paging:
    return Paging(skip=skip, limit=limit)


ServicesDep = Annotated[Services, Depends(get_services)]
ConnectorsDep = Annotated[ConnectorService, Depends(get_connectors)]
PagingDep = Annotated[Paging, Depends(paging)]
