"""Connector commands: `connector add|list|remove`, `connect`, `sync`, `jobs` and `search`.

Thin: each command parses, calls one library function and prints.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from pdsearch.cli.common import (
    CliError,
    ConnectorArg,
    DataDirOption,
    JsonOption,
    fail,
    find_connector,
    open_index,
    open_store,
    print_json,
    print_table,
    reported_errors,
)

if TYPE_CHECKING:
    from pdsearch.index.sqlite import SqliteIndex
    from pdsearch.store import Connector, Job, Store

connector_app = typer.Typer(help="Add, list and remove PagerDuty connectors.", no_args_is_help=True)


def _read_secret(value: str | None, env_var: str | None, what: str) -> str | None:
    """A secret from an option, ``-`` (stdin), or an environment variable."""
    if env_var:
        secret = os.environ.get(env_var, "")
        if not secret:
            raise CliError(f"The environment variable {env_var} holding the {what} is not set.")
        return secret.strip()
    if value == "-":
        secret = sys.stdin.readline().strip()
        if not secret:
            raise CliError(f"No {what} was given on standard input.")
        return secret
    return value


@connector_app.command("add")
def connector_add(
    name: Annotated[str, typer.Argument(help="A name for the connector, e.g. acme-prod.")],
    api_key: Annotated[
        str | None,
        typer.Option(help="PagerDuty REST API key; '-' reads it from stdin (keeps it out of "
                     "shell history)."),
    ] = None,
    api_key_env: Annotated[
        str | None, typer.Option(help="Read the API key from this environment variable.")
    ] = None,
    oauth_client_id: Annotated[str | None, typer.Option(help="OAuth 2.0 client id.")] = None,
    oauth_client_secret: Annotated[
        str | None, typer.Option(help="OAuth 2.0 client secret; '-' reads it from stdin.")
    ] = None,
    oauth_client_secret_env: Annotated[
        str | None, typer.Option(help="Read the OAuth client secret from this variable.")
    ] = None,
    region: Annotated[str, typer.Option(help="PagerDuty service region: us or eu.")] = "us",
    base_url: Annotated[
        str | None, typer.Option(help="REST API base URL (default: the region's).")
    ] = None,
    oauth_base_url: Annotated[
        str | None, typer.Option(help="OAuth base URL (default: identity.pagerduty.com).")
    ] = None,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a connector with an API key or OAuth 2.0 client settings."""
    region = region.lower()
    if region not in ("us", "eu"):
        raise typer.BadParameter("must be us or eu", param_hint="--region")
    from pdsearch.pagerduty.errors import ConfigurationError
    from pdsearch.pagerduty.regions import api_base_url
    from pdsearch.pagerduty.regions import oauth_base_url as oauth_base

    try:
        base_url = api_base_url(region, base_url) if base_url else None
        oauth_base_url = oauth_base(region, oauth_base_url) if oauth_base_url else None
    except ConfigurationError as exc:
        raise typer.BadParameter(str(exc)) from None
    wants_oauth = bool(oauth_client_id or oauth_client_secret or oauth_client_secret_env)
    wants_key = bool(api_key or api_key_env)
    if wants_oauth and wants_key:
        raise typer.BadParameter("give either an API key or OAuth settings, not both")
    with reported_errors():
        if wants_oauth:
            secret = _read_secret(oauth_client_secret, oauth_client_secret_env,
                                  "OAuth client secret")
            if not oauth_client_id or not secret:
                raise typer.BadParameter(
                    "OAuth needs both --oauth-client-id and --oauth-client-secret"
                )
            auth_type, creds = "oauth2", {"client_id": oauth_client_id, "client_secret": secret}
        else:
            key = _read_secret(api_key, api_key_env, "API key")
            if not key:
                if not sys.stdin.isatty():
                    raise typer.BadParameter(
                        "give --api-key (or '-' for stdin), --api-key-env VAR or OAuth settings"
                    )
                key = typer.prompt("PagerDuty API key", hide_input=True).strip()
            auth_type, creds = "api_key", {"api_key": key}
        with open_store(data_dir) as store:
            connector = store.create_connector(
                name, auth_type, region, creds, base_url=base_url, oauth_base_url=oauth_base_url
            )
    if as_json:
        print_json(connector.to_dict())
        return
    typer.echo(f"Added connector {connector.name!r} (id {connector.id}).")
    if auth_type == "oauth2":
        typer.echo("Next: authorize it with PagerDuty from its Authorization tab in "
                   "'pdsearch serve', then 'pdsearch sync " + connector.name + "'.")
    else:
        typer.echo(f"Next: 'pdsearch connect {connector.name}' to check the key, then "
                   f"'pdsearch sync {connector.name}'.")


@connector_app.command("list")
def connector_list(data_dir: DataDirOption = None, as_json: JsonOption = False) -> None:
    """List the connectors."""
    with reported_errors(), open_store(data_dir) as store:
        connectors, _total = store.list_connectors(limit=10_000)
    if as_json:
        print_json([c.to_dict() for c in connectors])
        return
    if not connectors:
        typer.echo("No connectors yet. Add one with 'pdsearch connector add NAME --api-key -'.")
        return
    from rich.text import Text

    console = print_table(
        ("name", "id", "auth", "region", "status", "account"),
        ((c.name, c.id, c.auth_type, c.region, c.status, c.subdomain or "") for c in connectors),
    )
    for c in connectors:
        if c.last_error:
            console.print(Text(f"{c.name}: {c.last_error}"))


