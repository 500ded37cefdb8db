"""``/mcp``: the MCP server over streamable HTTP, inside the service.

- The bearer token: ``web.api_auth.ApiTokenMiddleware`` answers 401 before this endpoint sees a
  request without the service's token (no page session counts here).
- The person: the trusted user header, as the search page takes it (``web.page_identity``):
  believed only from an address in ``settings.trusted_proxies``. Without one, every tool
  answers an error saying how to name the person; a model cannot name anyone itself.
- The session manager runs inside the app's lifespan (``create_app`` enters ``running()``).
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Scope

from pdsearch.config import Settings
from pdsearch.mcp.http import Caller, Identify, StreamableHttpEndpoint, caller_person
from pdsearch.mcp.server import build_server
from pdsearch.mcp.tools import McpTools
from pdsearch.web.deps import Services
from pdsearch.web.page_identity import trusted_header_user

MCP_PATH = "/mcp"


def identify_by_header(settings: Settings) -> Identify:
    """The caller a request names in ``settings.user_header`` from a trusted proxy."""
    header = settings.user_header

    def identify(scope: Scope) -> Caller:
        request = Request(scope)
        email, ignored = trusted_header_user(settings, request)
        if email:
            return Caller(email)
        if not settings.trusted_proxies:
            return Caller("", (
                f"pdsearch does not know who is asking, so it shows nothing. Its /mcp "
                f"endpoint takes the person from the {header} header set by a trusted proxy, "
                "and no proxy is trusted yet: "
                "set PDSEARCH_TRUSTED_PROXIES to the proxy's address and have it send the "
                f"signed-in person's e-mail in {header}. For one person on their own "
                "machine, run 'pdsearch mcp --user EMAIL' (stdio) instead."
            ))
        if ignored:
            peer = request.client.host if request.client else "an unknown address"
            return Caller("", (
                f"The {header} header came from {peer}, which is not a trusted proxy, so "
                "pdsearch does not know who is asking and shows nothing. Send MCP requests "
                "through the single sign-on proxy, or add its address to "
                "PDSEARCH_TRUSTED_PROXIES."
            ))
        return Caller("", (
            f"pdsearch does not know who is asking, so it shows nothing: the request carried "
            f"no {header} header. Send it with the signed-in person's e-mail through the "
            "trusted proxy."
        ))

    return identify


def mcp_endpoint(services: Services) -> StreamableHttpEndpoint:
    """The MCP endpoint over ``services``; the app's lifespan enters its ``running()``."""
    tools = McpTools(services.store, services.index, oncall=services.oncall,
                     embedder=services.embedder)
    return StreamableHttpEndpoint(
        build_server(tools, caller_person), identify_by_header(services.settings)
    )


def install_mcp(app: FastAPI, endpoint: StreamableHttpEndpoint) -> None:
    """Serve ``endpoint`` at ``/mcp`` (every method: the SDK answers those it does not take)."""
    app.router.routes.append(Route(MCP_PATH, endpoint=endpoint, include_in_schema=False))
