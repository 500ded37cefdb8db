"""The REST API of DESIGN.md 2.4, under ``/api/v1``.

``api_router`` carries every bearer-protected route; ``oauth_callback_router`` the one route
PagerDuty's redirect reaches (``/oauth/callback``), protected by the one-time state instead.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import APIRouter, Depends
from starlette.routing import Match
from starlette.types import Scope

from pdsearch.web.api import (
    connectors,
    documents,
    entities,
    jobs,
    oauth,
    oncall,
    schedule,
    search,
)
from pdsearch.web.api.common import API_PREFIX
from pdsearch.web.deps import require_token
from pdsearch.web.schemas import error_responses

# What any call may answer; each route adds its own (404, 409...).
api_router = APIRouter(prefix=API_PREFIX, responses=error_responses(401, 413, 422, 500))
_protected = APIRouter(dependencies=[Depends(require_token)])
for module in (connectors, jobs, schedule, documents, entities, search, oncall):
    _protected.include_router(module.router)
_protected.include_router(oauth.link_router)
api_router.include_router(_protected)
# Reached by a browser: accepts the bearer header or a signed one-time ticket.
api_router.include_router(oauth.authorize_router)

oauth_callback_router = oauth.callback_router


def ticket_link(scope: Scope) -> bool:
    """A browser following an authorize link (``GET .../oauth/authorize?ticket=...``): the one
    request under /api/v1 that may come without the bearer header. The route checks the
    ticket itself; for ``web.api_auth.ApiTokenMiddleware``."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if not any(query.get("ticket", [])):
        return False
    path: str = scope.get("path", "")
    if not path.startswith(API_PREFIX + "/"):
        return False
    inner = {**scope, "path": path[len(API_PREFIX) :], "root_path": ""}
    return any(route.matches(inner)[0] == Match.FULL for route in oauth.authorize_router.routes)


__all__ = ["API_PREFIX", "api_router", "oauth_callback_router", "ticket_link"]
