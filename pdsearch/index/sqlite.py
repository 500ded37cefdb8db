"""The default search index: one SQLite file with an FTS5 table.

Layout (schema version ``SCHEMA_VERSION``, kept in ``PRAGMA user_version``):

- ``docs``: the documents as given (returned unchanged by ``get`` and ``list``).
- ``docs_fts``: an FTS5 table with ``title``, ``content``, ``kind`` (the type in words) and
  ``acl``, which holds one opaque token per ``sys_racl`` entity. BM25 weighs the title 10, the
  content 1, the kind 3 and ``acl`` 0, so the access filter never changes the ranking.

Ranking: BM25 with the same weights, scored by ``ranking.rank_function`` from a snapshot of the
index's document frequencies when few rows can match (see ``pdsearch/index/ranking.py``), else by
FTS5's own ``bm25``. The snapshot belongs to one change ``generation`` (``meta``, raised by every
write): an index of up to ``VOCABULARY_INLINE_ROWS`` documents re-reads it at the first search
after a change; a larger one re-reads it in the background when it is older than
``VOCABULARY_MAX_AGE`` seconds, and searches with the previous one meanwhile.

The driver is APSW, not Python's ``sqlite3``: only APSW can register an FTS5 auxiliary function.
It brings its own SQLite; the store keeps the standard library's (another file). Never open the
index file with both in one process at once: two SQLite libraries don't see each other's POSIX
locks.

Access filtering happens inside the MATCH: the user's query (without a column filter, see
``_restricted``) is ANDed with ``acl : ("tok1" OR "tok2" ...)``. On 50,000 documents this was the
fastest of the forms measured (``benchmarks/search_index.py``): FTS5 intersects the doclists
itself, so ``total`` and every page count visible documents only and no row the user can't see
is ever read.

Durability: ``synchronous = NORMAL`` in WAL mode. A crashed process loses nothing committed; an
operating-system crash or power cut may lose the last transactions, which the next sync writes
again (the index is derived data).

Concurrency: WAL mode, one connection per thread (FastAPI runs sync endpoints in a threadpool),
and a write lock per index so that this process's writers queue instead of failing (other
processes wait on ``busy_timeout``). Readers are never blocked by a writer; each search reads one
snapshot, so its total and its page agree.
"""

from __future__ import annotations

import builtins
import hashlib
import html
import json
import logging
import threading
import time
import weakref
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import apsw

from pdsearch.index import ranking
from pdsearch.index.base import Document, SearchHit, SearchIndex, SearchResults
from pdsearch.index.query import ParsedQuery, Term, parse_query

log = logging.getLogger(__name__)

# 1: title, content, acl. 2: adds kind. 3: prefix index for 3 characters only (was '2 3').
# 4: adds meta (the change generation). Upgrades from 1 and 2 rebuild the FTS table from docs.
SCHEMA_VERSION = 4
TITLE_WEIGHT = 10.0
CONTENT_WEIGHT = 1.0
KIND_WEIGHT = 3.0
SNIPPET_TOKENS = 32
MAX_LIMIT = 1000
_KINDS_TTL = 60.0
#: Up to this many documents the vocabulary snapshot is re-read at the first search after a
#: change (about 20 ms at 10,000 documents); above it, in the background (0.2 s at 100,000).
VOCABULARY_INLINE_ROWS = 10_000
#: A large index's snapshot is re-read at most this often while writes go on.
VOCABULARY_MAX_AGE = 30.0
#: The FTS5 tokenizer and its arguments (the schema's, and ranking's term look-ups).
TOKENIZER = ("unicode61", ("remove_diacritics", "2"))

# Snippet markers: private-use characters that are removed from the indexed copy of the text,
# so after HTML-escaping the snippet they can only be the hits FTS5 marked.
_OPEN = "\ue000"
_CLOSE = "\ue001"
_SANITIZE = str.maketrans({_OPEN: "\ufffd", _CLOSE: "\ufffd"})

_SCHEMA_DOCS = """
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
CREATE INDEX docs_type ON docs (type);
"""

