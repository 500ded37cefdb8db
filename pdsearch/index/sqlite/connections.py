"""Connections to one index file: one per thread, read and write transactions, errors.

WAL mode; FastAPI runs sync endpoints in a threadpool, so each thread gets its own connection,
and a write lock per index makes this process's writers queue instead of failing (other
processes wait on ``busy_timeout``). Readers are never blocked by a writer; each read
transaction sees one snapshot, so a search's total and its page agree.

Durability: ``synchronous = NORMAL`` in WAL mode. A crashed process loses nothing committed; an
operating-system crash or power cut may lose the last transactions, which the next sync writes
again (the index is derived data).

The driver is APSW, not Python's ``sqlite3``: only APSW can register an FTS5 auxiliary function
(``ranking.py``). It brings its own SQLite; never open the index file with both libraries in one
process at once, as two SQLite libraries don't see each other's POSIX locks.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import apsw

from pdsearch.index import ranking
from pdsearch.index.sqlite.errors import IndexClosedError, IndexStorageError
from pdsearch.index.sqlite.schema import TOKENIZER


@contextmanager
def storage_errors(path: Path) -> Iterator[None]:
    """Raise SQLite's errors as ``IndexStorageError`` (the cause keeps SQLite's own)."""
    try:
        yield
    except apsw.Error as exc:
        raise IndexStorageError(f"the search index {path} failed: {exc}") from exc


class Connections:
    """The connections of one index file, and its transactions."""

    def __init__(
        self, path: Path, busy_timeout_ms: int, on_write: Callable[[], None] | None = None
    ) -> None:
        self.path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._on_write = on_write
        self._local = threading.local()
        self._all: weakref.WeakSet[apsw.Connection] = weakref.WeakSet()
        self._all_lock = threading.Lock()
        self._write_lock = threading.RLock()
        self.closed = False

    def open(self) -> apsw.Connection:
        """A new connection of its own (for a background reader that close() must not pull
        from under it); the caller closes it."""
        conn = apsw.Connection(str(self.path))
        conn.set_busy_timeout(int(self._busy_timeout_ms))
        # WAL makes NORMAL crash-safe; only the last commits before a power cut may be lost,
        # and the next sync rewrites them.
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.register_fts5_function(ranking.FUNCTION_NAME, ranking.rank_function)
        return conn

    def current(self) -> apsw.Connection:
        """This thread's connection."""
        if self.closed:
            raise IndexClosedError(f"the search index {self.path} is closed")
        conn: apsw.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self.open()
            self._local.conn = conn
            # Kept beside the connection, not on it: the tokenizer refers to its connection, and
            # that cycle would keep a finished thread's connection alive.
            self._local.tokenize = ranking.tokenizer(conn, TOKENIZER[0], TOKENIZER[1])
            with self._all_lock:
                self._all.add(conn)
        return conn

    def tokenize(self) -> ranking.Tokenize:
        """The table's tokenizer on this thread's connection."""
        self.current()
        tokenize: ranking.Tokenize = self._local.tokenize
        return tokenize

    @contextmanager
    def write(self) -> Iterator[apsw.Connection]:
        """A write transaction that raises the change generation (nested calls join it)."""
        with self._write_lock:
            conn = self.current()
            if conn.in_transaction:  # nested call from within a write on this thread
                with storage_errors(self.path):
                    yield conn
                return
            with storage_errors(self.path):
                # IMMEDIATE takes the write lock up front, so busy_timeout applies instead of a
                # deferred transaction failing at its first write.
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'generation'")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            if self._on_write is not None:
                self._on_write()

    @contextmanager
    def read(self) -> Iterator[apsw.Connection]:
        """A read transaction: one snapshot of the file."""
        conn = self.current()
        if conn.in_transaction:
            with storage_errors(self.path):
                yield conn
            return
        with storage_errors(self.path):
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    def open_count(self) -> int:
        with self._all_lock:
            return len(self._all)

    def close(self) -> None:
        """Close every connection; later use raises ``IndexClosedError``."""
        self.closed = True
        with self._all_lock:
            conns = list(self._all)
            self._all.clear()
        for conn in conns:
            conn.close()
        self._local = threading.local()
