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
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials

from pdsearch.pagerduty.errors import OAuthError, PagerDutyError
from pdsearch.pagerduty.oauth import authorization_request, exchange_code
from pdsearch.store import Connector, NotFoundError
from pdsearch.sync.connection import ConnectorError, check_connection, token_fields
from pdsearch.web.api.common import conflict, connect_error, find_connector, redirect_uri
from pdsearch.web.deps import Services, ServicesDep, bearer_scheme, token_matches
from pdsearch.web.errors import ApiError, route_exists
from pdsearch.web.schemas import AuthorizeLinkOut, ErrorOut

log = logging.getLogger(__name__)

#: How long a state (and so the whole round trip through PagerDuty's consent page) stays valid.
STATE_TTL_SECONDS = 600

link_router = APIRouter(tags=["oauth"])
authorize_router = APIRouter(tags=["oauth"])
callback_router = APIRouter(tags=["oauth"], responses={422: {"model": ErrorOut}})


def _ticket_purpose(connector_id: str) -> str:
    return f"oauth-authorize:{connector_id}"


def _oauth_connector(services: Services, connector_id: str) -> tuple[Connector, str]:
    connector = find_connector(services.store, connector_id)
    if connector.auth_type != "oauth2":
        raise conflict(
            "not_oauth_connector",
            f"Connector {connector.name!r} uses an API key, not OAuth. Change its auth to "
            '{"type": "oauth2", ...} with PATCH first.',
        )
    client_id = services.store.get_credentials(connector_id).get("client_id")
    if not client_id:
        raise conflict(
            "missing_credentials",
            f"Connector {connector.name!r} has no OAuth client id. Set auth with PATCH first.",
        )
    return connector, client_id


def begin_authorization(services: Services, connector_id: str, callback_url: str) -> str:
    """Create a one-time state for the connector and return PagerDuty's authorize URL.

    For the web pages too: they redirect a signed-in admin's browser to the returned URL.
    Raises ``ApiError`` (404, 409) when the connector cannot be authorized.
    """
    connector, client_id = _oauth_connector(services, connector_id)
    try:
        req = authorization_request(
            client_id,
            callback_url,
            region=connector.region,
            oauth_base_url=connector.oauth_base_url,
        )
    except PagerDutyError as exc:  # e.g. an OAuth host the client refuses
        raise ApiError(400, "invalid_configuration", str(exc)) from None
    state = services.store.create_oauth_state(
        connector_id, req.code_verifier, callback_url, ttl_seconds=STATE_TTL_SECONDS
    )
    log.info("sending the browser to PagerDuty to authorize connector %s", connector_id)
    return _with_state(req.url, state)


def _with_state(url: str, state: str) -> str:
    """The URL with its ``state`` parameter set to ours: the store's state is the one we check."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "state"]
    query.append(("state", state))
    return urlunsplit(parts._replace(query=urlencode(query)))


def _public_base(services: Services, request: Request) -> str:
    return (services.settings.public_url or str(request.base_url)).rstrip("/")


@link_router.post(
    "/connectors/{connector_id}/oauth/authorize",
    response_model=AuthorizeLinkOut,
    responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut}},
    summary="A one-time link a browser can open to authorize the connector with PagerDuty",
)
def authorize_link(connector_id: str, request: Request, services: ServicesDep) -> AuthorizeLinkOut:
    _oauth_connector(services, connector_id)
    ticket = services.tickets.issue(_ticket_purpose(connector_id))
    url = (
        f"{_public_base(services, request)}/api/v1/connectors/{connector_id}/oauth/authorize?"
        + urlencode({"ticket": ticket})
    )
    return AuthorizeLinkOut(url=url, expires_in=services.tickets.ttl)


@authorize_router.get(
    "/connectors/{connector_id}/oauth/authorize",
    status_code=302,
    response_class=RedirectResponse,
    responses={
        302: {"description": "to PagerDuty's authorize page"},
        401: {"model": ErrorOut},
        404: {"model": ErrorOut},
        409: {"model": ErrorOut},
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
        if not services.tickets.redeem(_ticket_purpose(connector_id), ticket):
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
        except ApiError as exc:
            return _failure(request, exc.status, exc.code, exc.message)
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
        303: {"description": "to the connector's page"},
        400: {"model": ErrorOut, "description": "unknown, replayed or expired state; denied"},
        502: {"model": ErrorOut, "description": "PagerDuty's token endpoint failed"},
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
    store = services.store
    bound = store.consume_oauth_state(state) if state else None
    if bound is None:
        return _failure(
            request,
            400,
            "invalid_state",
            "This sign-in response is not valid: its state is unknown, was already used, or "
            "expired. Nothing was stored. Start the authorization again from the connector.",
        )
    connector_id, code_verifier, callback_url = bound
    try:
        connector = store.get_connector(connector_id)
    except NotFoundError:
        return _failure(
            request, 400, "invalid_state", "The connector was removed during the sign-in."
        )
    creds = store.get_credentials(connector_id)
    # A failed re-authorization leaves a working token (and its status) in place.
    status_after_failure = connector.status if creds.get("access_token") else "needs_authorization"
    if error or not code:
        reason = error or "no authorization code"
        message = (
            f"PagerDuty did not grant access ({reason}"
            + (f": {error_description}" if error_description else "")
            + "). Start the authorization again and approve access."
        )
        store.set_status(connector_id, status_after_failure, error=message)
        return _failure(request, 400, "oauth_denied", message)

    try:
        token = await exchange_code(
            creds.get("client_id", ""),
            creds.get("client_secret", ""),
            code,
            code_verifier,
            callback_url,
            region=connector.region,
            oauth_base_url=connector.oauth_base_url,
            transport=services.transport,
        )
    except PagerDutyError as exc:
        message = (
            f"PagerDuty refused the sign-in: {exc} Check the connector's client id and secret "
            "and its OAuth host, then authorize again."
        )
        store.set_status(connector_id, status_after_failure, error=message)
        refused = isinstance(exc, OAuthError) or 400 <= (exc.status_code or 0) < 500
        return _failure(request, 400 if refused else 502, "oauth_failed", message)

    store.update_credentials(connector_id, **token_fields(token))
    log.info("stored OAuth tokens for connector %s", connector_id)
    connector = store.get_connector(connector_id)
    try:
        info = await check_connection(connector, store, transport=services.transport)
        subdomain: str | None = info.subdomain
        problem: ApiError | None = None
    except ConnectorError as exc:
        # The tokens are kept; the connector shows the cause (e.g. a scope not granted).
        subdomain, problem = None, connect_error(exc, connector)

    # A person's browser goes on to the connector's page; an API client gets JSON.
    page = _connector_page(request, connector_id) if _wants_html(request) else None
    if page is not None:
        outcome = "connected" if problem is None else "error"
        return RedirectResponse(f"{page}?oauth={outcome}", status_code=303)
    if problem is not None:
        return _failure(request, problem.status, problem.code, problem.message)
    text = (
        f"Connector {connector.name!r} is connected to PagerDuty account {subdomain!r}. "
        "You can close this window."
    )
    if _wants_html(request):
        return _page("Connected", text, 200)
    return JSONResponse(
        {"status": "connected", "connector_id": connector_id, "account": {"subdomain": subdomain}}
    )
