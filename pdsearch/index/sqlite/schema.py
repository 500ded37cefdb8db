"""The index file's layout and its migrations (schema version in ``PRAGMA user_version``).

- ``docs``: the documents as given, keyed by ``(source, id)``; ``rid`` is the FTS rowid.
- ``docs_fts``: FTS5 over ``title``, ``content``, ``kind`` (the type in words, so "payments
  schedule" prefers the schedule to the policy that merely names it) and ``acl`` (the access
  tokens, see ``acl.py``). BM25 weighs them 10, 1, 3 and 0: the access filter never ranks.
- ``meta``: the change ``generation``, raised by every write, so a vocabulary snapshot knows
  when it is stale (``vocabulary.py``).
- ``vectors``: meaning vectors by document ``rid`` with their model and content hash
  (``vectors.py``).

Versions: 1 title, content, acl. 2 adds kind. 3 a prefix index for 3 characters only. 4 adds
meta. 5 keys documents by (source, id) and scopes access tokens to their source. 6 adds vectors
(an empty table: the next sync computes them). Every upgrade
of the FTS table rebuilds it from ``docs`` (it is derived).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import apsw

from pdsearch.index.sqlite.acl import document_tokens
from pdsearch.index.sqlite.errors import IndexSchemaError, SqliteIndexError
from pdsearch.index.sqlite.text import fts_row

SCHEMA_VERSION = 6
#: The FTS5 tokenizer and its arguments (the schema's, and ranking's term look-ups).
TOKENIZER = ("unicode61", ("remove_diacritics", "2"))

_DOCS = """
CREATE TABLE docs (
    rid INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    id TEXT NOT NULL,
    type TEXT NOT NULL,
    title TEXT NOT NULL,
    content TEXT NOT NULL,
    url TEXT NOT NULL,
    sys_racl TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    UNIQUE (source, id)
);
CREATE INDEX docs_source_title ON docs (source, title, id);
CREATE INDEX docs_title ON docs (title, id);
CREATE INDEX docs_type ON docs (type);
CREATE INDEX docs_id ON docs (id);
"""

_META = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('generation', 0);
"""

# One prefix index, for 3 characters: FTS5 uses a prefix index only for a prefix of exactly its
# length, so 'rot*' reads one list instead of merging every term starting with "rot" (2.5x
# faster at 100,000 documents); 4 characters and more never used one. The 2-character index
# cost as much to write as the 3-character one and served only 'pa*'-like queries, which now
# merge their terms: a trade for indexing throughput (docs/BENCHMARKS.md).
# The tokenize option spells out TOKENIZER (a test checks they agree); the rank weights are
# ranking.WEIGHTS.
FTS = """
CREATE VIRTUAL TABLE docs_fts USING fts5(
    title, content, kind, acl,
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '3'
);
INSERT INTO docs_fts (docs_fts, rank) VALUES ('rank', 'bm25(10.0, 1.0, 3.0, 0.0)');
"""

VECTORS = """
CREATE TABLE IF NOT EXISTS vectors (
    rid INTEGER PRIMARY KEY,
    model TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    vector BLOB NOT NULL
)
"""

INSERT_FTS = "INSERT INTO docs_fts (rowid, title, content, kind, acl) VALUES (?, ?, ?, ?, ?)"
DOC_COLUMNS = "id, type, title, content, url, sys_racl, source, content_hash"


def migrate(conn: apsw.Connection, path: Path) -> None:
    """Create or upgrade the schema (call inside a write transaction)."""
    version = int(scalar(conn, "PRAGMA user_version"))
    if version > SCHEMA_VERSION:
        raise IndexSchemaError(
            f"the search index {path} has schema version {version}, newer than this pdsearch "
            f"understands ({SCHEMA_VERSION}). Upgrade pdsearch, or delete the file and sync "
            "again to rebuild it."
        )
    if version == 0:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master")]
        if tables:
            raise SqliteIndexError(
                f"{path} already holds other tables ({', '.join(tables[:5])}) and is not a "
                "pdsearch search index; give the index a file of its own."
            )
        run_script(conn, _DOCS)
        run_script(conn, FTS)
    elif version < 5:
        _rekey_docs(conn)
        _rebuild_fts(conn)
    run_script(conn, _META)
    conn.execute(VECTORS)
    if version != SCHEMA_VERSION:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _rekey_docs(conn: apsw.Connection) -> None:
    """Before version 5 a document was keyed by its id alone: key it by (source, id), keeping
    every row and its rid."""
    indexes = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'docs' "
        "AND sql IS NOT NULL"
    )]
    for name in indexes:  # their names are wanted for the new table's
        conn.execute(f'DROP INDEX "{name}"')
    conn.execute("ALTER TABLE docs RENAME TO docs_before_5")
    run_script(conn, _DOCS)
    conn.execute(
        "INSERT INTO docs (rid, source, id, type, title, content, url, sys_racl, content_hash) "
        "SELECT rid, source, id, type, title, content, url, sys_racl, content_hash "
        "FROM docs_before_5"
    )
    conn.execute("DROP TABLE docs_before_5")


def _rebuild_fts(conn: apsw.Connection) -> None:
    conn.execute("DROP TABLE IF EXISTS docs_fts")
    run_script(conn, FTS)
    # Row by row (a cursor, not fetchall), so a large index is not held in memory.
    rows = conn.execute("SELECT rid, source, type, title, content, sys_racl FROM docs")
    for rid, source, type_, title, content, racl in rows:
        tokens = document_tokens(source, json.loads(racl))
        conn.execute(INSERT_FTS, fts_row(rid, type_, title, content, tokens))


def scalar(conn: apsw.Connection, sql: str, bindings: Sequence[object] = ()) -> Any:
    """The first column of the statement's first row (it must have one)."""
    row = conn.execute(sql, bindings).fetchone()
    if row is None:
        raise SqliteIndexError(f"no row from {sql!r}")
    return row[0]


def run_script(conn: apsw.Connection, script: str) -> None:
    # executescript() would COMMIT the open transaction; run statement by statement instead.
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)
