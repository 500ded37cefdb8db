"""What the commands share: the --data-dir and --json options, turning errors into one line and
an exit code, opening the store and the index, and printing JSON or a table.

State lives in the data directory (--data-dir or PDSEARCH_HOME); secrets are read from options,
an environment variable, stdin or a hidden prompt, and never printed.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from pdsearch.config import Settings
    from pdsearch.connectors import ConnectorService
    from pdsearch.index.base import SearchIndex
    from pdsearch.store import Connector, Store
    from pdsearch.sync.vectors import Embeds


def parse_data_dir(value: str) -> Path:
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
        parser=parse_data_dir,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
SemanticOption = Annotated[
    bool | None,
    typer.Option(
        "--semantic/--no-semantic",
        help="Hybrid search (keyword and meaning fused) or keyword only "
        "[default: PDSEARCH_SEMANTIC, else on].",
        show_default=False,
    ),
]
ConnectorArg = Annotated[str, typer.Argument(help="The connector's name or id.")]


class CliError(Exception):
    """A failure to report as one line on stderr with exit code 1."""


def fail(message: str, code: int = 1) -> NoReturn:
    from rich.console import Console
    from rich.markup import escape

    # Escaped: messages quote user input and PagerDuty paths such as "include[]".
    Console(stderr=True, highlight=False, soft_wrap=True).print(
        f"[red]Error:[/red] {escape(message)}", markup=True
    )
    raise typer.Exit(code)


@contextlib.contextmanager
def reported_errors() -> Iterator[None]:
    """Turn the library's errors into a one-line message and exit code 1, never a traceback."""
    from pdsearch.connectors import UseCaseError
    from pdsearch.index.errors import SearchIndexError
    from pdsearch.pagerduty.errors import PagerDutyError
    from pdsearch.schedule_spec import ScheduleError
    from pdsearch.store import StoreError
    from pdsearch.sync.connection import ConnectorError
    from pdsearch.sync.service import SyncAlreadyRunning

    try:
        yield
    except (CliError, StoreError, ConnectorError, PagerDutyError, SyncAlreadyRunning,
            SearchIndexError, UseCaseError, ScheduleError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))


def settings_problem(exc: ValueError) -> str:
    """One line per bad setting, naming it; never the value (it may be a secret)."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        return "Invalid settings: " + "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
    return str(exc)


def _settings(data_dir: Path | None) -> Settings:
    from pdsearch.config import Settings

    try:
        return Settings(home=data_dir) if data_dir is not None else Settings()
    except ValueError as exc:  # e.g. --data-dir below a file: the settings file can't be read
        fail(settings_problem(exc))


def no_connectors(home: Path) -> str:
    return (
        f"No connectors yet in {home}: add one with 'pdsearch connector add NAME --api-key -', "
        "or point --data-dir (or PDSEARCH_HOME) at the data directory you meant ('pdsearch "
        "demo' prints the line that does it for its data)."
    )


def data_home(data_dir: Path | None) -> Path:
    return Path(_settings(data_dir).home).expanduser()


@contextlib.contextmanager
def open_store(data_dir: Path | None, *, create: bool = False) -> Iterator[Store]:
    """The store of the data directory. Only ``create=True`` (adding a connector) may make the
    directory: a command that reads says the directory has no connectors instead of leaving
    an empty one behind (a mistyped --data-dir, or the demo's data never pointed at)."""
    from pdsearch.store import Store

    settings = _settings(data_dir)
    if not create and not has_state(data_dir):
        raise CliError(no_connectors(Path(settings.home).expanduser()))
    store = Store.open(settings)
    try:
        yield store
    finally:
        store.close()


@contextlib.contextmanager
def open_index(data_dir: Path | None) -> Iterator[SearchIndex]:
    """The index the settings name (SQLite in the data directory, or OpenSearch)."""
    from pdsearch.index.factory import open_index as open_search_index

    index = open_search_index(_settings(data_dir))
    try:
        yield index
    finally:
        index.close()


def connector_service(
    store: Store, index: SearchIndex, *, embedder: Embeds | None = None
) -> ConnectorService:
    """The connector use-cases for one command (no scheduler runs in the CLI: schedules it
    changes are stored, and a running service's scheduler follows them). ``embedder``: syncs
    compute the meaning vectors semantic search needs."""
    from pdsearch.connectors import ConnectorService
    from pdsearch.scheduler import SyncScheduler
    from pdsearch.sync.oncall import OnCallRefresher
    from pdsearch.sync.service import SyncService

    async def scheduled(connector_id: str, trigger: str, mode: str) -> str:
        return await service.start_sync(connector_id, trigger, mode)

    oncall = OnCallRefresher(store, index)  # a sync refreshes who is on call at its end
    # Never started here: it validates, stores and describes schedules (with their next run).
    scheduler = SyncScheduler(store, scheduled)
    sync = SyncService(store, index, oncall=oncall, embedder=embedder)
    service = ConnectorService(store, index, sync, scheduler=scheduler)
    return service


def semantic_on(data_dir: Path | None, option: bool | None = None) -> bool:
    """Whether semantic search is on: the option, else the settings (PDSEARCH_SEMANTIC)."""
    return option if option is not None else _settings(data_dir).semantic


def has_state(data_dir: Path | None) -> bool:
    """Whether the data directory holds pdsearch's state (a connector was ever added)."""
    return Path(_settings(data_dir).state_path).expanduser().is_file()


def find_connector(
    store: Store, ref: str, data_dir: Path | None = None, *, exact: bool = False
) -> Connector:
    """A connector by its id or its name, case-insensitively; failing those (unless ``exact``:
    for removing), by the PagerDuty account it reads (its subdomain) or the start of its
    name, when just one connector fits ("acme" finds "Acme PagerDuty (simulated)")."""
    from pdsearch.store import NotFoundError

    wanted = ref.strip()
    for lookup in (store.connectors.get, store.connectors.get_by_name):
        for candidate in dict.fromkeys((wanted, wanted.lower())):
            try:
                return lookup(candidate)
            except NotFoundError:
                pass
    connectors, total = store.connectors.list(limit=10_000)
    if not total:
        raise CliError(no_connectors(data_home(data_dir)))
    folded = wanted.casefold()
    by_account = [c for c in connectors if (c.subdomain or "").casefold() == folded]
    by_start = [c for c in connectors if c.name.casefold().startswith(folded)]
    for found in () if exact or not folded else (by_account, by_start):
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise CliError(
                f"{ref!r} fits more than one connector: "
                + ", ".join(f"{c.name!r} (id {c.id})" for c in found)
                + ". Give its whole name or its id."
            )
    known = ", ".join(f"{c.name!r} (id {c.id})" for c in connectors[:10])
    more = f" and {total - 10} more" if total > 10 else ""
    raise CliError(
        f"No connector named {ref!r}. The connectors are: {known}{more}. Give a name or an id "
        "('pdsearch connector list' shows them)."
    )


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


def print_table(
    columns: Sequence[str], rows: Iterable[Sequence[str]], *, whole: Sequence[str] = ()
) -> Console:
    """A table on stdout, each cell plain text (names may hold rich markup); returns the console
    for lines that follow it. Columns in ``whole`` (ids to copy) are never cut or wrapped: the
    other columns wrap to make room."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    rows = [list(row) for row in rows]
    table = Table()
    for i, name in enumerate(columns):
        if name in whole:
            width = max([len(name), *(len(row[i]) for row in rows)])
            table.add_column(name, no_wrap=True, min_width=width)
        else:
            table.add_column(name)
    for row in rows:
        table.add_row(*map(Text, row))
    console = Console()
    console.print(table)
    return console
