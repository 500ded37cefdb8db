"""The command line: thin commands that parse, call one library function, and print."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="pdsearch",
    help="Permission-aware search over PagerDuty escalation policies and schedules.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """Permission-aware search over PagerDuty escalation policies and schedules."""


@app.command()
def version() -> None:
    """Print pdsearch's version."""
    from pdsearch import __version__

    typer.echo(__version__)


# --- simulator commands (simulate) ---


# --- connector commands (connector, connect, sync, search, entities) ---


# --- service commands (serve, demo) ---


def main() -> None:
    app()
