"""Errors of the SQLite index."""

from __future__ import annotations


class SqliteIndexError(RuntimeError):
    """Base for errors of the SQLite index (also: a file that is not a pdsearch index)."""


class IndexClosedError(SqliteIndexError):
    """The index was used after ``close()``."""


class IndexSchemaError(SqliteIndexError):
    """The index file has a schema this version of pdsearch can't use."""


class IndexStorageError(SqliteIndexError):
    """SQLite could not read or write the index file (locked past the timeout, disk full, ...)."""
