"""The command line: thin commands that parse, call one library function, and print."""

from __future__ import annotations

# connector commands' imports (heavier ones are imported inside the commands)
import asyncio
import contextlib
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from pdsearch.config import Settings
    from pdsearch.index.sqlite import SqliteIndex
    from pdsearch.store import Connector, EntityRecord, Job, Store

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


@app.command("simulate")
def simulate(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port; 0 picks a free one.")] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the generated account.")] = 1,
    scale: Annotated[
        str, typer.Option(help="Account size preset: tiny, small, medium or large.")
    ] = "small",
    teams: Annotated[int | None, typer.Option(help="Number of teams (overrides --scale).")] = None,
    users: Annotated[int | None, typer.Option(help="Number of users (overrides --scale).")] = None,
    schedules: Annotated[
        int | None, typer.Option(help="Number of schedules (overrides --scale).")
    ] = None,
    policies: Annotated[
        int | None, typer.Option(help="Number of escalation policies (overrides --scale).")
    ] = None,
    subdomain: Annotated[str, typer.Option(help="The account's subdomain.")] = "acme",
    region: Annotated[str, typer.Option(help="Service region: us or eu.")] = "us",
    api_key: Annotated[
        str | None, typer.Option(help="API key to accept; one is made up when not given.")
    ] = None,
    oauth_client_id: Annotated[str | None, typer.Option(help="OAuth client id.")] = None,
    oauth_client_secret: Annotated[str | None, typer.Option(help="OAuth client secret.")] = None,
    oauth_user_id: Annotated[
        str | None, typer.Option(help="User whom /oauth/authorize approves as (default: owner).")
    ] = None,
    token_ttl: Annotated[int, typer.Option(help="OAuth access token lifetime, seconds.")] = 3600,
    rate_limit: Annotated[
        int, typer.Option(help="Requests per minute per token; 0 = no limit.")
    ] = 960,
    latency_ms: Annotated[int, typer.Option(help="Latency added to every API request.")] = 0,
    fault_rate: Annotated[
        float, typer.Option(help="Share of API requests answered with a fault, 0 to 1.")
    ] = 0.0,
    fault_kinds: Annotated[
        str | None,
        typer.Option(help="Comma-separated fault kinds (500,502,503,timeout,cut,malformed,429)."),
    ] = None,
    slow_seconds: Annotated[
        float, typer.Option(help="How long the 'timeout' fault keeps a client waiting.")
    ] = 120.0,
    without_ability: Annotated[
        list[str] | None,
        typer.Option(help="Remove an account ability (teams: /teams answers 402). Repeatable."),
    ] = None,
    load: Annotated[
        Path | None, typer.Option(help="Serve this account file instead of generating one.")
    ] = None,
    save: Annotated[
        Path | None,
        typer.Option(help="Write the account here at start and again on exit (with API writes)."),
    ] = None,
) -> None:
    """Run a PagerDuty look-alike on loopback; prints one JSON line when ready, Ctrl-C stops it."""
    import signal

    from pdsearch.simulator.account import AccountError
    from pdsearch.simulator.config import SimulatorConfig
    from pdsearch.simulator.server import SimulatorServer, build_account

    def bad(message: str) -> NoReturn:
        typer.echo(f"pdsearch simulate: {message}", err=True)
        raise typer.Exit(2)

    sizes = {"teams": teams, "users": users, "schedules": schedules, "policies": policies}
    overrides: dict[str, Any] = {k: v for k, v in sizes.items() if v is not None}
    if fault_kinds is not None:
        overrides["fault_kinds"] = tuple(k.strip() for k in fault_kinds.split(",") if k.strip())
    if region not in ("us", "eu"):
        bad("--region must be us or eu")
    if slow_seconds <= 0:
        bad("--slow-seconds must be a positive number of seconds")
    try:
        config = SimulatorConfig.for_scale(
            scale,
            host=host,
            port=port,
            seed=seed,
            subdomain=subdomain,
            region=region,
            api_key=api_key,
            oauth_client_id=oauth_client_id,
            oauth_client_secret=oauth_client_secret,
            oauth_user_id=oauth_user_id,
            token_ttl=token_ttl,
            rate_limit=rate_limit,
            latency_ms=latency_ms,
            fault_rate=fault_rate,
            load=load,
            save=save,
            **overrides,
        )
    except ValueError as exc:
        bad(f"--scale: {exc}")
    problems = config.validate()
    if problems:
        bad("; ".join(problems))
    try:
        account = build_account(config)
    except AccountError as exc:
        bad(str(exc))
    if oauth_user_id is not None and oauth_user_id not in account.users:
        bad(f"--oauth-user-id {oauth_user_id} is not a user of the account")
    abilities = None
    if without_ability:
        unknown = sorted(set(without_ability) - set(account.abilities))
        if unknown:
            bad(f"--without-ability: {', '.join(unknown)} is not an ability of the account "
                f"(it has: {', '.join(sorted(account.abilities))})")
        abilities = set(account.abilities) - set(without_ability)
    if save is not None and save.is_file() and not _is_account_file(save):
        bad(f"--save: {save} exists and is not an account file; it would be overwritten. "
            "Give a new path (or a file written by --save before).")
    if save is not None:
        try:  # written at start, so an unwritable --save is refused before listening
            account.save(save)
        except AccountError as exc:
            bad(f"--save: {exc}")
    server = SimulatorServer(config, account, abilities=abilities, slow_seconds=slow_seconds)
    try:
        server.start()
    except OSError as exc:
        typer.echo(
            f"pdsearch simulate: cannot listen on {host}:{port} ({exc.strerror or exc}); "
            "choose another --port or use --port 0.",
            err=True,
        )
        raise typer.Exit(1) from None

    def save_account() -> None:
        if save is not None:
            try:
                account.save(save)
            except AccountError as exc:  # e.g. its folder was removed meanwhile
                typer.echo(f"pdsearch simulate: {exc}", err=True)
                raise typer.Exit(1) from None

    def stop_on_signal(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop_on_signal)
    try:
        ready: dict[str, Any] = {
            "base_url": server.base_url,
            "api_key": server.api_key,
            "subdomain": account.subdomain,
            "region": account.region,
        }
        if config.oauth_client_id is not None:
            ready["oauth"] = {
                "client_id": config.oauth_client_id,
                "oauth_base_url": server.oauth_base_url,
                "authorize_url": server.oauth_base_url + "/oauth/authorize",
                "token_url": server.oauth_base_url + "/oauth/token",
                "token_ttl": config.token_ttl,
            }
        typer.echo(json.dumps(ready))
        sys.stdout.flush()
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        save_account()



