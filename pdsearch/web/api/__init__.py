"""The REST API of DESIGN.md 2.4, under ``/api/v1``.

``api_router`` carries every bearer-protected route; ``oauth_callback_router`` the one route
PagerDuty's redirect reaches (``/oauth/callback``), protected by the one-time state instead.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from pdsearch.web.api import connectors, documents, entities, jobs, oauth, schedule, search
from pdsearch.web.deps import require_token
from pdsearch.web.schemas import ErrorOut

API_PREFIX = "/api/v1"

_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorOut, "description": "missing or wrong API token"},
    422: {
        "model": ErrorOut,
        "description": "the request is malformed; the message names the field",
    },
}

api_router = APIRouter(prefix=API_PREFIX, responses=_ERRORS)
_protected = APIRouter(dependencies=[Depends(require_token)])
for module in (connectors, jobs, schedule, documents, entities, search):
    _protected.include_router(module.router)
_protected.include_router(oauth.link_router)
api_router.include_router(_protected)
# Reached by a browser: accepts the bearer header or a signed one-time ticket.
api_router.include_router(oauth.authorize_router)

oauth_callback_router = oauth.callback_router

__all__ = ["API_PREFIX", "api_router", "oauth_callback_router"]
