"""The API token, checked before anything else under ``/api/v1``.

FastAPI reads and parses a route's body before it solves the route's dependencies, so a bearer
check written as a router dependency (``Depends(require_token)``) runs only after the body was
parsed and validated: without a token, a malformed body got 422, a body that is not UTF-8 got
400, a query parameter out of range 422. An anonymous client learnt how the API parses its
input before it was told to authenticate, and the OpenAPI description could not say which
answer comes first.

A custom route class could run the check before the body, but only for requests that match a
route: an unknown path or a wrong method would still answer 404 or 405 to anyone. This pure ASGI
middleware runs before routing, from the request line and headers alone, for every path under
``/api/v1``: without the right bearer token the answer is 401 and the body is never read. It is
the outermost layer of the service's own middleware, so the 1 MiB body limit comes after it too.

The admin pages are the other way in: a request without a bearer header that carries the pages'
session cookie is let through when the session is valid and the request carries the page's CSRF
token (``X-CSRF-Token``, see ``page_session``). So the pages' scripts call ``/api/v1`` directly,
one way to authenticate with no token in the browser and no second HTTP hop.

One route is reached by a browser following a link, which cannot carry the header: the OAuth
authorize redirect with its signed one-time ``?ticket=`` (``web/api/oauth.py``). The app names it
with ``exempt``; that route checks the ticket (or the header) itself.

The MCP endpoint ``/mcp`` takes the same token, and only the token: an assistant's MCP client
sends it, a page's session does not count there, nothing is exempt.

The route dependency ``require_token`` stays on the routers: it documents the security scheme
in the OpenAPI description, and it guards the routes should they ever be served without this
middleware.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from pdsearch.config import Settings
from pdsearch.web.deps import PAGE_SESSION_MARK, missing_token, token_matches, wrong_token
from pdsearch.web.errors import error_response
from pdsearch.web.page_session import COOKIE_NAME, CSRF_HEADER, PageSessions

#: Everything under this prefix needs the bearer token.
PROTECTED_PREFIX = "/api/v1"
#: Everything under this prefix needs the bearer token, and nothing else admits a request.
BEARER_ONLY_PREFIX = "/mcp"

Exempt = Callable[[Scope], bool]


def _bearer(scope: Scope) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else None."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            text: str = bytes(value).decode("latin-1")
            scheme, _, token = text.partition(" ")
            token = token.strip()
            return token if scheme.lower() == "bearer" and token else None
    return None


def _under(scope: Scope, prefix: str) -> bool:
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return path == prefix or path.startswith(prefix + "/")


class ApiTokenMiddleware:
    """401 for any request under ``/api/v1`` or ``/mcp`` without the service's token (see
    the module)."""

    def __init__(self, app: ASGIApp, settings: Settings, exempt: Exempt | None = None) -> None:
        self.app = app
        self.settings = settings
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        bearer_only = scope["type"] == "http" and _under(scope, BEARER_ONLY_PREFIX)
        if scope["type"] != "http" or not (bearer_only or _under(scope, PROTECTED_PREFIX)):
            await self.app(scope, receive, send)
            return
        token = _bearer(scope)
        if token is not None and token_matches(self.settings, token):
            await self.app(scope, receive, send)
            return
        if bearer_only:
            await _refusal(token)(scope, receive, send)
            return
        if self.exempt is not None and self.exempt(scope):
            await self.app(scope, receive, send)
            return
        if token is None and _has_session_cookie(scope):
            refusal = _page_session_refusal(scope)
            if refusal is None:
                await self.app({**scope, PAGE_SESSION_MARK: True}, receive, send)
            else:
                await refusal(scope, receive, send)
            return
        await _refusal(token)(scope, receive, send)


def _refusal(token: str | None) -> Response:
    error = missing_token() if token is None else wrong_token()
    return error_response(error.status, error.code, error.message, error.headers)


def _has_session_cookie(scope: Scope) -> bool:
    return bool(Request(scope).cookies.get(COOKIE_NAME))


def _page_session_refusal(scope: Scope) -> Response | None:
    """None when the request's page session is valid and it carries the page's CSRF token,
    else the answer to send."""
    request = Request(scope)
    sessions = getattr(request.app.state, "page_sessions", None)
    if not isinstance(sessions, PageSessions):  # pages not installed: no session can exist
        return error_response(401, "signed_out", "This service has no pages to sign in to.")
    session = sessions.check(request.cookies.get(COOKIE_NAME))
    if session is None:
        return error_response(
            401, "signed_out", "Your session has ended. Sign in again to continue."
        )
    if not PageSessions.csrf_ok(session, request.headers.get(CSRF_HEADER)):
        return error_response(
            403, "csrf_failed", "This request did not come from a pdsearch page. Reload the page."
        )
    return None
