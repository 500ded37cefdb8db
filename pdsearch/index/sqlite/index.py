"""``SqliteIndex``: the default search index, one SQLite file with an FTS5 table.

The parts: ``schema.py`` (layout, migrations), ``connections.py`` (per-thread connections and
transactions), ``acl.py`` (the access filter), ``planner.py`` (what a query tries, in turn),
``vocabulary.py`` (which ranking snapshot a search uses) and ``text.py`` (what goes in, how
snippets come out). This module writes, reads and pages.

Ranking: BM25 with the title weighted 10, the content 1, the type's words 3, scored by
``ranking.rank_function`` from a snapshot of the index's document frequencies when few rows can
match, else by FTS5's own ``bm25`` (see ``pdsearch/index/ranking.py``).

A search reads its page first; a page that is not full gives the total, otherwise the matches
are counted in the same read transaction (so page and total agree).
"""

from __future__ import annotations

import builtins
import json
import logging
import threading
import time
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import apsw

from pdsearch.index import ranking
from pdsearch.index.base import (
    Document,
    Grant,
    SearchHit,
    SearchResults,
    Vector,
    checked_grants,
)
from pdsearch.index.query import parse_query
from pdsearch.index.sqlite import schema
from pdsearch.index.sqlite.acl import acl_expression, document_tokens
from pdsearch.index.sqlite.connections import Connections, storage_errors
from pdsearch.index.sqlite.errors import IndexStorageError, SqliteIndexError
from pdsearch.index.sqlite.planner import candidates, restricted, snapshot_rank
from pdsearch.index.sqlite.schema import DOC_COLUMNS, INSERT_FTS, scalar
from pdsearch.index.sqlite.text import fts_row, leading_words, render_snippet, storable
from pdsearch.index.sqlite.vectors import (
    VectorCache,
    checked_vector,
    nearest_rows,
    to_blob,
    visible_rids,
)
from pdsearch.index.sqlite.vocabulary import INLINE_ROWS, VocabularyCache

if TYPE_CHECKING:
    from pdsearch.index.base import SearchIndex, VectorIndex

log = logging.getLogger(__name__)

MAX_LIMIT = 1000
_KINDS_TTL = 60.0

# char(57344) and char(57345) are the snippet markers of text.py; 32 is text.SNIPPET_TOKENS.
_RANKED_SQL = """
SELECT d.id, d.source, d.type, d.title, d.url,
       snippet(docs_fts, 1, char(57344), char(57345), '…', 32),
       docs_fts.rank
FROM docs_fts CROSS JOIN docs AS d ON d.rid = docs_fts.rowid
WHERE docs_fts MATCH ?
ORDER BY docs_fts.rank
LIMIT ? OFFSET ?
"""
# The same with the rank function and its arguments given per statement (ranking.py).
_RANKED_SNAPSHOT_SQL = _RANKED_SQL.replace(
    "WHERE docs_fts MATCH ?", "WHERE docs_fts MATCH ? AND docs_fts.rank MATCH ?"
)
_COUNT_SQL = "SELECT count(*) FROM docs_fts WHERE docs_fts MATCH ?"
# Browsing (blank query): visible documents by title. Page first, then read the page's content.
_BROWSE_SQL = """
SELECT d.id, d.source, d.type, d.title, d.url, d.content
FROM (
    SELECT v.rid FROM docs AS v
    WHERE v.rid IN (SELECT rowid FROM docs_fts WHERE docs_fts MATCH ?)
    ORDER BY v.title, v.id LIMIT ? OFFSET ?
) AS page CROSS JOIN docs AS d ON d.rid = page.rid
ORDER BY d.title, d.id
"""


