"""Connector commands: `connector add|list|remove`, `connect`, `sync`, `jobs` and `search`.

Thin: each command parses, calls one library function and prints.
"""

from __future__ import annotations

import asyncio
import enum
import os
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from pdsearch.cli.common import (
    CliError,
    ConnectorArg,
    DataDirOption,
    JsonOption,
    SemanticOption,
    connector_service,
    data_home,
    fail,
    find_connector,
    has_state,
    no_connectors,
    open_index,
    open_store,
    print_json,
    print_table,
    reported_errors,
    semantic_on,
)

if TYPE_CHECKING:
    from pdsearch.index.base import SearchIndex
    from pdsearch.stopping import StopSignals
    from pdsearch.store import Connector, Job, Store

class SyncMode(enum.StrEnum):
    incremental = "incremental"
    full = "full"


connector_app = typer.Typer(
    help="Add, list and remove PagerDuty connectors.", no_args_is_help=True,
    rich_markup_mode=None,
)


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


def _check_credential(value: str, what: str, option: str) -> None:
    """Refused here, where it is typed, rather than by the first request that cannot carry it;
    the message never repeats the value."""
    from pdsearch.pagerduty.auth import HEADER_SAFE_RULE, header_safe

    if not header_safe(value):
        raise typer.BadParameter(f"the {what} {HEADER_SAFE_RULE}.", param_hint=option)


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
    no_schedule: Annotated[
        bool,
        typer.Option("--no-schedule", help="No default schedules (otherwise: an incremental "
                     "sync every 5 minutes and a full sync once a day)."),
    ] = False,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a connector with an API key or OAuth 2.0 client settings. It gets the default
    schedules (see 'pdsearch schedule show') unless --no-schedule is given."""
    region = region.lower()
    if region not in ("us", "eu"):
        raise typer.BadParameter("must be us or eu", param_hint="--region")
    from pdsearch.connectors import ApiKey, Credentials, OAuthClient
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
            _check_credential(oauth_client_id, "OAuth client id", "--oauth-client-id")
            _check_credential(secret, "OAuth client secret", "--oauth-client-secret")
            credentials: Credentials = OAuthClient(oauth_client_id, secret)
        else:
            key = _read_secret(api_key, api_key_env, "API key")
            if not key:
                if not sys.stdin.isatty():
                    raise typer.BadParameter(
                        "give --api-key (or '-' for stdin), --api-key-env VAR or OAuth settings"
                    )
                key = typer.prompt("PagerDuty API key", hide_input=True).strip()
            _check_credential(key, "API key", "--api-key")
            credentials = ApiKey(key)
        with open_store(data_dir, create=True) as store, open_index(data_dir) as index:
            connector = connector_service(store, index).create(
                name, credentials, region, base_url=base_url, oauth_base_url=oauth_base_url,
                default_schedules=not no_schedule,
            )
    if as_json:
        print_json(connector.to_dict())
        return
    typer.echo(f"Added connector {connector.name!r} (id {connector.id}).")
    if connector.auth_type == "oauth2":
        typer.echo("Next: authorize it with PagerDuty from its Authorization tab in "
                   "'pdsearch serve', then 'pdsearch sync " + connector.name + "'.")
    else:
        typer.echo(f"Next: 'pdsearch connect {connector.name}' to check the key, then "
                   f"'pdsearch sync {connector.name}'.")


@connector_app.command("list")
def connector_list(data_dir: DataDirOption = None, as_json: JsonOption = False) -> None:
    """List the connectors."""
    with reported_errors():
        if has_state(data_dir):
            with open_store(data_dir) as store:
                connectors, _total = store.connectors.list(limit=10_000)
        else:  # never made: say so, and make nothing
            connectors = []
    if as_json:
        print_json([c.to_dict() for c in connectors])
        return
    if not connectors:
        typer.echo(no_connectors(data_home(data_dir)))
        return
    from rich.text import Text

    console = print_table(
        ("name", "id", "auth", "region", "status", "account"),
        ((c.name, c.id, c.auth_type, region_label(c), c.status, c.subdomain or "")
         for c in connectors),
        whole=("id",),
    )
    for c in connectors:
        if c.last_error:
            console.print(Text(f"{c.name}: {c.last_error}"))


def region_label(connector: Connector) -> str:
    """The region, or "custom" when a base URL replaces the region's (--json has the URL)."""
    return "custom" if connector.base_url else connector.region