# generation: raised by every write transaction, so a vocabulary snapshot knows it is stale.
_SCHEMA_META = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('generation', 0);
"""
_GENERATION_SQL = "SELECT value FROM meta WHERE key = 'generation'"

# ``kind`` is the document type in words ("escalation policy"), so "payments schedule" prefers
# the schedule to the policy that merely names it. The weights in 'rank' are TITLE_WEIGHT,
# CONTENT_WEIGHT, KIND_WEIGHT and 0 for acl.
# One prefix index, for 3 characters: FTS5 uses a prefix index only for a prefix of exactly its
# length, so 'rot*' reads one list instead of merging every term starting with "rot" (2.5x
# faster at 100,000 documents); 4 characters and more never used one. The 2-character index
# cost as much to write as the 3-character one and served only 'pa*'-like queries, which now
# merge their terms (4-5x slower, 60-130 ms at 100,000 documents): a trade for indexing
# throughput (docs/BENCHMARKS.md).
# The tokenize option spells out TOKENIZER (a test checks they agree).
_SCHEMA_FTS = """
CREATE VIRTUAL TABLE docs_fts USING fts5(
    title, content, kind, acl,
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '3'
);
INSERT INTO docs_fts (docs_fts, rank) VALUES ('rank', 'bm25(10.0, 1.0, 3.0, 0.0)');
"""

_INSERT_FTS = "INSERT INTO docs_fts (rowid, title, content, kind, acl) VALUES (?, ?, ?, ?, ?)"

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

# The same with the rank function and its arguments given per statement (ranking.py).
_SEARCH_SNAPSHOT_SQL = _SEARCH_SQL.replace(
    "WHERE docs_fts MATCH ?", "WHERE docs_fts MATCH ? AND docs_fts.rank MATCH ?"
)

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


class IndexStorageError(SqliteIndexError):
    """SQLite could not read or write the index file (locked past the timeout, disk full, ...)."""


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
        self._conns: weakref.WeakSet[apsw.Connection] = weakref.WeakSet()
        self._conns_lock = threading.Lock()
        self._write_lock = threading.RLock()
        self._closed = False
        self._kinds_lock = threading.Lock()
        self._kinds_cache: tuple[float, set[str]] | None = None
        self._vocabulary: ranking.Vocabulary | None = None
        self._vocabulary_lock = threading.Lock()
        self._vocabulary_reading = False
        try:
            with _storage_errors(self.path):
                self._conn().execute("PRAGMA journal_mode = WAL")
                self._migrate()
            if self.count() > VOCABULARY_INLINE_ROWS:
                # Read the first snapshot now, in the background, so the first searches of a
                # large index don't wait for it (they rank with bm25 until it is there).
                self._read_vocabulary_in_background()
        except IndexStorageError as exc:
            self.close()
            if isinstance(exc.__cause__, apsw.NotADBError | apsw.CorruptError):
                raise SqliteIndexError(
                    f"{self.path} is not a usable pdsearch search index ({exc.__cause__}). Move "
                    "it away or delete it; the next sync rebuilds the index."
                ) from exc.__cause__
            raise
        except BaseException:
            self.close()
            raise

    # -- connections and transactions -------------------------------------------------------

    def _open(self) -> apsw.Connection:
        conn = apsw.Connection(str(self.path))
        conn.set_busy_timeout(int(self._busy_timeout_ms))
        # WAL makes NORMAL crash-safe; only the last commits before a power cut may be lost,
        # and the next sync rewrites them.
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.register_fts5_function(ranking.FUNCTION_NAME, ranking.rank_function)
        return conn

    def _conn(self) -> apsw.Connection:
        if self._closed:
            raise IndexClosedError(f"the search index {self.path} is closed")
        conn: apsw.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            self._local.conn = conn
            # Kept beside the connection, not on it: the tokenizer refers to its connection, and
            # that cycle would keep a finished thread's connection alive.
            self._local.tokenize = ranking.tokenizer(conn, TOKENIZER[0], TOKENIZER[1])
            with self._conns_lock:
                self._conns.add(conn)
        return conn

    @contextmanager
    def _write(self) -> Iterator[apsw.Connection]:
        with self._write_lock:
            conn = self._conn()
            if conn.in_transaction:  # nested call from within a write on this thread
                with _storage_errors(self.path):
                    yield conn
                return
            with _storage_errors(self.path):
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
            self._kinds_cache = None

    @contextmanager
    def _read(self) -> Iterator[apsw.Connection]:
        conn = self._conn()
        if conn.in_transaction:
            with _storage_errors(self.path):
                yield conn
            return
        with _storage_errors(self.path):
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    def _migrate(self) -> None:
        with self._write() as c:
            version = int(_scalar(c, "PRAGMA user_version"))
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
                _run_script(c, _SCHEMA_DOCS)
                _run_script(c, _SCHEMA_FTS)
            elif version < 3:
                # The FTS table is derived from docs: rebuild it in the current layout.
                c.execute("CREATE INDEX IF NOT EXISTS docs_type ON docs (type)")
                c.execute("DROP TABLE IF EXISTS docs_fts")
                _run_script(c, _SCHEMA_FTS)
                # Row by row (a cursor, not fetchall), so a large index is not held in memory.
                rows = c.execute("SELECT rid, type, title, content, sys_racl FROM docs")
                for rid, type_, title, content, racl in rows:
                    c.execute(_INSERT_FTS, _fts_row(rid, type_, title, content, json.loads(racl)))
            _run_script(c, _SCHEMA_META)
            if version != SCHEMA_VERSION:
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
            return str(_scalar(conn, "PRAGMA journal_mode"))

    # -- writes -----------------------------------------------------------------------------

    def upsert(self, docs: Iterable[Document]) -> None:
        """Insert or replace documents, all in one transaction (all or none are written).

        Text that isn't valid Unicode (a lone surrogate) is stored with U+FFFD in its place.
        """
        batch = list(docs)  # built before taking the write lock, so slow producers don't hold it
        if not batch:
            return
        with self._write() as conn:
            for doc in batch:
                # ensure_ascii keeps entity ids exact even if one holds a lone surrogate.
                racl = json.dumps(list(doc.sys_racl))
                row = conn.execute("SELECT rid FROM docs WHERE id = ?", (doc.id,)).fetchone()
                values = (
                    _text(doc.source), _text(doc.type), _text(doc.title), _text(doc.content),
                    _text(doc.url), racl, doc.content_hash,
                )
                if row is None:
                    conn.execute(
                        "INSERT INTO docs (source, type, title, content, url, sys_racl, "
                        "content_hash, id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (*values, doc.id),
                    )
                    rid = conn.last_insert_rowid()
                else:
                    rid = row[0]
                    conn.execute("DELETE FROM docs_fts WHERE rowid = ?", (rid,))
                    conn.execute(
                        "UPDATE docs SET source = ?, type = ?, title = ?, content = ?, url = ?, "
                        "sys_racl = ?, content_hash = ? WHERE rid = ?",
                        (*values, rid),
                    )
                row_values = _fts_row(rid, doc.type, doc.title, doc.content, doc.sys_racl)
                conn.execute(_INSERT_FTS, row_values)

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
            total = _scalar(conn, f"SELECT count(*) FROM docs {where}", args)  # noqa: S608
            rows = conn.execute(
                f"SELECT {_DOC_COLUMNS} FROM docs {where} ORDER BY title, id LIMIT ? OFFSET ?",  # noqa: S608
                (*args, limit, skip),
            ).fetchall()
        return [_document(r) for r in rows], int(total)

    def count(self, source: str | None = None) -> int:
        with self._read() as conn:
            if source is None:
                return int(_scalar(conn, "SELECT count(*) FROM docs"))
            return int(_scalar(conn, "SELECT count(*) FROM docs WHERE source = ?", (source,)))

    def search(
        self, query: str, entities: Collection[str], limit: int = 10, offset: int = 0
    ) -> SearchResults:
        """Documents visible to ``entities`` that match ``query``, best first.

        The first of these that finds anything answers: every term, within the document type the
        query names ("payments schedule" → schedules); every term; any term within that type;
        any term. So documents holding all the words come first, and a question typed as prose
        still finds something. A blank query lists every visible document by title (score 0).
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
        try:
            with self._read() as conn:
                total = 0
                hits: builtins.list[SearchHit] = []
                vocabulary = None if parsed.blank else self._current_vocabulary(conn)
                for candidate in self._candidates(conn, parsed, acl):
                    rank = None
                    if vocabulary is not None:
                        rank = _snapshot_rank(vocabulary, candidate, self._local.tokenize)
                    total, hits = self._page(conn, candidate.match, parsed.blank, rank,
                                             limit, offset)
                    if total:
                        break
        except IndexStorageError as exc:
            # Every term is quoted, so this should be unreachable; if FTS5 still rejects the
            # expression, the user gets no results rather than an error page or wider access.
            if not isinstance(exc.__cause__, apsw.SQLError) or "fts5" not in str(exc.__cause__):
                raise
            log.warning("search expression rejected by FTS5: %s", exc.__cause__)
            return SearchResults(total=0, hits=[])
        return SearchResults(total=total, hits=hits)

    def _page(
        self, conn: apsw.Connection, match: str, browse: bool, rank: str | None, limit: int,
        offset: int,
    ) -> tuple[int, builtins.list[SearchHit]]:
        """The total and the page of hits for one MATCH expression, in one snapshot.

        ``rank`` is the ``rank MATCH`` argument for the snapshot ranking, or None for bm25.
        The page is read first: when it is not full (and something was found, or nothing could
        be skipped), its length gives the total, which saves a second pass over the matches.
        """
        hits: builtins.list[SearchHit] = []
        if limit:
            if browse:
                hits = [
                    SearchHit(id=r[0], type=r[1], title=r[2], url=r[3],
                              snippet=_leading_words(r[4]), score=0.0)
                    for r in conn.execute(_BROWSE_SQL, (match, limit, offset))
                ]
            else:
                if rank is None:
                    rows = conn.execute(_SEARCH_SQL, (match, limit, offset))
                else:
                    ranking.reset_rows_scored()
                    rows = conn.execute(_SEARCH_SNAPSHOT_SQL, (match, rank, limit, offset))
                hits = [
                    SearchHit(id=r[0], type=r[1], title=r[2], url=r[3],
                              snippet=render_snippet(r[4] or ""), score=-float(r[5]))
                    for r in rows
                ]
                if rank is not None:  # every match was scored: their number is the total
                    return ranking.rows_scored(), hits
            if len(hits) < limit and (hits or offset == 0):
                return offset + len(hits), hits
        total = int(_scalar(conn, _COUNT_SQL, (match,)))
        return total, hits

    def _candidates(
        self, conn: apsw.Connection, parsed: ParsedQuery, acl: str
    ) -> Iterator[_Candidate]:
        """The MATCH expressions to try in turn (see ``search``)."""
        if parsed.blank:
            yield _Candidate(acl, (acl,))
            return
        intent = parsed.kind_intent(self._kinds(conn))
        kind_clause = ""
        kind_part: tuple[str, ...] = ()
        if intent is not None:
            kind, naming = intent
            kind_phrase = '"' + kind.replace("_", " ").replace('"', '""') + '"'
            kind_clause, kind_part = "kind : " + kind_phrase + " AND ", (kind_phrase,)
            yield _Candidate.every(parsed, naming, acl, kind_clause, kind_part)
        yield _Candidate.every(parsed, (), acl, "", ())
        if len(parsed.terms) > 1:
            if intent is not None:
                rest_any = parsed.fts(any_term=True, skip=intent[1])
                if rest_any is not None:
                    yield _Candidate(kind_clause + _restricted(rest_any, acl),
                                     (rest_any, *kind_part, acl))
            rest_any = parsed.fts(any_term=True) or ""
            yield _Candidate(_restricted(rest_any, acl), (rest_any, acl))

    def _current_vocabulary(self, conn: apsw.Connection) -> ranking.Vocabulary | None:
        """The vocabulary snapshot to rank with, or None to rank with bm25 (see the module
        docstring: small indexes re-read a stale one now, large ones in the background)."""
        generation = int(_scalar(conn, _GENERATION_SQL))
        current = self._vocabulary
        if current is not None and current.generation == generation:
            return current
        if current is None or current.rows <= VOCABULARY_INLINE_ROWS:
            if self._vocabulary_reading:
                return current
            return self._keep_vocabulary(ranking.read_vocabulary(conn, generation))
        if time.monotonic() - current.taken >= VOCABULARY_MAX_AGE:
            self._read_vocabulary_in_background()
        return current

    def _keep_vocabulary(self, fresh: ranking.Vocabulary) -> ranking.Vocabulary:
        with self._vocabulary_lock:
            current = self._vocabulary
            if current is None or fresh.generation >= current.generation:
                self._vocabulary = fresh
        return fresh

    def _read_vocabulary_in_background(self) -> None:
        with self._vocabulary_lock:
            if self._vocabulary_reading or self._closed:
                return
            self._vocabulary_reading = True
        threading.Thread(
            target=self._read_vocabulary_worker, name="pdsearch-index-vocabulary", daemon=True
        ).start()

    def _read_vocabulary_worker(self) -> None:
        try:
            # A connection of its own: close() may run meanwhile and must not pull this one
            # from under the read.
            conn = self._open()
            try:
                with _storage_errors(self.path):
                    conn.execute("BEGIN")
                    try:
                        generation = int(_scalar(conn, _GENERATION_SQL))
                        fresh = ranking.read_vocabulary(conn, generation)
                    finally:
                        conn.execute("COMMIT")
            finally:
                conn.close()
            self._keep_vocabulary(fresh)
        except Exception:
            log.warning("could not read the search index's vocabulary; ranking with bm25",
                        exc_info=True)
        finally:
            self._vocabulary_reading = False

    def _kinds(self, conn: apsw.Connection) -> set[str]:
        """The document types in the index, re-read at most every ``_KINDS_TTL`` seconds (another
        process may add a type) and at once after this instance writes."""
        now = time.monotonic()
        with self._kinds_lock:
            if self._kinds_cache is None or now - self._kinds_cache[0] > _KINDS_TTL:
                kinds = {r[0] for r in conn.execute("SELECT DISTINCT type FROM docs")}
                self._kinds_cache = (now, kinds)
            return self._kinds_cache[1]

    def explain(
        self, query: str, entities: Collection[str]
    ) -> builtins.list[builtins.list[str]]:
        """The EXPLAIN QUERY PLAN lines of both search statements, bm25's and the snapshot
        ranking's (tests pin the fast plan)."""
        parsed = parse_query(query)
        user = parsed.fts() or '"x"'
        match = _restricted(user, acl_expression(set(entities) or {""}))
        with self._read() as conn:
            plans = [
                conn.execute("EXPLAIN QUERY PLAN " + _SEARCH_SQL, (match, 10, 0)).fetchall(),
                conn.execute("EXPLAIN QUERY PLAN " + _SEARCH_SNAPSHOT_SQL,
                             (match, ranking.FUNCTION_NAME + "(1.0)", 10, 0)).fetchall(),
            ]
        return [[str(r[3]) for r in rows] for rows in plans]


