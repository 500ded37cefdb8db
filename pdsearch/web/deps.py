"""What the routes depend on: the wired parts of the service, the bearer check, paging.

``create_app`` puts one ``Services`` on ``app.state.services``; routes (and the pages) reach it
through ``get_services``. Nothing here is global.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Annotated

import httpx
from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from pdsearch.config import Settings
from pdsearch.index.sqlite import SqliteIndex
from pdsearch.scheduler import SyncScheduler
from pdsearch.store import Store
from pdsearch.sync.service import SyncService
from pdsearch.web.errors import ApiError
from pdsearch.web.schemas import DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT


class TicketSigner:
    """Short-lived, single-use signed links for the one call a browser must make itself.

    A browser that follows a link cannot send the bearer header, so an authenticated
    ``POST .../oauth/authorize`` hands out a URL carrying a ticket: an expiry and a nonce,
    signed with HMAC-SHA256 (over them and the connector it is for) under a key made fresh for
    this process. The ticket works once, for that connector, for ``ttl`` seconds; the API token
    itself never goes into a URL (where proxies and browser history would keep it).
    """

    def __init__(self, ttl: int = 300) -> None:
        self.ttl = ttl
        self._key = secrets.token_bytes(32)
        self._used: dict[str, float] = {}
        self._lock = threading.Lock()

    def _sign(self, purpose: str, expires: int, nonce: str) -> str:
        msg = f"{purpose}|{expires}|{nonce}".encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()

    def issue(self, purpose: str) -> str:
        expires = int(time.time()) + self.ttl
        nonce = secrets.token_urlsafe(12)
        return f"{expires}.{nonce}.{self._sign(purpose, expires, nonce)}"

    def redeem(self, purpose: str, ticket: str) -> bool:
        """True once for a genuine, unexpired ticket issued for ``purpose``."""
        try:
            expires_text, nonce, signature = ticket.split(".", 2)
            expires = int(expires_text)
        except ValueError:
            return False
        if not hmac.compare_digest(signature, self._sign(purpose, expires, nonce)):
            return False
        now = time.time()
        with self._lock:
            for old, until in list(self._used.items()):
                if until < now:
                    del self._used[old]
            if expires < now or nonce in self._used:
                return False
            self._used[nonce] = expires
        return True


@dataclass
class Services:
    """The parts of a running service. ``sync`` and ``scheduler`` exist while the app's lifespan
    runs (they need its event loop); the rest from ``create_app`` on."""

    settings: Settings
    store: Store
    index: SqliteIndex
    tickets: TicketSigner
    transport: httpx.AsyncBaseTransport | None = None
    demo_users: list[str] = field(default_factory=list)
    sync: SyncService | None = None
    scheduler: SyncScheduler | None = None


def get_services(request: Request) -> Services:
    services = getattr(request.app.state, "services", None)
    if services is None:  # pragma: no cover - only if create_app was bypassed
        raise ApiError(503, "unavailable", "The service is not set up; start it with create_app.")
    assert isinstance(services, Services)
    return services


def get_sync(services: Annotated[Services, Depends(get_services)]) -> SyncService:
    if services.sync is None:
        raise ApiError(503, "unavailable", "The service is starting or stopping; try again.")
    return services.sync


def get_scheduler(services: Annotated[Services, Depends(get_services)]) -> SyncScheduler:
    if services.scheduler is None:
        raise ApiError(503, "unavailable", "The service is starting or stopping; try again.")
    return services.scheduler


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


def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> None:
    """Every /api/v1 call: ``Authorization: Bearer <settings.api_token>``, else 401."""
    services = get_services(request)
    if credentials is None:
        raise ApiError(
            401,
            "unauthorized",
            "This call needs the service's API token: send 'Authorization: Bearer <token>' "
            "(the token is PDSEARCH_API_TOKEN).",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not token_matches(services.settings, credentials.credentials):
        raise ApiError(
            401,
            "unauthorized",
            "The API token is not valid. Use the token the service was started with "
            "(PDSEARCH_API_TOKEN).",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )


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
SyncDep = Annotated[SyncService, Depends(get_sync)]
SchedulerDep = Annotated[SyncScheduler, Depends(get_scheduler)]
PagingDep = Annotated[Paging, Depends(paging)]
