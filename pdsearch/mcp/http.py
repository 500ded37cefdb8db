"""The streamable HTTP transport: an ASGI app the service mounts at ``/mcp``.

The SDK's session manager does the protocol; this app hands it each request with the caller
already decided. Who calls is the host's decision (``pdsearch.web.mcp_endpoint`` checks the
bearer token and reads the trusted user header): ``identify(scope)`` answers a ``Caller``, put in
the request's scope, where the tools find it (``caller_person``) through the SDK's per-request
context. A caller the host could not name is not refused at the door: the tools answer with
``Caller.problem``, which says how to name them, where the assistant shows it.

The manager runs stateless, answering JSON: every request stands alone, names its caller
afresh, and any replica behind a load balancer can answer it. A session manager runs once, so
``running()`` makes a fresh one each time the service's lifespan starts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

#: Where the caller rides in a request's scope.
CALLER_KEY: Final = "pdsearch.mcp_caller"


@dataclass(frozen=True)
class Caller:
    """Who calls: ``email``, or "" and ``problem``, a message saying how to name them."""

    email: str
    problem: str = ""


Identify = Callable[[Scope], Caller]


def caller_person(ctx: Context[Any, Any]) -> str:
    """``PersonOf`` for HTTP: the caller the endpoint put in the request's scope."""
    request = ctx.request_context.request
    scope = getattr(request, "scope", None)
    caller = scope.get(CALLER_KEY) if isinstance(scope, dict) else None
    if not isinstance(caller, Caller):
        raise ToolError("This MCP endpoint could not tell who is asking, so it shows nothing.")
    if not caller.email:
        raise ToolError(caller.problem)
    return caller.email


def _error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


class StreamableHttpEndpoint:
    """The ASGI app for ``/mcp`` (see the module); serve it inside ``running()``."""

    def __init__(self, server: MCPServer[Any], identify: Identify) -> None:
        self.server = server
        self.identify = identify
        self._manager: StreamableHTTPSessionManager | None = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The session manager, for the host's lifespan: requests are answered only inside.

        The manager holds an anyio task group, which must be left by the task that entered
        it; a host's lifespan may start in one task and stop in another (a test fixture's
        set-up and tear-down do), so the manager runs in a task of its own."""
        # The returned Starlette app is not used: this endpoint is mounted by the host. The call
        # makes a fresh session manager (server.session_manager), which runs only once.
        self.server.streamable_http_app(
            stateless_http=True,
            json_response=True,
            # DNS rebinding protection checks Host and Origin against loopback names; every
            # request here carries the service's bearer token instead, which a page a browser
            # was lured to cannot, and a fixed host list would refuse any proxy's own name.
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        manager = self.server.session_manager
        started, stop = asyncio.Event(), asyncio.Event()

        async def run() -> None:
            async with manager.run():
                self._manager = manager
                started.set()
                try:
                    await stop.wait()
                finally:
                    self._manager = None

        task = asyncio.create_task(run(), name="pdsearch-mcp-session-manager")
        ready = asyncio.create_task(started.wait())
        await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():  # it could not start: say why, here
            ready.cancel()
            task.result()
        try:
            yield
        finally:
            stop.set()
            await task

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        manager = self._manager
        if scope["type"] != "http" or manager is None:
            await _error(503, "unavailable", "The MCP endpoint is not running; try again shortly.")(
                scope, receive, send
            )
            return
        if scope.get("method") == "GET":
            # A stateless server sends nothing unasked: a GET stream would only hold a
            # connection open for ever (the transport allows a 405 here).
            await _error(405, "method_not_allowed", "Send MCP messages with POST.",
                         {"Allow": "POST"})(scope, receive, send)
            return
        await manager.handle_request({**scope, CALLER_KEY: self.identify(scope)}, receive, send)