def _restricted(user: str, acl: str) -> str:
    """The user's expression ANDed with the access filter.

    The user's part carries no column filter: with one, FTS5 reads every position list of each
    phrase when ``bm25`` counts the documents holding it (across the whole index, once per
    search), which made ranking up to 2.3× slower at 100,000 documents. Without it a term could only
    also match the ``acl`` column, whose tokens are 41-character hashes; a user typing one still
    sees only documents the access filter (which keeps its column filter) admits.
    """
    return "(" + user + ") AND " + acl


@dataclass(frozen=True)
class _Candidate:
    """One MATCH expression to try, and the parts it ANDs together (to bound its matches)."""

    match: str
    parts: tuple[str, ...]

    @classmethod
    def every(
        cls, parsed: ParsedQuery, skip: Collection[Term], acl: str, kind_clause: str,
        kind_part: tuple[str, ...],
    ) -> _Candidate:
        """Every term but ``skip``, within the type of ``kind_clause`` if one is given."""
        rest = parsed.fts(skip=skip)
        terms = tuple(t.fts() for t in parsed.terms if t not in skip)
        match = kind_clause + (acl if rest is None else _restricted(rest, acl))
        return cls(match, (*terms, *kind_part, acl))


def _snapshot_rank(
    vocabulary: ranking.Vocabulary, candidate: _Candidate, tokenize: ranking.Tokenize
) -> str | None:
    """The ``rank MATCH`` argument for the snapshot ranking, or None when so many rows may match
    that bm25 is cheaper (``ranking.RANK_MAX_ROWS``)."""
    if vocabulary.matches_at_most(candidate.parts, tokenize) > ranking.RANK_MAX_ROWS:
        return None
    return vocabulary.rank_call(candidate.match, tokenize)


