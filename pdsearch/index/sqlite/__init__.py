"""The default search index: one SQLite file with an FTS5 table (see ``index.py``)."""

from pdsearch.index.sqlite.acl import acl_expression, entity_token
from pdsearch.index.sqlite.errors import (
    IndexClosedError,
    IndexSchemaError,
    IndexStorageError,
    SqliteIndexError,
)
from pdsearch.index.sqlite.index import MAX_LIMIT, SqliteIndex
from pdsearch.index.sqlite.schema import SCHEMA_VERSION, TOKENIZER

__all__ = [
    "MAX_LIMIT",
    "SCHEMA_VERSION",
    "TOKENIZER",
    "IndexClosedError",
    "IndexSchemaError",
    "IndexStorageError",
    "SqliteIndex",
    "SqliteIndexError",
    "acl_expression",
    "entity_token",
]
