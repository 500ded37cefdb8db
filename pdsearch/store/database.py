"""The database handle the repositories share: one SQLAlchemy engine, SQLite or PostgreSQL.

``Database(location)`` takes a file path (SQLite, the default: ``<home>/state.db``) or a URL
(``postgresql://user:password@host:port/db``; ``sqlite:///path`` also works). Repositories run
their statements inside ``db.write()`` (a write transaction) or ``db.read()`` (a consistent
read), each yielding a ``Connection``:

- **SQLite**: a small pool of connections to the file, WAL, ``busy_timeout``; a write
  transaction starts with ``BEGIN IMMEDIATE`` (it takes the write lock at once, so it never
  fails half-way on a lock), and writers of this process queue on a lock before that, so
  threads wait on each other in Python rather than in SQLite's busy loop. Another process
  (the CLI beside the service) still waits through ``busy_timeout``.
- **PostgreSQL** (psycopg 3): a pool that checks each connection before use, so a database
  that restarted or failed over costs one retry, not an error.

A write or read opened while the same thread already holds a transaction joins it, so a
repository may call another's methods inside its own transaction.

Errors: every database failure leaves here as a ``StoreError`` whose message names the database
with its password masked; the driver's error is not chained (its text may quote parameters).
Repositories catch ``IntegrityError`` inside the transaction to turn it into ``ConflictError``
or ``NotFoundError``.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final, Literal

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from pdsearch.store.errors import InvalidValueError, StoreError

BUSY_TIMEOUT_MS: Final = 10_000
POSTGRES_SCHEMES: Final = ("postgresql", "postgres", "postgresql+psycopg")
Dialect = Literal["sqlite", "postgresql"]


class db_epoch(FunctionElement[float]):
    """The database's clock as Unix seconds (a float): one clock for every replica, so leases
    and tickets expire alike whichever process checks them."""

    type = sa.Float()
    inherit_cache = True


@compiles(db_epoch, "sqlite")
def _epoch_sqlite(element: db_epoch, compiler: SQLCompiler, **kw: Any) -> str:
    # julianday('now') has millisecond resolution on every SQLite (unixepoch('subsec') needs
    # 3.42; Python's sqlite3 here is older).
    return "((julianday('now') - 2440587.5) * 86400.0)"


@compiles(db_epoch, "postgresql")
def _epoch_postgresql(element: db_epoch, compiler: SQLCompiler, **kw: Any) -> str:
    return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)"


def _parse_location(location: str | Path) -> tuple[URL, Path | None]:
    """The engine URL for a file path or a database URL, and the SQLite file if it is one.
    Never echoes the text: a URL may carry a password."""
    if isinstance(location, Path) or "://" not in str(location):
        path = Path(location).expanduser()
        return URL.create("sqlite", database=str(path)), path
    text = str(location).strip()
    scheme = text.split("://", 1)[0].lower()
    try:
        url = sa.make_url(text)
    except exc.ArgumentError:
        raise StoreError(
            f"The database URL ({scheme}://...) cannot be read. Write it as "
            "postgresql://user:password@host:port/database, with special characters in the "
            "password percent-encoded."
        ) from None
    if scheme in POSTGRES_SCHEMES:
        if not url.database:
            raise StoreError(
                "The database URL names no database; end it with /<database name>, e.g. "
                "postgresql://pdsearch:...@db.example.com:5432/pdsearch."
            )
        return url.set(drivername="postgresql+psycopg"), None
    if scheme == "sqlite" and url.database:
        path = Path(url.database).expanduser()
        return URL.create("sqlite", database=str(path)), path
    raise StoreError(
        f"Unsupported database URL scheme {scheme!r}: use postgresql://user:password@host:"
        "port/database, or leave PDSEARCH_DATABASE_URL unset for the SQLite file in the data "
        "directory."
    )


def mask(url: URL) -> str:
    """The URL as it may be shown: password replaced by ``***``."""
    if url.get_backend_name() == "sqlite":
        return str(url.database)
    return url.set(drivername="postgresql").render_as_string(hide_password=True)


class Database:
    """One engine, its transactions and its error translation. Thread-safe."""

    def __init__(self, location: str | Path, *, pool_size: int = 5) -> None:
        self.url, self.path = _parse_location(location)
        self.dialect: Dialect = "sqlite" if self.path is not None else "postgresql"
        self.display = mask(self.url)
        self._local = threading.local()
        self._closed = False
        self._sql: dict[sa.Select[Any], tuple[str, list[str] | None]] = {}
        # True until the store has opened (and migrated) it: failures then say how to fix the
        # location rather than a statement.
        self.opening = True
        # SQLite has one writer at a time anyway; queueing this process's writers here keeps
        # them out of SQLite's busy loop (which sleeps in growing steps).
        self._write_lock = threading.RLock() if self.dialect == "sqlite" else None
        if self.path is not None:
            self.engine = self._sqlite_engine(pool_size)
        else:
            self.engine = sa.create_engine(
                self.url,
                pool_size=pool_size,
                max_overflow=10,
                pool_pre_ping=True,
                pool_timeout=30,
                connect_args={"connect_timeout": 10, "application_name": "pdsearch"},
            )

    def _sqlite_engine(self, pool_size: int) -> Engine:
        engine = sa.create_engine(
            self.url,
            pool_size=pool_size,
            max_overflow=10,
            connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # The driver's own transaction handling is off: we say BEGIN ourselves (below).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                _use_wal(cursor)
                cursor.execute("PRAGMA synchronous = NORMAL")
                cursor.execute("PRAGMA foreign_keys = ON")
            finally:
                cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            write = conn.get_execution_options().get("pdsearch_write", False)
            # Straight to the driver: SQLAlchemy only needs the connection in a transaction,
            # and its own execution path would cost more than the BEGIN itself.
            driver = conn.connection.driver_connection
            if driver is None:  # pragma: no cover - a pooled connection always has one
                raise StoreError("The state database connection is closed.")
            driver.execute("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine

    def __repr__(self) -> str:
        return f"Database({self.display!r})"

    # --- transactions ----------------------------------------------------------------------

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: committed when the block ends, rolled back on any exception."""
        current: Connection | None = getattr(self._local, "conn", None)
        if current is not None:
            if not getattr(self._local, "writing", False):
                raise RuntimeError("a write cannot join a read transaction")  # our own bug
            yield current
            return
        with self._errors(), self._lock():
            self._check_open()
            with self.engine.connect() as conn:
                conn.execution_options(pdsearch_write=True)
                with conn.begin():
                    self._local.conn, self._local.writing = conn, True
                    try:
                        yield conn
                    finally:
                        self._local.conn, self._local.writing = None, False

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reading. On SQLite a read transaction (one snapshot for every
        statement in it); on PostgreSQL autocommit, which saves the BEGIN and ROLLBACK round
        trips and loses nothing: under READ COMMITTED each statement sees its own snapshot
        inside a transaction too."""
        current: Connection | None = getattr(self._local, "conn", None)
        if current is not None:
            yield current
            return
        with self._errors():
            self._check_open()
            with self.engine.connect() as conn:
                if self.dialect == "postgresql":
                    conn.execution_options(isolation_level="AUTOCOMMIT")
                with conn.begin():
                    self._local.conn = conn
                    try:
                        yield conn
                    finally:
                        self._local.conn = None

    def fetch_all(self, statement: sa.Select[Any], params: dict[str, str]) -> list[tuple[Any, ...]]:
        """Rows of a read on the search path, where SQLAlchemy's own execution would cost
        several times the query: the statement is compiled once per database and goes straight
        to the driver on a pooled connection (one statement: autocommit on both engines).
        Parameters must be text, which both drivers take as they are."""
        current: Connection | None = getattr(self._local, "conn", None)
        if current is not None:  # inside a transaction of this thread: see what it sees
            return [tuple(r) for r in current.execute(statement, params)]
        sql, order = self._compiled(statement)
        args: Any = [params[name] for name in order] if order is not None else params
        with self._errors():
            self._check_open()
            pooled = self.engine.raw_connection()
            try:
                driver: Any = pooled.driver_connection
                if self.dialect == "postgresql":
                    driver.autocommit = True
                try:
                    cursor = pooled.cursor()
                    try:
                        cursor.execute(sql, args)
                        return [tuple(r) for r in cursor.fetchall()]
                    finally:
                        cursor.close()
                except self.engine.dialect.loaded_dbapi.Error as error:
                    raise StoreError(self.describe_driver_error(error)) from None
                finally:
                    if self.dialect == "postgresql" and not driver.closed:
                        driver.autocommit = False
            finally:
                pooled.close()

    def _compiled(self, statement: sa.Select[Any]) -> tuple[str, list[str] | None]:
        found = self._sql.get(statement)
        if found is None:
            compiled = statement.compile(dialect=self.engine.dialect)
            order = list(compiled.positiontup) if compiled.positiontup is not None else None
            found = self._sql[statement] = (str(compiled), order)
        return found

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        if self._write_lock is None:
            yield
            return
        with self._write_lock:
            yield

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("The store is closed.")

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """Database failures as StoreError, with no password and no SQL parameters."""
        try:
            yield
        except exc.DBAPIError as error:
            raise StoreError(self.describe(error)) from None
        except exc.StatementError as error:
            if isinstance(error.orig, ValueError):  # a value a column type refused
                raise InvalidValueError(str(error.orig)) from None
            raise StoreError(
                f"The state database {self.display} failed: {type(error.orig).__name__}."
            ) from None
        except exc.TimeoutError:
            raise StoreError(
                f"The state database {self.display} had no free connection within 30 s; the "
                "service is overloaded or the database stopped answering."
            ) from None
        except exc.SQLAlchemyError as error:
            raise StoreError(
                f"The state database {self.display} failed: {type(error).__name__}."
            ) from None

    def describe(self, error: exc.DBAPIError) -> str:
        """A message fit for a person: what failed and what to do; never the password."""
        unreachable = isinstance(error, exc.OperationalError | exc.InterfaceError)
        return self._describe(error.orig, unreachable)

    def describe_driver_error(self, error: BaseException) -> str:
        """``describe`` for an error straight from the driver (``fetch_all``)."""
        dbapi = self.engine.dialect.loaded_dbapi
        unreachable = isinstance(error, dbapi.OperationalError | dbapi.InterfaceError)
        return self._describe(error, unreachable)

    def _describe(self, orig: BaseException | None, unreachable: bool) -> str:
        reason = _first_line(orig)
        if self.opening and self.dialect == "sqlite":
            if "unable to open" in reason:
                return (
                    f"Cannot open the state database {self.display} ({reason}). Check that the "
                    "data directory exists and is writable."
                )
            return (
                f"The state database {self.display} cannot be used ({reason}). If it is "
                "damaged, restore it from a backup, or move it away to start afresh."
            )
        if self.dialect == "sqlite":
            return (
                f"The state database {self.display} could not be read or written ({reason}). "
                "Check the data directory's free space and permissions."
            )
        if unreachable:
            return (
                f"The state database {self.display} cannot be reached or used ({reason}). "
                "Check PDSEARCH_DATABASE_URL and that PostgreSQL is running."
            )
        return f"The state database {self.display} refused a statement ({reason})."

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.engine.dispose()

    @property
    def closed(self) -> bool:
        return self._closed


def _first_line(error: BaseException | None) -> str:
    text = str(error or "unknown error").strip()
    return text.splitlines()[0] if text else type(error).__name__


def upsert(db: Database, table: sa.Table) -> postgresql.Insert:
    """An INSERT with ``on_conflict_do_update`` / ``on_conflict_do_nothing`` in the database's
    dialect (both dialects' inserts have the same methods; typed as PostgreSQL's)."""
    if db.dialect == "sqlite":
        return sqlite.insert(table)  # type: ignore[return-value]
    return postgresql.insert(table)


def violated(error: exc.IntegrityError) -> Literal["unique", "foreign_key", "other"]:
    """Which kind of constraint an ``IntegrityError`` broke, on either engine."""
    orig = error.orig
    sqlstate = getattr(orig, "sqlstate", None)  # psycopg
    if sqlstate == "23505":
        return "unique"
    if sqlstate == "23503":
        return "foreign_key"
    name = getattr(orig, "sqlite_errorname", "")  # Python 3.11+
    if name in ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"):
        return "unique"
    if name == "SQLITE_CONSTRAINT_FOREIGNKEY":
        return "foreign_key"
    return "other"


def _use_wal(cursor: Any) -> None:
    """Switch the file to WAL. SQLite answers "database is locked" at once, without waiting
    through ``busy_timeout``, when another connection switches a new file at the same moment
    (three processes opening a new database together lose about one time in twenty), so the
    switch is retried for as long as a busy write would be waited for."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