@contextmanager
def _storage_errors(path: Path) -> Iterator[None]:
    """Raise SQLite's errors as ``IndexStorageError`` (the cause keeps SQLite's own)."""
    try:
        yield
    except apsw.Error as exc:
        raise IndexStorageError(f"the search index {path} failed: {exc}") from exc


def _scalar(conn: apsw.Connection, sql: str, bindings: Sequence[object] = ()) -> Any:
    """The first column of the statement's first row (it must have one)."""
    row = conn.execute(sql, bindings).fetchone()
    if row is None:
        raise IndexStorageError(f"no row from {sql!r}")
    return row[0]


def _run_script(conn: apsw.Connection, script: str) -> None:
    # executescript() would COMMIT the open transaction; run statement by statement instead.
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _text(value: str) -> str:
    """``value`` as storable UTF-8: a lone surrogate (JSON can carry one as ``\\ud800``) can't be
    encoded, so it becomes U+FFFD rather than failing the whole batch."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


def _unmark(text: str) -> str:
    # str.translate walks every character through a dict (12 % of indexing time); the markers
    # are almost never present.
    if _OPEN in text or _CLOSE in text:
        return text.translate(_SANITIZE)
    return text


def _fts_row(
    rid: int, type_: str, title: str, content: str, sys_racl: Iterable[str]
) -> tuple[int, str, str, str, str]:
    return (
        rid,
        _unmark(_text(title)),
        _unmark(_text(content)),
        _text(type_).replace("_", " "),
        " ".join(entity_token(e) for e in sys_racl),
    )


if TYPE_CHECKING:  # mypy proves SqliteIndex satisfies the protocol
    _: type[SearchIndex] = SqliteIndex


def _document(row: Sequence[Any]) -> Document:
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