@connector_app.command("remove")
def connector_remove(
    name: ConnectorArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Remove a connector, its credentials, jobs, entities and indexed documents (a sync of it
    that is running, here or in the service, is canceled first)."""
    from pdsearch.sync.service import live_job

    with reported_errors(), open_store(data_dir) as store:
        connector = find_connector(store, name, data_dir, exact=True)
        if not yes:
            running = live_job(store, connector.id)
            note = " Its running sync will be canceled." if running is not None else ""
            typer.confirm(
                f"Remove connector {connector.name!r} and all its indexed documents?{note}",
                abort=True,
            )
        with open_index(data_dir) as index:
            removed = asyncio.run(connector_service(store, index).remove(connector.id))
    documents = "document" if removed == 1 else "documents"
    typer.echo(f"Removed connector {connector.name!r} and {removed} {documents}.")


def connect(
    name: ConnectorArg,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check a connector's credentials against PagerDuty."""
    with reported_errors(), open_store(data_dir) as store, open_index(data_dir) as index:
        connector = find_connector(store, name, data_dir)
        connection = asyncio.run(connector_service(store, index).connect(connector.id))
        info, warnings = connection.info, connection.warnings
    if as_json:
        print_json({"status": "connected", "account": {"subdomain": info.subdomain},
                    "warnings": warnings})
    else:
        typer.echo(f"Connected: {connector.name!r} reads PagerDuty account {info.subdomain!r}.")
        for warning in warnings:
            typer.echo(f"Warning: {warning}", err=True)


def _run_sync(
    store: Store, index: SearchIndex, connector: Connector, quiet: bool, stop: StopSignals,
    mode: str | None = None,
    semantic: bool = True,
) -> Job:
    """The sync in the foreground; a stop signal (SIGTERM, or Ctrl-C unless ignored) cancels it
    and it is recorded as canceled."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    from pdsearch.search import load_embedder
    from pdsearch.sync.progress import Progress

    # Semantic search on (PDSEARCH_SEMANTIC): the sync computes the vectors it lacks.
    service = connector_service(store, index, embedder=load_embedder(semantic))
    if quiet or not sys.stderr.isatty():
        return stop.run(service.run_sync(connector.id, "manual", mode=mode))
    from rich.console import Console

    with Bar(TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(),
             TimeElapsedColumn(), transient=True, console=Console(stderr=True)) as bar:
        task = bar.add_task("starting", total=None)

        def show(p: Progress) -> None:
            bar.update(task, description=p.phase, completed=p.done, total=p.total)

        return stop.run(service.run_sync(connector.id, "manual", on_progress=show, mode=mode))


def sync(
    name: ConnectorArg,
    mode: Annotated[SyncMode | None, typer.Option(
        "--mode", help="incremental: only what PagerDuty's audit records say changed; full: "
        "the whole account. Default: incremental where available, else full.")] = None,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a sync now, with a progress bar; exits non-zero when it fails.

    An incremental sync that cannot run (no cursor yet, no Audit Trail feature...) runs as a
    full one and says why. SIGTERM (or Ctrl-C) cancels it: the job is recorded as canceled and
    nothing is deleted."""
    from pdsearch.stopping import Stopped, StopSignals

    with reported_errors(), open_store(data_dir) as store, open_index(data_dir) as index:
        connector = find_connector(store, name, data_dir)
        stop = StopSignals()
        try:
            job = _run_sync(store, index, connector, quiet=as_json, stop=stop,
                            mode=mode.value if mode is not None else None,
                            semantic=semantic_on(data_dir))
        except (KeyboardInterrupt, Stopped) as exc:  # before the sync had a job to record
            code = 128 + exc.signum if isinstance(exc, Stopped) else 130
            fail("Sync canceled before it started; nothing was changed.", code=code)
    if as_json:
        print_json(job.to_dict())
    else:
        c = job.counts
        fallback = job.progress.get("fallback")
        if fallback:
            typer.echo(fallback)
        typer.echo(
            f"Sync {job.status} ({job.mode}): {c['added']} added, {c['updated']} updated, "
            f"{c['deleted']} deleted, {c['unchanged']} unchanged, {c['failed']} failed; "
            f"{job.requests} requests in {job.duration_seconds or 0:.1f} s."
        )
        for failure in job.failures[:10]:
            typer.echo(f"  failed {failure['id']}: {failure['reason']}")
    if job.status != "succeeded":
        # Stopped by a signal: 128 + its number, as shells report it (130 Ctrl-C, 143 SIGTERM).
        code = (stop.exit_code or 130) if job.status == "canceled" else 1
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
        connector = find_connector(store, name, data_dir)
        jobs, total = store.jobs.list(connector.id, limit=limit)
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
        typer.echo(f"{started}  {job.status:<9}  {job.trigger:<9}  {job.mode:<11}  {changes}  "
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
    semantic: SemanticOption = None,
) -> None:
    """Search as a user: only what that user may see."""
    from pdsearch.search import load_embedder, search

    with reported_errors(), open_store(data_dir) as store, open_index(data_dir) as index:
        if not store.connectors.list(limit=1)[1]:
            raise CliError(no_connectors(data_home(data_dir)))
        embedder = load_embedder(semantic_on(data_dir, semantic))
        results = search(index, store.entities, query, user, limit=limit, offset=offset,
                         embedder=embedder)
        known_user = bool(results.total or store.entities.memberships(user))
    if as_json:
        print_json({"total": results.total, "notice": results.notice, "results": [
            {"id": h.id, "connector_id": h.source, "type": h.type, "title": h.title,
             "snippet": h.snippet, "url": h.url, "score": h.score} for h in results.hits
        ]})
        return
    if results.notice:
        typer.echo(results.notice)
    if not results.hits:
        typer.echo(f"No results for {query!r} visible to {user}.")
        if not known_user:
            typer.echo(f"{user} is in no permission entity of any connector here, so sees "
                       "nothing; 'pdsearch entities list CONNECTOR' shows who is.")
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
