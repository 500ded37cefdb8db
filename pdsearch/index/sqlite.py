"""The default search index: one SQLite file with an FTS5 table.

Layout (schema version ``SCHEMA_VERSION``, kept in ``PRAGMA user_version``):

- ``docs``: the documents as given (returned unchanged by ``get`` and ``list``).
- ``docs_fts``: an FTS5 table with ``title``, ``content`` and ``acl``. ``acl`` holds one opaque
  token per ``sys_racl`` entity. BM25 weighs the title 10, the content 1 and ``acl`` 0, so the
  access filter never changes the ranking.

Access filtering happens inside the MATCH: the user's query, limited to ``{title content}``, is
ANDed with ``acl : ("tok1" OR "tok2" ...)``. On 50,000 documents this was the fastest of the forms
measured (``benchmarks/search_index.py``): FTS5 intersects the doclists itself, so ``total`` and
every page count visible documents only and no row the user can't see is ever read.

Concurrency: WAL mode, one connection per thread (FastAPI runs sync endpoints in a threadpool),
and a process-wide lock so that writers queue instead of failing. Readers are never blocked by a
writer; each search reads one snapshot, so its total and its page agree.
"""

from __future__ import annotations

import builtins
import hashlib
import html
import json
import logging
import sqlite3
import threading
import weakref
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from pdsearch.index.base import Document, SearchHit, SearchResults
from pdsearch.index.query import parse_query

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
TITLE_WEIGHT = 10.0
CONTENT_WEIGHT = 1.0
SNIPPET_TOKENS = 32
MAX_LIMIT = 1000

# Snippet markers: private-use characters that are removed from the indexed copy of the text,
# so after HTML-escaping the snippet they can only be the hits FTS5 marked.
_OPEN = "\ue000"
_CLOSE = "\ue001"
_SANITIZE = str.maketrans({_OPEN: "\ufffd", _CLOSE: "\ufffd"})

# The weights in 'rank' are TITLE_WEIGHT, CONTENT_WEIGHT and 0 for acl.
_SCHEMA = """
CREATE TABLE docs (
    rid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    type TEXT NOT NULL,
    title TEXT NOT NULL,
    content TEXT NOT NULL,
    url TEXT NOT NULL,
    sys_racl TEXT NOT NULL,
    content_hash TEXT NOT NULL
);
CREATE INDEX docs_source_title ON docs (source, title, id);
CREATE INDEX docs_title ON docs (title, id);
CREATE VIRTUAL TABLE docs_fts USING fts5(
    title, content, acl,
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '2 3'
);
INSERT INTO docs_fts (docs_fts, rank)
    VALUES ('rank', 'bm25(10.0, 1.0, 0.0)');
"""

# char(57344) and char(57345) are _OPEN and _CLOSE; 32 is SNIPPET_TOKENS.
_SEARCH_SQL = """
SELECT d.id, d.type, d.title, d.url,
       snippet(docs_fts, 1, char(57344), char(57345), '…', 32),
       docs_fts.rank
FROM docs_fts CROSS JOIN docs AS d ON d.rid = docs_fts.rowid
WHERE docs_fts MATCH ?
ORDER BY docs_fts.rank
LIMIT ? OFFSET ?
"""

_COUNT_SQL = "SELECT count(*) FROM docs_fts WHERE docs_fts MATCH ?"

# Browsing (blank query): visible documents by title. Page first, then read the page's content.
_BROWSE_SQL = """
SELECT d.id, d.type, d.title, d.url, d.content
FROM (
    SELECT v.rid FROM docs AS v
    WHERE v.rid IN (SELECT rowid FROM docs_fts WHERE docs_fts MATCH ?)
    ORDER BY v.title, v.id LIMIT ? OFFSET ?
) AS page CROSS JOIN docs AS d ON d.rid = page.rid
ORDER BY d.title, d.id
"""

_DOC_COLUMNS = "id, type, title, content, url, sys_racl, source, content_hash"


class SqliteIndexError(RuntimeError):
    """Base for errors of the SQLite index."""


class IndexClosedError(SqliteIndexError):
    """The index was used after ``close()``."""


