"""The command line: thin commands that parse, call one library function, and print.

The commands live in ``simulate``, ``connectors``, ``entities`` and ``service``; they are
registered here, in the order ``pdsearch --help`` lists them.
"""

from __future__ import annotations

import typer

from pdsearch.cli import connectors, entities, service, simulate

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


app.command("simulate")(simulate.simulate)
app.command("connect")(connectors.connect)
app.command("sync")(connectors.sync)
app.command("jobs")(connectors.jobs_command)
app.command("search")(connectors.search_command)
app.command("serve")(service.serve)
app.command("demo")(service.demo)
app.add_typer(connectors.connector_app, name="connector")
app.add_typer(entities.entities_app, name="entities")


def main() -> None:
    app()
