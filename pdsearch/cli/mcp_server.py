"""``pdsearch mcp``: the MCP server over stdio, for a desktop assistant, as one person.

Standard output carries the protocol and nothing else: messages go to standard error.
"""

from __future__ import annotations

from typing import Annotated

import typer

from pdsearch.cli.common import (
    DataDirOption,
    open_index,
    open_store,
    reported_errors,
    semantic_on,
)


def _email(value: str) -> str:
    value = value.strip()
    if "@" not in value or any(c.isspace() for c in value):
        raise typer.BadParameter("give the person's e-mail address, e.g. ada@example.com")
    return value


def mcp(
    user: Annotated[
        str,
        typer.Option(
            "--user", parser=_email, metavar="EMAIL",
            help="The person the assistant acts for (their PagerDuty e-mail): every tool shows "
            "only what they may see.",
        ),
    ],
    data_dir: DataDirOption = None,
) -> None:
    """Serve MCP over stdio (for a desktop assistant): search, fetch and who_is_on_call.

    Runs until the assistant closes standard input. Configure the assistant to start
    'pdsearch mcp --user EMAIL --data-dir DIR'."""
    from pdsearch.mcp.server import build_server, fixed_person
    from pdsearch.mcp.tools import McpTools
    from pdsearch.oncall import StoredOnCall
    from pdsearch.search import load_embedder

    with reported_errors(), open_store(data_dir) as store, open_index(data_dir) as index:
        if not store.entities.memberships(user):
            typer.echo(
                f"Warning: {user} is in no permission entity here yet, so the tools will show "
                "them nothing ('pdsearch entities list CONNECTOR' shows who is).",
                err=True,
            )
        embedder = load_embedder(semantic_on(data_dir))
        server = build_server(
            McpTools(store, index, oncall=StoredOnCall(index, store, embedder),
                     embedder=embedder),
            fixed_person(user),
        )
        try:
            server.run("stdio")
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
