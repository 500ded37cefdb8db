"""The search index in OpenSearch (see ``index.py``), for installations of several replicas."""

from pdsearch.index.opensearch.connection import READ_RETRY, WRITE_RETRY, RetryPolicy
from pdsearch.index.opensearch.errors import (
    OpenSearchAuthError,
    OpenSearchIndexClosedError,
    OpenSearchIndexError,
    OpenSearchMappingError,
    OpenSearchUnavailableError,
    OpenSearchWriteError,
)
from pdsearch.index.opensearch.index import MAX_LIMIT, OpenSearchIndex
from pdsearch.index.opensearch.mapping import (
    MAPPING_VERSION,
    VECTOR_DIMENSION,
    alias_name,
    index_body,
    index_name,
)

__all__ = [
    "MAPPING_VERSION",
    "MAX_LIMIT",
    "READ_RETRY",
    "VECTOR_DIMENSION",
    "WRITE_RETRY",
    "OpenSearchAuthError",
    "OpenSearchIndex",
    "OpenSearchIndexClosedError",
    "OpenSearchIndexError",
    "OpenSearchMappingError",
    "OpenSearchUnavailableError",
    "OpenSearchWriteError",
    "RetryPolicy",
    "alias_name",
    "index_body",
    "index_name",
]
