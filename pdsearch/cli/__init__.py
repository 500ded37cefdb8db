"""The command line: thin commands that parse, call one library function, and print.

The commands live in ``simulate``, ``connectors``, ``entities``, ``service``, ``migrate``,
``mcp_server`` and ``keys``; they are registered here, in the order ``pdsearch --help`` lists them.
"""

from __future__ import annotations

import typer

from pdsearch.cli import (
    connectors,
    entities,
    keys,
    mcp_server,
    migrate,
    oncall,
    schedules,
    service,
    simulate,
)

app = typer.Typer(
    name="pdsearch",
    help="Permission-aware search over PagerDuty escalation policies and schedules.",
    no_args_is_help=True,
    add_completion=False,
    # Plain help: typer's rich panels print a stray "<bool>" beside every flag and --help,
    # and read "[default: ...]" in help texts as markup.
    rich_markup_mode=None,
)


@app.callback()
def _root() -> None:
    """Permission-aware search over PagerDuty escalation policies and schedules."""


@app.command()
def version() -> None:
    """Print pdsearch's version."""
    from pdsearch import __version__

    typer.echo(__version__)


app.command("simulate")(simulate.simulate)
app.command("connect")(connectors.connect)
app.command("sync")(connectors.sync)
app.command("jobs")(connectors.jobs_command)
app.command("search")(connectors.search_command)
app.command("oncall")(oncall.oncall_command)
app.command("serve")(service.serve)
app.command("demo")(service.demo)
app.command("mcp")(mcp_server.mcp)
app.command("migrate")(migrate.migrate)
app.command("rotate-secrets")(keys.rotate_secrets)
app.add_typer(connectors.connector_app, name="connector")
app.add_typer(entities.entities_app, name="entities")
app.add_typer(schedules.schedule_app, name="schedule")


def main() -> None:
    app()