def _is_account_file(path: Path) -> bool:
    """True for a file ``simulate --save`` wrote (JSON with the account's keys)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and {"subdomain", "users", "teams"} <= data.keys()


# --- connector commands (connector, connect, sync, search, entities) ---
# Thin: each command parses, calls one library function and prints. State lives in the data
# directory (--data-dir or PDSEARCH_HOME); secrets are read from options, an environment
# variable, stdin or a hidden prompt, and never printed.

connector_app = typer.Typer(help="Add, list and remove PagerDuty connectors.", no_args_is_help=True)
entities_app = typer.Typer(
    help="Permission entities: who may see what.", no_args_is_help=True
)
app.add_typer(connector_app, name="connector")
app.add_typer(entities_app, name="entities")


def _data_dir(value: str) -> Path:
    """``--data-dir``, checked as typed: an empty value (``--data-dir "$UNSET"``) would
    otherwise become ``.`` and put the state and the key file in the current directory."""
    if not value.strip():
        raise typer.BadParameter("must not be empty; give a directory, e.g. ~/.pdsearch")
    path = Path(value).expanduser()
    if path.exists() and not path.is_dir():
        raise typer.BadParameter(f"{value!r} exists and is not a directory")
    return path


DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar="PDSEARCH_HOME",
        help="Data directory for pdsearch's state and index (default ~/.pdsearch).",
        parser=_data_dir,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


class _CliError(Exception):
    """A failure to report as one line on stderr with exit code 1."""


def _fail(message: str, code: int = 1) -> NoReturn:
    from rich.console import Console
    from rich.markup import escape

    # Escaped: messages quote user input and PagerDuty paths such as "include[]".
    Console(stderr=True, highlight=False, soft_wrap=True).print(
        f"[red]Error:[/red] {escape(message)}", markup=True
    )
    raise typer.Exit(code)


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """Turn the library's errors into a one-line message and exit code 1, never a traceback."""
    from pdsearch.pagerduty.errors import PagerDutyError
    from pdsearch.store import StoreError
    from pdsearch.sync.connection import ConnectorError
    from pdsearch.sync.service import SyncAlreadyRunning

    try:
        yield
    except (_CliError, StoreError, ConnectorError, PagerDutyError, SyncAlreadyRunning) as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))


