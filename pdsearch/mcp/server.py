"""The MCP server: three read-only tools (``search``, ``fetch``, ``who_is_on_call``) on the
SDK's ``MCPServer``, which publishes each tool's input schema (from its parameters) and output
schema (from its return model), validates arguments, and answers a ``ToolError`` or a bad
argument with an ``is_error`` result while it keeps serving.

Who asks is not a tool argument: a model must not be able to name someone else. ``person``
reads it from the call's context: the configured ``--user`` over stdio, the trusted user header
over HTTP (``pdsearch.mcp.http``). The blocking work (SQLite or OpenSearch) runs in a worker
thread, so one slow search never stalls the others on the HTTP endpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations
from pydantic import Field

from pdsearch import __version__
from pdsearch.mcp.schemas import (
    DEFAULT_RESULTS,
    MAX_ID_CHARS,
    MAX_QUERY_CHARS,
    MAX_RESULTS,
    FetchOutput,
    OnCallOutput,
    SearchOutput,
)
from pdsearch.mcp.tools import McpTools

#: Who is asking, from a call's context (raises ``ToolError`` with what to do when unknown).
PersonOf = Callable[[Context[Any, Any]], str]

INSTRUCTIONS = (
    "pdsearch searches a company's PagerDuty escalation policies and schedules, showing only "
    "what the person using this assistant may see. Use `search` to find policies and schedules "
    "by service, team, person or any words in them; `fetch` with a result's `id` for the whole "
    "text (every escalation level, rotation layer, user and team); `who_is_on_call` for who is "
    "on call now or at a given time."
)

_READ_ONLY = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)

Query = Annotated[
    str,
    Field(
        max_length=MAX_QUERY_CHARS,
        description="words to look for, e.g. 'payments escalation' or 'Ada Lovelace'; quoted "
        "phrases and prefix* work; empty lists everything the person may see",
    ),
]


def build_server(tools: McpTools, person: PersonOf) -> MCPServer[Any]:
    """The MCP server over ``tools``, asking ``person(ctx)`` who calls each tool."""
    with _logging_untouched():
        server: MCPServer[Any] = MCPServer(
            "pdsearch", title="pdsearch: PagerDuty search", version=__version__,
            instructions=INSTRUCTIONS,
        )

    async def search(
        ctx: Context[Any, Any],
        query: Query,
        limit: Annotated[
            int, Field(ge=1, le=MAX_RESULTS, description="results to return, best first")
        ] = DEFAULT_RESULTS,
    ) -> SearchOutput:
        """Search PagerDuty escalation policies and schedules the person may see, best
        first. Each result's `id` is what `fetch` takes."""
        email = person(ctx)
        return await anyio.to_thread.run_sync(tools.search, email, query, limit)

    async def fetch(
        ctx: Context[Any, Any],
        id: Annotated[  # the connector convention names it so
            str,
            Field(
                min_length=1, max_length=MAX_ID_CHARS,
                description="a document id exactly as `search` returned it",
            ),
        ],
    ) -> FetchOutput:
        """The whole text of one escalation policy or schedule, with its PagerDuty URL.
        A document the person may not see is not found, like one that does not exist."""
        email = person(ctx)
        return await anyio.to_thread.run_sync(tools.fetch, email, id)

    async def who_is_on_call(
        ctx: Context[Any, Any],
        query: Annotated[
            str,
            Field(
                max_length=MAX_QUERY_CHARS,
                description="a question ('who do I page for checkout?'), or a schedule, "
                "escalation policy, team or service name",
            ),
        ],
        at: Annotated[
            str | None,
            Field(
                max_length=64,
                description="ISO 8601 time to ask about, e.g. 2026-12-05T22:00:00Z; "
                "default now",
            ),
        ] = None,
    ) -> OnCallOutput:
        """Who is on call (now, and next) on the schedules and escalation policies the
        person may see that match the query, level by level."""
        email = person(ctx)
        return await anyio.to_thread.run_sync(tools.who_is_on_call, email, query, at)

    server.add_tool(search, title="Search PagerDuty", annotations=_READ_ONLY)
    server.add_tool(fetch, title="Fetch a PagerDuty document", annotations=_READ_ONLY)
    server.add_tool(who_is_on_call, title="Who is on call", annotations=_READ_ONLY)
    return server


@contextmanager
def _logging_untouched() -> Iterator[None]:
    """``MCPServer()`` calls ``logging.basicConfig``: a handler and a level on the root logger
    of whatever process builds it (the whole service). Logging is the host's to configure."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def fixed_person(email: str) -> PersonOf:
    """Every call is made by ``email`` (stdio: one person runs the assistant)."""

    def person(ctx: Context[Any, Any]) -> str:
        return email

    return person
