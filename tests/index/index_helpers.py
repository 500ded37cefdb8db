"""Helpers the index tests share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import apsw

from pdsearch.index.base import Grant


@contextmanager
def raw_index(path: Path | str) -> Iterator[apsw.Connection]:
    """The index file opened with APSW, the SQLite library the index itself uses (Python's
    ``sqlite3`` brings another one, which may differ in version and FTS5, and whose locks the
    index's library does not see); closed on leaving. Statements run in autocommit."""
    conn = apsw.Connection(str(path))
    try:
        yield conn
    finally:
        conn.close()


def acl(*entities: str, source: str = "c1") -> set[Grant]:
    """The grants of a user holding ``entities`` in one source (``c1``, the tests' default)."""
    return {Grant(source, e) for e in entities}


def scalar(conn: apsw.Connection, sql: str) -> Any:
    """The first column of the one row ``sql`` returns (the statement must return a row)."""
    row = conn.execute(sql).fetchone()
    assert row is not None, f"no row from {sql}"
    return row[0]