@connector_app.command("remove")
def connector_remove(
    name: ConnectorArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Remove a connector, its credentials, jobs, entities and indexed documents."""
    from pdsearch.sync.service import live_job

    with reported_errors(), open_store(data_dir) as store:
        connector = find_connector(store, name)
        running = live_job(store, connector.id)
        if running is not None:
            raise CliError(
                f"A sync of connector {connector.name!r} is running (job {running.id}). Wait for "
                "it to finish or cancel it, then remove the connector."
            )
        if not yes:
            typer.confirm(
                f"Remove connector {connector.name!r} and all its indexed documents?", abort=True
            )
        with open_index(data_dir) as index:
            removed = index.delete_source(connector.id)
        store.delete_connector(connector.id)
    typer.echo(f"Removed connector {connector.name!r} and {removed} documents.")


def connect(
    name: ConnectorArg,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check a connector's credentials against PagerDuty."""
    from pdsearch.sync.connection import check_connection

    with reported_errors(), open_store(data_dir) as store:
        connector = find_connector(store, name)
        info = asyncio.run(check_connection(connector, store))
    if as_json:
        print_json({"status": "connected", "account": {"subdomain": info.subdomain}})
    else:
        typer.echo(f"Connected: {connector.name!r} reads PagerDuty account {info.subdomain!r}.")


def _run_sync(store: Store, index: SqliteIndex, connector: Connector, quiet: bool) -> Job:
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    from pdsearch.sync.progress import Progress
    from pdsearch.sync.service import SyncService

    service = SyncService(store, index)
    if quiet or not sys.stderr.isatty():
        return asyncio.run(service.run(connector.id, "manual"))
    from rich.console import Console

    with Bar(TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(),
             TimeElapsedColumn(), transient=True, console=Console(stderr=True)) as bar:
        task = bar.add_task("starting", total=None)

        def show(p: Progress) -> None:
            bar.update(task, description=p.phase, completed=p.done, total=p.total)

        return asyncio.run(service.run(connector.id, "manual", on_progress=show))


def sync(
    name: ConnectorArg,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a full sync now, with a progress bar; exits non-zero when it fails."""
    with reported_errors(), open_store(data_dir) as store, open_index(data_dir) as index:
        connector = find_connector(store, name)
        try:
            job = _run_sync(store, index, connector, quiet=as_json)
        except KeyboardInterrupt:
            fail("Sync canceled; nothing was deleted.", code=130)
    if as_json:
        print_json(job.to_dict())
    else:
        c = job.counts
        typer.echo(
            f"Sync {job.status}: {c['added']} added, {c['updated']} updated, "
            f"{c['deleted']} deleted, {c['unchanged']} unchanged, {c['failed']} failed; "
            f"{job.requests} requests in {job.duration_seconds or 0:.1f} s."
        )
        for failure in job.failures[:10]:
            typer.echo(f"  failed {failure['id']}: {failure['reason']}")
    if job.status != "succeeded":
        code = 130 if job.status == "canceled" else 1  # 130: stopped by Ctrl-C, as shells say
        if not as_json:
            fail(job.error or f"The sync {job.status}.", code=code)
        raise typer.Exit(code)


def jobs_command(
    name: ConnectorArg,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 10,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a connector's sync history, newest first."""
    with reported_errors(), open_store(data_dir) as store:
        connector = find_connector(store, name)
        jobs, total = store.list_jobs(connector.id, limit=limit)
    if as_json:
        print_json({"data": [j.to_dict() for j in jobs], "total": total})
        return
    if not jobs:
        typer.echo(f"No syncs yet; run 'pdsearch sync {connector.name}'.")
        return
    typer.echo("changes: +added ~updated -deleted =unchanged !failed")
    for job in jobs:
        c = job.counts
        started = (job.started_at or job.created_at).strftime("%Y-%m-%d %H:%M:%S UTC")
        failed = f" !{c['failed']}" if c["failed"] else ""
        changes = f"+{c['added']} ~{c['updated']} -{c['deleted']} ={c['unchanged']}{failed}"
        typer.echo(f"{started}  {job.status:<9}  {job.trigger:<9}  {changes}  "
                   f"{job.requests} requests  {job.duration_seconds or 0:.1f} s")
        if job.error:
            typer.echo(f"    {job.error}")


def search_command(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    user: Annotated[str, typer.Option("--user", help="Search as this user (e-mail).")],
    limit: Annotated[int, typer.Option(min=1, max=100, help="Results per page.")] = 10,
    offset: Annotated[int, typer.Option(min=0, help="Results to skip.")] = 0,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Search as a user: only what that user may see."""
    from pdsearch.search import search

    with reported_errors(), open_store(data_dir) as store, open_index(data_dir) as index:
        results = search(index, store, query, user, limit=limit, offset=offset)
    if as_json:
        print_json({"total": results.total,
                     "results": [dataclasses.asdict(h) for h in results.hits]})
        return
    if not results.hits:
        typer.echo(f"No results for {query!r} visible to {user}.")
        return
    from rich.console import Console
    from rich.markup import escape

    console = Console(highlight=False)
    console.print(escape(f"{results.total} results for {query!r} visible to {user}:"))
    for n, hit in enumerate(results.hits, start=offset + 1):
        console.print(f"{n}. [bold]{escape(hit.title)}[/bold] ({hit.type.replace('_', ' ')})")
        console.print(f"   {escape(hit.url)}", soft_wrap=True)
        console.print(f"   {escape(_plain_snippet(hit.snippet))}")
    shown = offset + len(results.hits)
    if shown < results.total:
        console.print(f"Showing {offset + 1}-{shown} of {results.total}; for more, add "
                      f"--offset {shown}.")


def _plain_snippet(snippet: str) -> str:
    """Snippet highlight marks (HTML <mark> or brackets) removed for a terminal."""
    import html
    import re

    return " ".join(html.unescape(re.sub(r"</?mark>|</?b>", "", snippet)).split())
