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
    from pdsearch.index.sqlite import SqliteIndex
    from pdsearch.store import Connector, Store


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
    from pdsearch.pagerduty.errors import PagerDutyError
    from pdsearch.store import StoreError
    from pdsearch.sync.connection import ConnectorError
    from pdsearch.sync.service import SyncAlreadyRunning

    try:
        yield
    except (CliError, StoreError, ConnectorError, PagerDutyError, SyncAlreadyRunning) as exc:
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


@contextlib.contextmanager
def open_store(data_dir: Path | None) -> Iterator[Store]:
    from pdsearch.store import Store

    store = Store.open(_settings(data_dir))
    try:
        yield store
    finally:
        store.close()


@contextlib.contextmanager
def open_index(data_dir: Path | None) -> Iterator[SqliteIndex]:
    from pdsearch.index.sqlite import SqliteIndex

    index = SqliteIndex(_settings(data_dir).index_path)
    try:
        yield index
    finally:
        index.close()


def find_connector(store: Store, name: str) -> Connector:
    """A connector by name (case-insensitive) or by id."""
    from pdsearch.store import NotFoundError

    try:
        return store.get_connector_by_name(name)
    except NotFoundError:
        pass
    try:
        return store.get_connector(name)
    except NotFoundError:
        raise CliError(
            f"No connector named {name!r}. 'pdsearch connector list' shows the connectors."
        ) from None


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


def print_table(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> Console:
    """A table on stdout, each cell plain text (names may hold rich markup); returns the console
    for lines that follow it."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(*columns)
    for row in rows:
        table.add_row(*map(Text, row))
    console = Console()
    console.print(table)
    return console
