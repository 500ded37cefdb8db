"""Errors of the OpenSearch index. Every message names the node by its URL without credentials
and says what to do; a password never appears in one.

    SearchIndexError (pdsearch.index.errors)
    └── OpenSearchIndexError        anything the index could not do
        ├── OpenSearchUnavailableError  no answer (refused, timed out, TLS failed), or 5xx
        ├── OpenSearchAuthError         401 or 403: the credentials or their permissions
        ├── OpenSearchMappingError      the alias or its index can't be used by this pdsearch
        ├── OpenSearchWriteError        writes still refused after the bounded retries
        └── OpenSearchIndexClosedError  used after ``close()``
"""

from __future__ import annotations

from pdsearch.index.errors import SearchIndexError


class OpenSearchIndexError(SearchIndexError):
    """Base of the OpenSearch index's errors; the original error (if any) is ``__cause__``."""


class OpenSearchUnavailableError(OpenSearchIndexError):
    """The node did not answer, or answered that it could not serve the request now."""


class OpenSearchAuthError(OpenSearchIndexError):
    """The node refused the credentials (401) or what they may do (403)."""


class OpenSearchMappingError(OpenSearchIndexError):
    """The alias or the index behind it is not one this pdsearch can use (newer mapping, not
    made by pdsearch, ...)."""


class OpenSearchWriteError(OpenSearchIndexError):
    """Some writes were still refused after the retries; ``failed`` of ``attempted`` actions
    were not applied."""

    def __init__(self, message: str, *, failed: int, attempted: int) -> None:
        super().__init__(message)
        self.failed = failed
        self.attempted = attempted


class OpenSearchIndexClosedError(OpenSearchIndexError):
    """The index was used after ``close()``."""
