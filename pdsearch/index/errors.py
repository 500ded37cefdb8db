"""Errors a person can meet from an index backend, importable without loading any backend.

``SearchIndexError`` is the base of the OpenSearch backend's errors (``pdsearch.index.opensearch
.errors``) and of ``IndexSettingsError``; the command line turns them into one line. (The
SQLite backend's errors, ``SqliteIndexError``, predate it and stand apart.)
"""

from __future__ import annotations


class SearchIndexError(RuntimeError):
    """An index backend could not do what was asked; the message says what to do."""


class IndexSettingsError(SearchIndexError, ValueError):
    """The index settings can't be used (an index URL of an unknown kind, a bad prefix)."""
