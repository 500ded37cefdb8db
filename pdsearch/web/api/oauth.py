"""OAuth 2.0 sign-in of a connector: authorization code with PKCE (S256) and a one-time state.

1. ``GET /api/v1/connectors/{id}/oauth/authorize`` makes a PKCE verifier, stores it with a
   fresh state bound to the connector (the store keeps only the state's hash), and redirects
   to PagerDuty's authorize URL with the scopes pdsearch needs. A browser cannot send the
   bearer header when it follows a link, so this route also takes ``?ticket=``: a signed,
   single-use link valid for five minutes, handed out by the authenticated
   ``POST /api/v1/connectors/{id}/oauth/authorize``.
2. PagerDuty sends the browser back to ``/oauth/callback?code&state``. The state is consumed
   (unknown, replayed or expired: refused, nothing stored), the code exchanged, the tokens
   stored encrypted, the connection checked (subdomain), and the browser sent to the
   connector's page when the service has one.
"""

from __future__ import annotations

import html
import logging
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials

from pdsearch.connectors import AuthorizationError, UseCaseError
from pdsearch.store import NotFoundError
from pdsearch.web.api.common import connect_error, redirect_uri
from pdsearch.web.deps import (
    TICKET_SECONDS,
    Services,
    ServicesDep,
    bearer_scheme,
    token_matches,
)
from pdsearch.web.errors import ApiError, route_exists
from pdsearch.web.schemas import AuthorizeLinkOut, ErrorOut, error_responses

log = logging.getLogger(__name__)

link_router = APIRouter(tags=["oauth"])
authorize_router = APIRouter(tags=["oauth"])
# Outside /api/v1 (PagerDuty sends the browser here), so no 401; the rest can happen anywhere.
callback_router = APIRouter(tags=["oauth"], responses=error_responses(413, 422, 500))


def _ticket_purpose(connector_id: str) -> str:
    return f"oauth-authorize:{connector_id}"


def begin_authorization(services: Services, connector_id: str, callback_url: str) -> str:
    """PagerDuty's authorize URL with a fresh one-time state (for the pages too: they redirect
    a signed-in admin's browser to it). ``UseCaseError`` (409) when the connector cannot be
    authorized."""
    return services.connectors.begin_authorization(connector_id, callback_url)


def _public_base(services: Services, request: Request) -> str:
    return (services.settings.public_url or str(request.base_url)).rstrip("/")


@link_router.post(
    "/connectors/{connector_id}/oauth/authorize",
    response_model=AuthorizeLinkOut,
    responses={
        **error_responses(404),
        409: {
            "model": ErrorOut,
            "description": "an API-key connector (not_oauth_connector), or no client id "
            "(missing_credentials)",
        },
    },
    summary="A one-time link a browser can open to authorize the connector with PagerDuty",
)
def authorize_link(connector_id: str, request: Request, services: ServicesDep) -> AuthorizeLinkOut:
    services.connectors.oauth_client_id(connector_id)  # 404/409 now rather than after the click
    # In the database, so the link works on whichever replica the browser reaches.
    ticket = services.store.tickets.issue(_ticket_purpose(connector_id), TICKET_SECONDS)
    url = (
        f"{_public_base(services, request)}/api/v1/connectors/{connector_id}/oauth/authorize?"
        + urlencode({"ticket": ticket})
    )
    return AuthorizeLinkOut(url=url, expires_in=TICKET_SECONDS)