class SqliteIndex:
    """A ``SearchIndex`` in one SQLite file (see the module docstring).

    ``path`` must be a file path; it is created with its parent directories. Safe to share
    between threads. ``search`` with a blank query lists the visible documents by title.
    """

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 30_000) -> None:
        if str(path) == ":memory:":
            raise ValueError("SqliteIndex needs a file path; each thread opens its own connection")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._connections = Connections(self.path, busy_timeout_ms, on_write=self._forget_kinds)
        self._vocabulary = VocabularyCache(self._connections)
        self._vectors = VectorCache()
        self._kinds_lock = threading.Lock()
        self._kinds_cache: tuple[float, set[str]] | None = None
        try:
            with storage_errors(self.path):
                self._connections.current().execute("PRAGMA journal_mode = WAL")
            with self._connections.write() as conn:
                schema.migrate(conn, self.path)
            if self.count() > INLINE_ROWS:
                # Read the first snapshot now, in the background, so the first searches of a
                # large index don't wait for it (they rank with bm25 until it is there).
                self._vocabulary.read_in_background()
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

    def close(self) -> None:
        """Close every connection; later calls raise ``IndexClosedError``."""
        self._connections.close()
        self._vectors.forget()

    def __enter__(self) -> SqliteIndex:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def ranking_snapshot(self) -> ranking.Vocabulary | None:
        """The vocabulary snapshot searches rank with now, if any (for diagnostics)."""
        return self._vocabulary.snapshot

    def open_connections(self) -> int:
        """How many connections are open (one per live thread that used the index)."""
        return self._connections.open_count()

    def journal_mode(self) -> str:
        with self._connections.read() as conn:
            return str(scalar(conn, "PRAGMA journal_mode"))

    # -- writes -----------------------------------------------------------------------------

    def upsert(self, docs: Iterable[Document]) -> None:
        """Insert or replace documents by (source, id), all in one transaction (all or none).

        Text that isn't valid Unicode (a lone surrogate) is stored with U+FFFD in its place.
        """
        batch = list(docs)  # built before taking the write lock, so slow producers don't hold it
        if not batch:
            return
        with self._connections.write() as conn:
            for doc in batch:
                # ensure_ascii keeps entity ids exact even if one holds a lone surrogate.
                racl = json.dumps(list(doc.sys_racl))
                row = conn.execute(
                    "SELECT rid FROM docs WHERE source = ? AND id = ?", (doc.source, doc.id)
                ).fetchone()
                values = (
                    storable(doc.type), storable(doc.title), storable(doc.content),
                    storable(doc.url), racl, doc.content_hash,
                )
                if row is None:
                    conn.execute(
                        "INSERT INTO docs (type, title, content, url, sys_racl, content_hash, "
                        "source, id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (*values, doc.source, doc.id),
                    )
                    rid = conn.last_insert_rowid()
                else:
                    rid = row[0]
                    conn.execute("DELETE FROM docs_fts WHERE rowid = ?", (rid,))
                    # A vector is of the content it was computed from.
                    conn.execute("DELETE FROM vectors WHERE rid = ? AND content_hash != ?",
                                 (rid, doc.content_hash))
                    conn.execute(
                        "UPDATE docs SET type = ?, title = ?, content = ?, url = ?, "
                        "sys_racl = ?, content_hash = ? WHERE rid = ?",
                        (*values, rid),
                    )
                tokens = document_tokens(doc.source, doc.sys_racl)
                conn.execute(INSERT_FTS, fts_row(rid, doc.type, doc.title, doc.content, tokens))

    def delete(self, source: str, ids: Iterable[str]) -> None:
        """Delete documents of one source by id, in one transaction; unknown ids are ignored."""
        wanted = list(ids)
        if not wanted:
            return
        with self._connections.write() as conn:
            for doc_id in wanted:
                row = conn.execute(
                    "SELECT rid FROM docs WHERE source = ? AND id = ?", (source, doc_id)
                ).fetchone()
                if row is not None:
                    conn.execute("DELETE FROM docs_fts WHERE rowid = ?", (row[0],))
                    conn.execute("DELETE FROM vectors WHERE rid = ?", (row[0],))
                    conn.execute("DELETE FROM docs WHERE rid = ?", (row[0],))

    def delete_source(self, source: str) -> int:
        """Remove every document of one source; returns how many."""
        with self._connections.write() as conn:
            rids = [r[0] for r in conn.execute("SELECT rid FROM docs WHERE source = ?", (source,))]
            for rid in rids:
                conn.execute("DELETE FROM docs_fts WHERE rowid = ?", (rid,))
                conn.execute("DELETE FROM vectors WHERE rid = ?", (rid,))
            conn.execute("DELETE FROM docs WHERE source = ?", (source,))
            return len(rids)

    # -- meaning vectors --------------------------------------------------------------------

    def store_vectors(
        self, items: Sequence[tuple[str, str, Vector]], *, model_id: str = ""
    ) -> int:
        """Set documents' vectors, given as ``(source, id, vector)``, for their current content
        (in one transaction); documents that are gone are skipped. Returns how many were
        stored. ``ValueError`` for a vector that is not 384 finite numbers, not all zero."""
        rows = [(source, doc_id, to_blob(checked_vector(vector)))
                for source, doc_id, vector in items]
        if not rows:
            return 0
        stored = 0
        with self._connections.write() as conn:
            for source, doc_id, blob in rows:
                found = conn.execute("SELECT rid, content_hash FROM docs WHERE source = ? AND "
                                     "id = ?", (source, doc_id)).fetchone()
                if found is None:
                    continue
                conn.execute("INSERT OR REPLACE INTO vectors (rid, model, content_hash, vector) "
                             "VALUES (?, ?, ?, ?)", (found[0], model_id, found[1], blob))
                stored += 1
        return stored

    def missing_vectors(self, source: str, model_id: str = "") -> builtins.list[str]:
        """The ids of ``source``'s documents without a vector of ``model_id`` for their
        current content, sorted."""
        with self._connections.read() as conn:
            rows = conn.execute(
                "SELECT d.id FROM docs AS d LEFT JOIN vectors AS v ON v.rid = d.rid "
                "AND v.model = ? AND v.content_hash = d.content_hash "
                "WHERE d.source = ? AND v.rid IS NULL ORDER BY d.id", (model_id, source))
            return [r[0] for r in rows]

    def vector_count(self, source: str | None = None) -> int:
        """How many documents (of one source, or all) have a vector for their content."""
        sql = ("SELECT count(*) FROM vectors AS v JOIN docs AS d ON d.rid = v.rid "
               "AND d.content_hash = v.content_hash")
        with self._connections.read() as conn:
            if source is None:
                return int(scalar(conn, sql))
            return int(scalar(conn, sql + " WHERE d.source = ?", (source,)))

    def nearest(
        self, vector: Vector, grants: Collection[Grant], k: int, *,
        model_id: str | None = None,
    ) -> builtins.list[tuple[str, str, float]]:
        """The ``k`` visible documents whose vectors are nearest to ``vector``, as ``(source,
        id, cosine)``, best first (see ``vectors.py``): the grants' access filter picks the
        rows first, and only those are scored. ``model_id`` None: vectors of any model."""
        allowed = checked_grants(grants)
        query = checked_vector(vector)
        if not allowed or k <= 0:
            return []
        k = min(k, MAX_LIMIT)
        with self._connections.read() as conn:
            matrix = self._vectors.current(conn, model_id)
            if not len(matrix.rids):
                return []
            found = nearest_rows(matrix, visible_rids(conn, allowed), query, k)
            if not found:
                return []
            keys = {}
            for rid, _ in found:
                row = conn.execute("SELECT source, id FROM docs WHERE rid = ?", (rid,)).fetchone()
                if row is not None:
                    keys[rid] = (row[0], row[1])
        return [(*keys[rid], score) for rid, score in found if rid in keys]

    # -- reads ------------------------------------------------------------------------------

    def hashes(self, source: str) -> dict[str, str]:
        """Document id → content hash for every document of one source."""
        with self._connections.read() as conn:
            rows = conn.execute("SELECT id, content_hash FROM docs WHERE source = ?", (source,))
            return {r[0]: r[1] for r in rows}

    def get(self, source: str, doc_id: str) -> Document | None:
        with self._connections.read() as conn:
            sql = f"SELECT {DOC_COLUMNS} FROM docs WHERE source = ? AND id = ?"  # noqa: S608
            row = conn.execute(sql, (source, doc_id)).fetchone()
        return None if row is None else _document(row)

    def find(self, doc_id: str) -> builtins.list[Document]:
        """Every source's document with this id, ordered by source."""
        with self._connections.read() as conn:
            sql = f"SELECT {DOC_COLUMNS} FROM docs WHERE id = ? ORDER BY source"  # noqa: S608
            return [_document(r) for r in conn.execute(sql, (doc_id,))]

    def list(self, source: str | None, skip: int, limit: int) -> tuple[Sequence[Document], int]:
        """A page of documents ordered by title then id (of one source, or all) and the total."""
        skip, limit = max(0, skip), max(0, limit)
        where, args = ("WHERE source = ?", (source,)) if source is not None else ("", ())
        with self._connections.read() as conn:
            total = scalar(conn, f"SELECT count(*) FROM docs {where}", args)  # noqa: S608
            rows = conn.execute(
                f"SELECT {DOC_COLUMNS} FROM docs {where} "  # noqa: S608
                "ORDER BY title, id, source LIMIT ? OFFSET ?",
                (*args, limit, skip),
            ).fetchall()
        return [_document(r) for r in rows], int(total)

    def sources(self) -> builtins.list[str]:
        with self._connections.read() as conn:
            return [r[0] for r in conn.execute("SELECT DISTINCT source FROM docs ORDER BY source")]

    def count(self, source: str | None = None) -> int:
        with self._connections.read() as conn:
            if source is None:
                return int(scalar(conn, "SELECT count(*) FROM docs"))
            return int(scalar(conn, "SELECT count(*) FROM docs WHERE source = ?", (source,)))

    def search(
        self, query: str, grants: Collection[Grant], limit: int = 10, offset: int = 0, *,
        every_word: bool = False,
    ) -> SearchResults:
        """Documents visible through ``grants`` that match ``query``, best first.

        See ``planner`` for what is tried in turn. A blank query lists every visible document by
        title (score 0). A query with no searchable characters matches nothing. No grant sees
        nothing. Snippets are HTML-safe, with hits in ``<mark>``. ``every_word``: never fall
        back to documents holding only some words.
        """
        allowed = checked_grants(grants)
        parsed = parse_query(query)
        if not allowed or (not parsed.browse and not parsed.terms):
            return SearchResults(total=0, hits=[])
        limit = max(0, min(limit, MAX_LIMIT))
        offset = max(0, offset)
        acl = acl_expression(allowed)
        partial = False
        try:
            with self._connections.read() as conn:
                total = 0
                hits: builtins.list[SearchHit] = []
                vocabulary = None if parsed.browse else self._vocabulary.current(conn)
                tokenize = self._connections.tokenize()
                for candidate in candidates(parsed, self._kinds(conn), acl):
                    if every_word and candidate.partial:
                        break
                    if parsed.browse:
                        total, hits = _browse(conn, candidate.match, limit, offset)
                    else:
                        rank = None
                        if vocabulary is not None:
                            rank = snapshot_rank(vocabulary, candidate, tokenize)
                        total, hits = _ranked(conn, candidate.match, rank, limit, offset)
                    if total:
                        partial = candidate.partial
                        break
        except IndexStorageError as exc:
            # Every term is quoted, so this should be unreachable; if FTS5 still rejects the
            # expression, the user gets no results rather than an error page or wider access.
            if not isinstance(exc.__cause__, apsw.SQLError) or "fts5" not in str(exc.__cause__):
                raise
            log.warning("search expression rejected by FTS5: %s", exc.__cause__)
            return SearchResults(total=0, hits=[])
        return SearchResults(total=total, hits=hits, partial=partial)

    def _kinds(self, conn: apsw.Connection) -> set[str]:
        """The document types in the index, re-read at most every ``_KINDS_TTL`` seconds (another
        process may add a type) and at once after this instance writes."""
        now = time.monotonic()
        with self._kinds_lock:
            if self._kinds_cache is None or now - self._kinds_cache[0] > _KINDS_TTL:
                kinds = {r[0] for r in conn.execute("SELECT DISTINCT type FROM docs")}
                self._kinds_cache = (now, kinds)
            return self._kinds_cache[1]

    def _forget_kinds(self) -> None:
        self._kinds_cache = None

    def explain(self, query: str, grants: Collection[Grant]) -> builtins.list[builtins.list[str]]:
        """The EXPLAIN QUERY PLAN lines of both ranked statements, bm25's and the snapshot
        ranking's (tests pin the fast plan)."""
        parsed = parse_query(query)
        user = parsed.fts() or '"x"'
        match = restricted(user, acl_expression(checked_grants(grants) or {Grant("", "")}))
        with self._connections.read() as conn:
            plans = [
                conn.execute("EXPLAIN QUERY PLAN " + _RANKED_SQL, (match, 10, 0)).fetchall(),
                conn.execute("EXPLAIN QUERY PLAN " + _RANKED_SNAPSHOT_SQL,
                             (match, ranking.FUNCTION_NAME + "(1.0)", 10, 0)).fetchall(),
            ]
        return [[str(r[3]) for r in rows] for rows in plans]


