"""``open_index(settings)``: the search index the settings name.

- no ``index_url`` (the default): ``SqliteIndex`` in the data directory's ``index.db``;
- ``http://`` or ``https://``: ``OpenSearchIndex`` on that node or cluster, with
  ``index_username``, ``index_password``, ``index_ca_certs``, ``index_verify_certs`` and
  ``index_prefix``.

``settings`` is anything with those attributes (``pdsearch.config.Settings`` has them): the
index reads no configuration itself. serve, demo and the command line all open the index here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from pdsearch.index.base import SearchIndex
from pdsearch.index.errors import IndexSettingsError
from pdsearch.index.sqlite import SqliteIndex


class Secret(Protocol):
    def get_secret_value(self) -> str: ...


class IndexSettings(Protocol):
    """What ``open_index`` reads from the settings."""

    @property
    def index_url(self) -> str | None: ...
    @property
    def index_username(self) -> str | None: ...
    @property
    def index_password(self) -> Secret | None: ...
    @property
    def index_ca_certs(self) -> Path | None: ...
    @property
    def index_verify_certs(self) -> bool: ...
    @property
    def index_prefix(self) -> str: ...
    @property
    def index_path(self) -> Path: ...


def backend_of(url: str | None) -> str:
    """``"sqlite"`` or ``"opensearch"``: the backend an index URL names."""
    if not url or not url.strip():
        return "sqlite"
    scheme = url.strip().split(":", 1)[0].lower()
    if scheme in ("http", "https"):
        return "opensearch"
    raise IndexSettingsError(
        "index_url (PDSEARCH_INDEX_URL) must be empty, for the SQLite index in the data "
        "directory, or an OpenSearch URL such as https://search.example.com:9200"
    )


def open_index(settings: IndexSettings) -> SearchIndex:
    """The index ``settings`` name, opened (an OpenSearch index is created or upgraded)."""
    if backend_of(settings.index_url) == "sqlite":
        return SqliteIndex(settings.index_path)
    # Imported here: opensearch-py takes a third of a second to load, which every command on
    # the default SQLite index would otherwise pay.
    from pdsearch.index.opensearch import OpenSearchIndex

    password = settings.index_password
    return OpenSearchIndex(
        str(settings.index_url),
        prefix=settings.index_prefix,
        username=settings.index_username,
        password=password.get_secret_value() if password is not None else None,
        verify_certs=settings.index_verify_certs,
        ca_certs=str(settings.index_ca_certs) if settings.index_ca_certs else None,
    )