class IndexSchemaError(SqliteIndexError):
    """The index file has a schema this version of pdsearch can't use."""


def entity_token(entity: str) -> str:
    """The opaque FTS token for one permission entity.

    Every entity is hashed, not just those with punctuation: unicode61 also folds case, so even
    ``ABC`` and ``abc`` would otherwise share a token. Hex keeps it one token; the leading letter
    keeps it apart from any number-like word.
    """
    digest = hashlib.sha256(entity.encode("utf-8", "surrogatepass")).hexdigest()
    return "e" + digest[:40]


def acl_expression(entities: Collection[str]) -> str:
    """The MATCH clause admitting documents that share one of ``entities`` (non-empty)."""
    tokens = sorted({entity_token(e) for e in entities})
    return "acl : (" + " OR ".join(f'"{t}"' for t in tokens) + ")"


def render_snippet(text: str) -> str:
    """HTML-escape a snippet whose hits are wrapped in the private markers, then mark them."""
    escaped = html.escape(text, quote=True)
    return escaped.replace(_OPEN, "<mark>").replace(_CLOSE, "</mark>")


def _leading_words(content: str, words: int = SNIPPET_TOKENS) -> str:
    parts = content.split()
    text = " ".join(parts[:words])
    return html.escape(text + (" …" if len(parts) > words else ""), quote=True)


class _Connection(sqlite3.Connection):
    """A connection that can be held weakly, so a finished thread's connection is freed."""