def _ranked(
    conn: apsw.Connection, match: str, rank: str | None, limit: int, offset: int
) -> tuple[int, builtins.list[SearchHit]]:
    """The total and one page of ranked hits for one MATCH expression.

    ``rank`` is the ``rank MATCH`` argument for the snapshot ranking, or None for bm25.
    """
    if rank is None:
        rows = conn.execute(_RANKED_SQL, (match, limit, offset))
    else:
        rows = conn.execute(_RANKED_SNAPSHOT_SQL, (match, rank, limit, offset))
    hits = [
        SearchHit(id=r[0], source=r[1], type=r[2], title=r[3], url=r[4],
                  snippet=render_snippet(r[5] or ""), score=-_number(r[6]))
        for r in rows
    ] if limit else []
    return _total(conn, match, hits, limit, offset), hits


def _browse(
    conn: apsw.Connection, match: str, limit: int, offset: int
) -> tuple[int, builtins.list[SearchHit]]:
    """Visible documents by title (score 0)."""
    hits = [
        SearchHit(id=r[0], source=r[1], type=r[2], title=r[3], url=r[4],
                  snippet=leading_words(r[5]), score=0.0)
        for r in conn.execute(_BROWSE_SQL, (match, limit, offset))
    ] if limit else []
    return _total(conn, match, hits, limit, offset), hits


def _total(
    conn: apsw.Connection, match: str, hits: builtins.list[SearchHit], limit: int, offset: int
) -> int:
    """The number of matches: a page that is not full (and found something, or could skip
    nothing) ends the matches, so its length gives the total; otherwise they are counted (in
    the same read transaction, so the count and the page agree)."""
    if limit and len(hits) < limit and (hits or offset == 0):
        return offset + len(hits)
    return int(scalar(conn, _COUNT_SQL, (match,)))


def _number(value: object) -> float:
    if isinstance(value, int | float):
        return float(value)
    raise SqliteIndexError(f"expected a number from SQLite, got {type(value).__name__}")


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


if TYPE_CHECKING:  # mypy proves SqliteIndex satisfies the protocols
    _: type[SearchIndex] = SqliteIndex
    _v: type[VectorIndex] = SqliteIndex