@authorize_router.get(
    "/connectors/{connector_id}/oauth/authorize",
    status_code=302,
    response_class=RedirectResponse,
    responses={
        302: {"description": "to PagerDuty's authorize page"},
        **error_responses(400, 404),
        401: {
            "model": ErrorOut,
            "description": "neither the API token nor a valid one-time ticket (invalid_ticket)",
        },
        409: {
            "model": ErrorOut,
            "description": "an API-key connector (not_oauth_connector), or no client id "
            "(missing_credentials)",
        },
    },
    summary="Redirect to PagerDuty to authorize the connector (bearer header or ?ticket=)",
)
def authorize(
    connector_id: str,
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    ticket: Annotated[
        str | None,
        Query(max_length=200, description="from POST .../oauth/authorize; single use"),
    ] = None,
) -> Response:
    allowed = credentials is not None and token_matches(services.settings, credentials.credentials)
    if not allowed and ticket:
        # A person followed a link: show them a page, not JSON, when something is wrong.
        if not services.store.tickets.redeem(_ticket_purpose(connector_id), ticket):
            return _failure(
                request,
                401,
                "invalid_ticket",
                "This authorization link is not valid: it expired, was already used, or is for "
                "another connector. Ask for a new one (POST .../oauth/authorize).",
            )
        try:
            url = begin_authorization(
                services, connector_id, redirect_uri(services.settings, request)
            )
        except UseCaseError as exc:
            status = 400 if exc.code == "invalid_configuration" else 409
            return _failure(request, status, exc.code, str(exc))
        except NotFoundError as exc:
            return _failure(request, 404, "not_found", str(exc))
        return RedirectResponse(url, status_code=302)
    if not allowed:
        raise ApiError(
            401,
            "unauthorized",
            "This call needs the service's API token ('Authorization: Bearer <token>') or a "
            "one-time ticket from POST .../oauth/authorize.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    url = begin_authorization(services, connector_id, redirect_uri(services.settings, request))
    return RedirectResponse(url, status_code=302)


# --- the callback ---------------------------------------------------------------------------


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _page(title: str, body: str, status: int) -> HTMLResponse:
    doc = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)} · pdsearch</title>"
        "<style>body{font:16px system-ui,sans-serif;max-width:40rem;margin:4rem auto;"
        "padding:0 1rem;color:#222}h1{font-size:1.4rem}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(body)}</p></body></html>"
    )
    return HTMLResponse(doc, status_code=status)


def _failure(request: Request, status: int, code: str, message: str) -> Response:
    if _wants_html(request):
        return _page("Authorization failed", message, status)
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _connector_page(request: Request, connector_id: str) -> str | None:
    """The connector's web page, when the service serves one."""
    path = f"/connectors/{connector_id}"
    return path if route_exists(request, "GET", path) else None


@callback_router.get(
    "/oauth/callback",
    responses={
        200: {"description": "connected (JSON, or a small page for a browser)"},
        303: {"description": "to the connector's page"},
        400: {
            "model": ErrorOut,
            "description": "unknown, replayed or expired state (invalid_state), consent denied "
            "(oauth_denied), PagerDuty refused the code or the connection (oauth_failed, "
            "pagerduty_*)",
        },
        409: {"model": ErrorOut, "description": "the connector still lacks authorization"},
        502: {"model": ErrorOut, "description": "PagerDuty's token endpoint failed"},
        503: {"model": ErrorOut, "description": "PagerDuty's rate limit outlasted the retries"},
    },
    summary="Where PagerDuty sends the browser back (register this URL in the PagerDuty app)",
)
async def callback(
    request: Request,
    services: ServicesDep,
    code: Annotated[str | None, Query(max_length=2000)] = None,
    state: Annotated[str | None, Query(max_length=500)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
    error_description: Annotated[str | None, Query(max_length=1000)] = None,
) -> Response:
    try:
        outcome = await services.connectors.complete_authorization(
            state, code, error, error_description
        )
    except AuthorizationError as exc:
        status = 400 if exc.refused or exc.code != "oauth_failed" else 502
        return _failure(request, status, exc.code, str(exc))
    connector = outcome.connector
    problem = None if outcome.problem is None else connect_error(outcome.problem, connector)
    # A person's browser goes on to the connector's page; an API client gets JSON.
    page = _connector_page(request, connector.id) if _wants_html(request) else None
    if page is not None:
        result = "connected" if problem is None else "error"
        return RedirectResponse(f"{page}?oauth={result}", status_code=303)
    if problem is not None:
        return _failure(request, problem.status, problem.code, problem.message)
    text = (
        f"Connector {connector.name!r} is connected to PagerDuty account {outcome.subdomain!r}. "
        "You can close this window."
    )
    if _wants_html(request):
        return _page("Connected", text, 200)
    return JSONResponse({"status": "connected", "connector_id": connector.id,
                         "account": {"subdomain": outcome.subdomain}})