def _settings(data_dir: Path | None) -> Settings:
    from pdsearch.config import Settings

    try:
        return Settings(home=data_dir) if data_dir is not None else Settings()
    except ValueError as exc:  # e.g. --data-dir below a file: the settings file can't be read
        _fail(_settings_problem(exc))


@contextlib.contextmanager
def _open_store(data_dir: Path | None) -> Iterator[Store]:
    from pdsearch.store import Store

    store = Store.open(_settings(data_dir))
    try:
        yield store
    finally:
        store.close()


@contextlib.contextmanager
def _open_index(data_dir: Path | None) -> Iterator[SqliteIndex]:
    from pdsearch.index.sqlite import SqliteIndex

    index = SqliteIndex(_settings(data_dir).index_path)
    try:
        yield index
    finally:
        index.close()


def _find_connector(store: Store, name: str) -> Connector:
    """A connector by name (case-insensitive) or by id."""
    from pdsearch.store import NotFoundError

    try:
        return store.get_connector_by_name(name)
    except NotFoundError:
        pass
    try:
        return store.get_connector(name)
    except NotFoundError:
        raise _CliError(
            f"No connector named {name!r}. 'pdsearch connector list' shows the connectors."
        ) from None


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


def _read_secret(value: str | None, env_var: str | None, what: str) -> str | None:
    """A secret from an option, ``-`` (stdin), or an environment variable."""
    if env_var:
        secret = os.environ.get(env_var, "")
        if not secret:
            raise _CliError(f"The environment variable {env_var} holding the {what} is not set.")
        return secret.strip()
    if value == "-":
        secret = sys.stdin.readline().strip()
        if not secret:
            raise _CliError(f"No {what} was given on standard input.")
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
    with _errors():
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
        with _open_store(data_dir) as store:
            connector = store.create_connector(
                name, auth_type, region, creds, base_url=base_url, oauth_base_url=oauth_base_url
            )
    if as_json:
        _print_json(connector.to_dict())
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
    with _errors(), _open_store(data_dir) as store:
        connectors, _total = store.list_connectors(limit=10_000)
    if as_json:
        _print_json([c.to_dict() for c in connectors])
        return
    if not connectors:
        typer.echo("No connectors yet. Add one with 'pdsearch connector add NAME --api-key -'.")
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table("name", "id", "auth", "region", "status", "account")
    for c in connectors:
        table.add_row(*map(Text, (c.name, c.id, c.auth_type, c.region, c.status,
                                  c.subdomain or "")))
    console = Console()
    console.print(table)
    for c in connectors:
        if c.last_error:
            console.print(Text(f"{c.name}: {c.last_error}"))