class SqliteIndex:
    """A ``SearchIndex`` in one SQLite file (see the module docstring).

    ``path`` must be a file path; it is created with its parent directories. Safe to share
    between threads. ``search`` with a blank query lists the visible documents by title.
    """

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 30_000) -> None:
        self.path = Path(path)
        if str(path) == ":memory:":
            raise ValueError("SqliteIndex needs a file path; each thread opens its own connection")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._conns: weakref.WeakSet[_Connection] = weakref.WeakSet()
        self._conns_lock = threading.Lock()
        self._write_lock = threading.RLock()
        self._closed = False
        try:
            self._conn().execute("PRAGMA journal_mode = WAL")
            self._migrate()
        except sqlite3.OperationalError:
            self.close()
            raise
        except sqlite3.DatabaseError as exc:
            self.close()
            raise SqliteIndexError(
                f"{self.path} is not a usable pdsearch search index ({exc}). Move it away or "
                "delete it; the next sync rebuilds the index."
            ) from exc
        except BaseException:
            self.close()
            raise

    # -- connections and transactions -------------------------------------------------------

    def _conn(self) -> _Connection:
        if self._closed:
            raise IndexClosedError(f"the search index {self.path} is closed")
        conn: _Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, factory=_Connection
            )
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            # WAL makes NORMAL crash-safe; only the last commits before a power cut may be lost,
            # and the next sync rewrites them.
            conn.execute("PRAGMA synchronous = NORMAL")
            self._local.conn = conn
            with self._conns_lock:
                self._conns.add(conn)
        return conn

    @contextmanager
    def _write(self) -> Iterator[_Connection]:
        with self._write_lock:
            conn = self._conn()
            if conn.in_transaction:  # nested call from within a write on this thread
                yield conn
                return
            # IMMEDIATE takes the write lock up front, so busy_timeout applies instead of a
            # deferred transaction failing at its first write.
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[_Connection]:
        conn = self._conn()
        if conn.in_transaction:
            yield conn
            return
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def _migrate(self) -> None:
        with self._write() as c:
            version = c.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise IndexSchemaError(
                    f"the search index {self.path} has schema version {version}, newer than this "
                    f"pdsearch understands ({SCHEMA_VERSION}). Upgrade pdsearch, or delete the "
                    "file and sync again to rebuild it."
                )
            if version == 0:
                tables = [r[0] for r in c.execute("SELECT name FROM sqlite_master")]
                if tables:
                    raise SqliteIndexError(
                        f"{self.path} already holds other tables ({', '.join(tables[:5])}) and "
                        "is not a pdsearch search index; give the index a file of its own."
                    )
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        c.execute(statement)
                c.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        """Close every connection; later calls raise ``IndexClosedError``."""
        self._closed = True
        with self._conns_lock:
            conns = list(self._conns)
            self._conns.clear()
        for conn in conns:
            conn.close()
        self._local = threading.local()

    def __enter__(self) -> SqliteIndex:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def journal_mode(self) -> str:
        with self._read() as conn:
            return str(conn.execute("PRAGMA journal_mode").fetchone()[0])

    # -- writes -----------------------------------------------------------------------------

    def upsert(self, docs: Iterable[Document]) -> None:
        """Insert or replace documents, all in one transaction (all or none are written)."""
        batch = list(docs)  # built before taking the write lock, so slow producers don't hold it
        if not batch:
            return
        with self._write() as conn:
            for doc in batch:
                racl = json.dumps(list(doc.sys_racl), ensure_ascii=False)
                row = conn.execute("SELECT rid FROM docs WHERE id = ?", (doc.id,)).fetchone()
                values = (
                    doc.source, doc.type, doc.title, doc.content, doc.url, racl, doc.content_hash,
                )
                if row is None:
                    cur = conn.execute(
                        "INSERT INTO docs (source, type, title, content, url, sys_racl, "
                        "content_hash, id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (*values, doc.id),
                    )
                    rid = cur.lastrowid
                else:
                    rid = row[0]
                    conn.execute("DELETE FROM docs_fts WHERE rowid = ?", (rid,))
                    conn.execute(
                        "UPDATE docs SET source = ?, type = ?, title = ?, content = ?, url = ?, "
                        "sys_racl = ?, content_hash = ? WHERE rid = ?",
                        (*values, rid),
                    )
                conn.execute(
                    "INSERT INTO docs_fts (rowid, title, content, acl) VALUES (?, ?, ?, ?)",
                    (
                        rid,
                        doc.title.translate(_SANITIZE),
                        doc.content.translate(_SANITIZE),
                        " ".join(entity_token(e) for e in doc.sys_racl),
                    ),
                )

    def delete(self, ids: Iterable[str]) -> None:
        """Delete documents by id, in one transaction; unknown ids are ignored."""
        wanted = list(ids)
        if not wanted:
            return
        with self._write() as conn:
            for doc_id in wanted:
                row = conn.execute("SELECT rid FROM docs WHERE id = ?", (doc_id,)).fetchone()
                if row is not None:
                    conn.execute("DELETE FROM docs_fts WHERE rowid = ?", (row[0],))
                    conn.execute("DELETE FROM docs WHERE rid = ?", (row[0],))

    def delete_source(self, source: str) -> int:
        """Remove every document of one source; returns how many."""
        with self._write() as conn:
            rids = [r[0] for r in conn.execute("SELECT rid FROM docs WHERE source = ?", (source,))]
            for rid in rids:
                conn.execute("DELETE FROM docs_fts WHERE rowid = ?", (rid,))
            conn.execute("DELETE FROM docs WHERE source = ?", (source,))
            return len(rids)

    # -- reads ------------------------------------------------------------------------------

    def hashes(self, source: str) -> dict[str, str]:
        """Document id → content hash for every document of one source."""
        with self._read() as conn:
            rows = conn.execute("SELECT id, content_hash FROM docs WHERE source = ?", (source,))
            return {r[0]: r[1] for r in rows}

    def get(self, doc_id: str) -> Document | None:
        with self._read() as conn:
            sql = f"SELECT {_DOC_COLUMNS} FROM docs WHERE id = ?"  # noqa: S608
            row = conn.execute(sql, (doc_id,)).fetchone()
        return None if row is None else _document(row)

    def list(self, source: str | None, skip: int, limit: int) -> tuple[Sequence[Document], int]:
        """A page of documents ordered by title then id (of one source, or all) and the total."""
        skip, limit = max(0, skip), max(0, limit)
        where, args = ("WHERE source = ?", (source,)) if source is not None else ("", ())
        with self._read() as conn:
            total = conn.execute(f"SELECT count(*) FROM docs {where}", args).fetchone()[0]  # noqa: S608
            rows = conn.execute(
                f"SELECT {_DOC_COLUMNS} FROM docs {where} ORDER BY title, id LIMIT ? OFFSET ?",  # noqa: S608
                (*args, limit, skip),
            ).fetchall()
        return [_document(r) for r in rows], int(total)

    def count(self, source: str | None = None) -> int:
        with self._read() as conn:
            if source is None:
                row = conn.execute("SELECT count(*) FROM docs").fetchone()
            else:
                sql = "SELECT count(*) FROM docs WHERE source = ?"
                row = conn.execute(sql, (source,)).fetchone()
        return int(row[0])

    def search(
        self, query: str, entities: Collection[str], limit: int = 10, offset: int = 0
    ) -> SearchResults:
        """Documents visible to ``entities`` that match ``query``, best first.

        Documents holding every term are preferred; when there are none, documents holding any
        term are ranked instead. A blank query lists every visible document by title (score 0).
        A query with no searchable characters matches nothing. An empty entity set sees nothing.
        Snippets are HTML-safe, with hits in ``<mark>``.
        """
        if isinstance(entities, str):
            raise TypeError("entities must be a collection of entity ids, not one string")
        allowed = {e for e in entities if e}
        parsed = parse_query(query)
        if not allowed or (not parsed.blank and not parsed.terms):
            return SearchResults(total=0, hits=[])
        limit = max(0, min(limit, MAX_LIMIT))
        offset = max(0, offset)
        acl = acl_expression(allowed)
        user = parsed.fts()
        match = acl if user is None else _restricted(user, acl)
        try:
            with self._read() as conn:
                total = int(conn.execute(_COUNT_SQL, (match,)).fetchone()[0])
                if total == 0 and len(parsed.terms) > 1:
                    # Nothing has every word: rank what has some of them, as a person typing a
                    # question expects, rather than answer "no results".
                    match = _restricted(parsed.fts(any_term=True) or "", acl)
                    total = int(conn.execute(_COUNT_SQL, (match,)).fetchone()[0])
                if total == 0 or limit == 0 or offset >= total:
                    return SearchResults(total=total, hits=[])
                if user is None:
                    hits = [
                        SearchHit(id=r[0], type=r[1], title=r[2], url=r[3],
                                  snippet=_leading_words(r[4]), score=0.0)
                        for r in conn.execute(_BROWSE_SQL, (match, limit, offset))
                    ]
                else:
                    hits = [
                        SearchHit(id=r[0], type=r[1], title=r[2], url=r[3],
                                  snippet=render_snippet(r[4] or ""), score=-float(r[5]))
                        for r in conn.execute(_SEARCH_SQL, (match, limit, offset))
                    ]
        except sqlite3.OperationalError as exc:
            # Every term is quoted, so this should be unreachable; if FTS5 still rejects the
            # expression, the user gets no results rather than an error page or wider access.
            if "fts5" not in str(exc):
                raise
            log.warning("search expression rejected by FTS5: %s", exc)
            return SearchResults(total=0, hits=[])
        return SearchResults(total=total, hits=hits)

    def explain(self, query: str, entities: Collection[str]) -> builtins.list[str]:
        """The EXPLAIN QUERY PLAN lines of the search statement (tests pin the fast plan)."""
        parsed = parse_query(query)
        user = parsed.fts() or '"x"'
        match = _restricted(user, acl_expression(set(entities) or {""}))
        with self._read() as conn:
            rows = conn.execute("EXPLAIN QUERY PLAN " + _SEARCH_SQL, (match, 10, 0)).fetchall()
        return [str(r[3]) for r in rows]


def _restricted(user: str, acl: str) -> str:
    """The user's expression, kept to the text columns, ANDed with the access filter."""
    return "{title content} : (" + user + ") AND " + acl


def _document(row: Sequence[str]) -> Document:
    return Document(
        id=row[0],
        type=row[1],
        title=row[2],
        content=row[3],
        url=row[4],
        sys_racl=tuple(json.loads(row[5])),
        source=row[6],
        content_hash=row[7],
    )