@connector_app.command("remove")
def connector_remove(
    name: Annotated[str, typer.Argument(help="The connector's name or id.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Remove a connector, its credentials, jobs, entities and indexed documents."""
    from pdsearch.sync.service import live_job

    with _errors(), _open_store(data_dir) as store:
        connector = _find_connector(store, name)
        running = live_job(store, connector.id)
        if running is not None:
            raise _CliError(
                f"A sync of connector {connector.name!r} is running (job {running.id}). Wait for "
                "it to finish or cancel it, then remove the connector."
            )
        if not yes:
            typer.confirm(
                f"Remove connector {connector.name!r} and all its indexed documents?", abort=True
            )
        with _open_index(data_dir) as index:
            removed = index.delete_source(connector.id)
        store.delete_connector(connector.id)
    typer.echo(f"Removed connector {connector.name!r} and {removed} documents.")


@app.command("connect")
def connect(
    name: Annotated[str, typer.Argument(help="The connector's name or id.")],
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check a connector's credentials against PagerDuty."""
    from pdsearch.sync.connection import check_connection

    with _errors(), _open_store(data_dir) as store:
        connector = _find_connector(store, name)
        info = asyncio.run(check_connection(connector, store))
    if as_json:
        _print_json({"status": "connected", "account": {"subdomain": info.subdomain}})
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


@app.command("sync")
def sync(
    name: Annotated[str, typer.Argument(help="The connector's name or id.")],
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a full sync now, with a progress bar; exits non-zero when it fails."""
    with _errors(), _open_store(data_dir) as store, _open_index(data_dir) as index:
        connector = _find_connector(store, name)
        try:
            job = _run_sync(store, index, connector, quiet=as_json)
        except KeyboardInterrupt:
            _fail("Sync canceled; nothing was deleted.", code=130)
    if as_json:
        _print_json(job.to_dict())
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
            _fail(job.error or f"The sync {job.status}.", code=code)
        raise typer.Exit(code)


@app.command("jobs")
def jobs_command(
    name: Annotated[str, typer.Argument(help="The connector's name or id.")],
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 10,
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a connector's sync history, newest first."""
    with _errors(), _open_store(data_dir) as store:
        connector = _find_connector(store, name)
        jobs, total = store.list_jobs(connector.id, limit=limit)
    if as_json:
        _print_json({"data": [j.to_dict() for j in jobs], "total": total})
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


@app.command("search")
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

    with _errors(), _open_store(data_dir) as store, _open_index(data_dir) as index:
        results = search(index, store, query, user, limit=limit, offset=offset)
    if as_json:
        _print_json({"total": results.total,
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


def _entity_lines(record: EntityRecord) -> str:
    manual = set(record.manual_user_ids)
    lines = [f"{record.entity_id}  {record.type}  {record.name}",
             f"{len(record.user_ids)} members ({len(manual)} added by hand):"]
    lines += [f"  {e} (manual)" if e in manual else f"  {e}" for e in record.user_ids]
    return "\n".join(lines)


@entities_app.command("list")
def entities_list(
    name: Annotated[str, typer.Argument(help="The connector's name or id.")],
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """List a connector's permission entities and how many members each has."""
    with _errors(), _open_store(data_dir) as store:
        connector = _find_connector(store, name)
        records, total = store.list_entities(connector.id, limit=100_000)
    if as_json:
        _print_json({"data": [r.to_dict() for r in records], "total": total})
        return
    if not records:
        typer.echo(f"No entities yet; run 'pdsearch sync {connector.name}' first.")
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table("entity", "type", "name", "members", "added by hand")
    for r in records:
        table.add_row(*map(Text, (r.entity_id, r.type, r.name, str(len(r.user_ids)),
                                  str(len(r.manual_user_ids)))))
    Console().print(table)


def _entity_command(
    name: str, entity: str, data_dir: Path | None, as_json: bool,
    change: Callable[[Store, str], EntityRecord | None],
) -> None:
    with _errors(), _open_store(data_dir) as store:
        connector = _find_connector(store, name)
        record = change(store, connector.id)
        if record is None:
            raise _CliError(
                f"No entity {entity!r} in connector {connector.name!r}. 'pdsearch entities list "
                f"{connector.name}' shows them."
            )
    if as_json:
        _print_json(record.to_dict())
    else:
        typer.echo(_entity_lines(record))


@entities_app.command("show")
def entities_show(
    name: Annotated[str, typer.Argument(help="The connector's name or id.")],
    entity: Annotated[str, typer.Argument(help="Entity id: the subdomain or a team id.")],
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one entity with its members (derived and added by hand)."""
    _entity_command(name, entity, data_dir, as_json,
                    lambda store, cid: store.get_entity(cid, entity))


@entities_app.command("add-users")
def entities_add_users(
    name: Annotated[str, typer.Argument(help="The connector's name or id.")],
    entity: Annotated[str, typer.Argument(help="Entity id: the subdomain or a team id.")],
    emails: Annotated[list[str], typer.Argument(help="E-mail addresses to add.")],
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add users by hand; they keep access through later syncs until removed."""
    _entity_command(name, entity, data_dir, as_json,
                    lambda store, cid: store.add_manual_members(cid, entity, emails))


@entities_app.command("remove-users")
def entities_remove_users(
    name: Annotated[str, typer.Argument(help="The connector's name or id.")],
    entity: Annotated[str, typer.Argument(help="Entity id: the subdomain or a team id.")],
    emails: Annotated[list[str], typer.Argument(help="E-mail addresses to remove.")],
    data_dir: DataDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Remove users added by hand (members PagerDuty derives stay while PagerDuty says so)."""
    _entity_command(name, entity, data_dir, as_json,
                    lambda store, cid: store.remove_manual_members(cid, entity, emails))



# --- service commands (serve, demo) ---

_SERVE_AUTH_HELP = (
    "Set PDSEARCH_API_TOKEN to a long random string (or api_token in the settings file), "
    "for example:\n"
    "  export PDSEARCH_API_TOKEN=\"$(python3 -c "
    "'import secrets; print(secrets.token_urlsafe(32))')\"\n"
    "Clients then send it as 'Authorization: Bearer <token>'."
)


def _settings_problem(exc: ValueError) -> str:
    """One line per bad setting, naming it; never the value (it may be a secret)."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        return "Invalid settings: " + "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
    return str(exc)


@app.command("serve")
def serve(
    host: Annotated[
        str | None, typer.Option(help="Interface to listen on [default: 127.0.0.1].")
    ] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="TCP port to listen on [default: 8000].")
    ] = None,
    data_dir: DataDirOption = None,
    log_level: Annotated[
        str | None,
        typer.Option(help="Log level: debug, info, warning or error [default: info]."),
    ] = None,
    public_url: Annotated[
        str | None,
        typer.Option(
            help="The service's external URL (behind a proxy), for the OAuth redirect URL; "
            "default PDSEARCH_PUBLIC_URL, else the URL each request came to."
        ),
    ] = None,
) -> None:
    """Run the service: the REST API under /api/v1 (docs at /docs) and scheduled syncs.

    Options left out come from PDSEARCH_* variables, then the settings file."""
    from pdsearch.config import Settings

    given = {"host": host, "port": port, "log_level": log_level, "public_url": public_url}
    try:
        settings = Settings.load(data_dir, **{k: v for k, v in given.items() if v is not None})
    except ValueError as exc:
        _fail(_settings_problem(exc))
    token = settings.api_token.get_secret_value() if settings.api_token else ""
    if not token:
        _fail(
            "No API token is configured, so the service will not start: every /api/v1 call "
            f"is authenticated with it.\n{_SERVE_AUTH_HELP}"
        )
    if len(token) < 16:
        typer.echo(
            "Warning: the API token is shorter than 16 characters; anyone who can reach the "
            "service could guess it. Use a long random token.",
            err=True,
        )
    import logging

    import uvicorn

    from pdsearch.web.app import AccessLogRedactor, create_app

    _check_listen_address(settings.host, settings.port)
    with _errors():
        service = create_app(settings)
    logging.getLogger("uvicorn.access").addFilter(AccessLogRedactor())
    where = f"http://{settings.host}:{settings.port}"
    typer.echo(f"pdsearch: API {where}/api/v1, docs {where}/docs, data in {settings.home}")
    try:
        uvicorn.run(service, host=settings.host, port=settings.port, log_level=settings.log_level)
    except SystemExit as exc:
        if exc.code not in (0, None):  # uvicorn's 3: it could not start (the cause is logged)
            _fail(f"The service could not listen on {settings.host}:{settings.port} (see above); "
                  "choose another --host or --port.")
        raise


def _check_listen_address(host: str, port: int) -> None:
    """A host that does not resolve is said plainly, before anything starts."""
    import socket

    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        _fail(f"Cannot listen on {host!r}: it is not an address of this machine ({exc}). "
              "Use --host 127.0.0.1, or 0.0.0.0 for every interface.")


@app.command("demo")
def demo(
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port of the service on 127.0.0.1; 0 picks one.")
    ] = 8000,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Keep the demo's data here (default: a temporary directory removed on exit).",
            parser=_data_dir,
        ),
    ] = None,
) -> None:
    """Try pdsearch: a simulated PagerDuty account, synced and searchable at once."""
    from pdsearch.demo import run_demo

    if data_dir is not None:
        try:  # a directory that can't be made is a message, not a traceback mid-start
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            _fail(f"Cannot use {str(data_dir)!r} as the data directory: {exc.strerror or exc}.")

    code = run_demo(port=port, data_dir=data_dir, say=lambda text: typer.echo(text))
    raise typer.Exit(code)



def main() -> None:
    app()
