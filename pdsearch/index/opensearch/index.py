"""``OpenSearchIndex``: the search index in an OpenSearch cluster, for installations that outgrow
one machine (several ``pdsearch serve`` replicas sharing one index).

The parts: ``mapping.py`` (settings, fields, names), ``versions.py`` (the alias and upgrades),
``documents.py`` (keys and stored shape), ``queries.py`` (what a search asks), ``bulk.py``
(writes and their retries), ``connection.py`` (the client, retries, errors).

Behaviour, as the contract suite (``tests/index/test_index_contract.py``) checks on both
backends:

- Read-your-writes: every write call ends with a refresh of what it wrote (``refresh=true`` on
  its bulk request, or a refresh of the index when the call needed several), so the next
  search, from any process, sees it. It costs a refresh per call: one new small segment per
  batch (the sync writes 200 documents a call), merged by OpenSearch in the background.
  ``refresh=wait_for`` would hold every call until the next periodic refresh (up to 1 s: a
  sync of 100,000 documents in 500 calls would wait minutes).
- Searches filter on the documents' access keys inside the query (a ``filter`` clause), so
  totals (exact: ``track_total_hits``) and pages count only visible documents.
- A blank query lists the visible documents by title (score 0); ``limit`` is capped at
  ``MAX_LIMIT``; a page past ``mapping.MAX_RESULT_WINDOW`` is empty (its total still right).

Thread-safe: share one instance between threads (the client pools its connections).
"""

from __future__ import annotations

import builtins
import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

from opensearchpy import OpenSearch

from pdsearch.index.base import (
    Document,
    Grant,
    SearchHit,
    SearchResults,
    Vector,
    checked_grants,
)
from pdsearch.index.errors import IndexSettingsError
from pdsearch.index.opensearch import bulk
from pdsearch.index.opensearch.connection import (
    DEFAULT_TIMEOUT,
    WRITE_RETRY,
    Caller,
    make_client,
    parse_url,
    wait,
)
from pdsearch.index.opensearch.documents import (
    DOCUMENT_FIELDS,
    body,
    doc_key,
    document,
)
from pdsearch.index.opensearch.errors import OpenSearchIndexClosedError, OpenSearchIndexError
from pdsearch.index.opensearch.mapping import (
    MAX_RESULT_WINDOW,
    VECTOR_DIMENSION,
    alias_name,
    check_prefix,
)
from pdsearch.index.opensearch.queries import (
    Candidate,
    access_filter,
    bool_query,
    candidates,
    highlight,
    leading_words,
    safe_snippet,
)
from pdsearch.index.opensearch.versions import UpgradeProgress, Versions
from pdsearch.index.query import ParsedQuery, parse_query

if TYPE_CHECKING:
    from pdsearch.index.base import SearchIndex, VectorIndex

log = logging.getLogger(__name__)

MAX_LIMIT: Final = 1000
SCAN_PAGE: Final = 10_000
KINDS_TTL: Final = 60.0

_HIT_FIELDS: Final = ["doc_id", "source", "type", "title", "url"]
_BY_TITLE: Final = [
    {"title.sort": {"order": "asc", "missing": "_last"}},
    {"doc_id": "asc"},
    {"source": "asc"},
]
_BY_SCORE: Final = [
    {"_score": "desc"},
    {"title.sort": {"order": "asc", "missing": "_last"}},
    {"key": "asc"},
]


class OpenSearchIndex:
    """A ``SearchIndex`` in OpenSearch (see the module docstring).

    ``url`` is ``http(s)://host:port`` (credentials may be in it or given apart); ``prefix``
    names the alias ``<prefix>-docs`` and its indices, so several installations can share a
    cluster. Opening creates the index, or upgrades one of an older mapping version
    (``on_upgrade(copied, total)`` follows the copy). ``sleep`` is the pause between retries
    (tests pass their own). Raises ``OpenSearchIndexError`` subclasses with what to do.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "pdsearch",
        username: str | None = None,
        password: str | None = None,
        verify_certs: bool = True,
        ca_certs: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        shards: int = 1,
        replicas: str = "0-1",
        sleep: Callable[[float], None] = wait,
        on_upgrade: UpgradeProgress | None = None,
    ) -> None:
        endpoint = parse_url(url)
        if endpoint.username and username:
            raise IndexSettingsError(
                "give the OpenSearch username in the URL or apart, not both")
        username = username or endpoint.username
        password = password or endpoint.password
        self.prefix = check_prefix(prefix)
        self.url = endpoint.url
        self.alias = alias_name(prefix)
        self._caller = Caller(endpoint, (password or "",), sleep)
        self._client: OpenSearch = make_client(
            endpoint, username=username, password=password, verify_certs=verify_certs,
            ca_certs=ca_certs, timeout=timeout,
        )
        self._closed = False
        self._kinds_lock = threading.Lock()
        self._kinds_cache: tuple[float, set[str]] | None = None
        try:
            versions = Versions(self._caller, self._client, prefix, shards=shards,
                                replicas=replicas, on_upgrade=on_upgrade)
            versions.open()
        except BaseException:
            self.close()
            raise
        #: Whether the index has the k-NN vector field (the cluster has the k-NN plugin).
        self.vectors = versions.vectors

    def __repr__(self) -> str:
        return f"OpenSearchIndex({self.url!r}, prefix={self.prefix!r})"

    def close(self) -> None:
        """Close the client's connections; later calls raise ``OpenSearchIndexClosedError``."""
        if not self._closed:
            self._closed = True
            self._client.close()

    def __enter__(self) -> OpenSearchIndex:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, doing: str, request: Callable[[], Any], **kwargs: Any) -> Any:
        if self._closed:
            raise OpenSearchIndexClosedError(f"the index {self!r} is closed")
        return self._caller.call(doing, request, **kwargs)

    # -- writes -----------------------------------------------------------------------------

    def upsert(self, docs: Iterable[Document], *, refresh: bool = True) -> None:
        """Insert or replace documents by (source, id), then refresh (read-your-writes).

        ``refresh=False`` leaves them to the index's periodic refresh (within a second) or the
        next ``refresh()``: for loading many documents at once, where a refresh per call costs
        a third of the node's work (docs/BENCHMARKS.md, scenario 6). Not a transaction: when
        OpenSearch keeps refusing part of a call after the retries, ``OpenSearchWriteError``
        says how many were not written; the rest are.
        """
        self._write([bulk.Action(doc_key(d.source, d.id), body(d)) for d in docs],
                    refresh=refresh)

    def delete(self, source: str, ids: Iterable[str]) -> None:
        """Delete documents of one source by id; unknown ids are ignored."""
        self._write([bulk.Action(doc_key(source, i)) for i in dict.fromkeys(ids)])

    def delete_source(self, source: str) -> int:
        """Remove every document of one source; returns how many."""
        keys = [hit["_id"] for hit in self._scan({"term": {"source": source}}, [])]
        self._write([bulk.Action(key) for key in keys])
        return len(keys)

    def _write(self, actions: Sequence[bulk.Action], *, refresh: bool = True) -> None:
        if self._closed:
            raise OpenSearchIndexClosedError(f"the index {self!r} is closed")
        if not actions:
            return
        refreshed = False
        try:
            refreshed = bulk.write(self._caller, self._client, self.alias, actions,
                                   refresh=refresh).refreshed
        except BaseException:
            # Even after a partial failure, what was written becomes searchable; the write's
            # error is the one to report.
            if refresh:
                with contextlib.suppress(OpenSearchIndexError):
                    self.refresh()
            raise
        finally:
            self._kinds_cache = None
        if refresh and not refreshed:
            self.refresh()

    def refresh(self) -> None:
        """Make every write so far searchable (what each write call does unless told not to)."""
        self._call("make the writes searchable",
                   lambda: self._client.indices.refresh(index=self.alias), policy=WRITE_RETRY)

    # -- reads ------------------------------------------------------------------------------

    def hashes(self, source: str) -> dict[str, str]:
        """Document id → content hash for every document of one source."""
        out: dict[str, str] = {}
        for hit in self._scan({"term": {"source": source}}, ["doc_id", "content_hash"]):
            fields = hit["fields"]
            out[fields["doc_id"][0]] = fields["content_hash"][0]
        return out

    def get(self, source: str, doc_id: str) -> Document | None:
        found = self._call("read a document", lambda: self._client.get(
            index=self.alias, id=doc_key(source, doc_id), ignore=[404],
            _source_includes=",".join(DOCUMENT_FIELDS)))
        if found.get("found"):
            return document(found["_source"])
        if "error" in found:
            raise OpenSearchIndexError(
                f"OpenSearch at {self.url} could not read a document: {found['error']}")
        return None

    def find(self, doc_id: str) -> builtins.list[Document]:
        """Every source's document with this id, ordered by source."""
        response = self._search("find a document", {
            "query": {"term": {"doc_id": doc_id}},
            "sort": [{"source": "asc"}],
            "size": MAX_LIMIT,
            "_source": list(DOCUMENT_FIELDS),
        })
        return [document(hit["_source"]) for hit in response["hits"]["hits"]]

    def list(self, source: str | None, skip: int, limit: int) -> tuple[Sequence[Document], int]:
        """A page of documents ordered by title then id (of one source, or all) and the total."""
        query = {"term": {"source": source}} if source is not None else {"match_all": {}}
        start, size = _window(max(0, skip), max(0, limit))
        response = self._search("list documents", {
            "query": query, "sort": _BY_TITLE, "from": start, "size": size,
            "track_total_hits": True, "_source": list(DOCUMENT_FIELDS),
        })
        docs = [document(hit["_source"]) for hit in response["hits"]["hits"]]
        return docs, int(response["hits"]["total"]["value"])

    def sources(self) -> builtins.list[str]:
        """Every source with documents, in order (a terms aggregation: connectors are few)."""
        response = self._search("list the sources", {
            "size": 0,
            "aggs": {"sources": {"terms": {"field": "source", "size": 10_000,
                                           "order": {"_key": "asc"}}}},
        })
        return [bucket["key"] for bucket in response["aggregations"]["sources"]["buckets"]]

    def count(self, source: str | None = None) -> int:
        query = {"term": {"source": source}} if source is not None else {"match_all": {}}
        response = self._call("count documents", lambda: self._client.count(
            index=self.alias, body={"query": query}))
        return int(response["count"])

    def search(
        self, query: str, grants: Collection[Grant], limit: int = 10, offset: int = 0, *,
        every_word: bool = False,
    ) -> SearchResults:
        """Documents visible through ``grants`` that match ``query``, best first.

        What is tried in turn: ``queries.candidates``. A blank query lists every visible
        document by title (score 0); a query with no searchable characters matches nothing; no
        grant sees nothing. Snippets are HTML-safe, with hits in ``<mark>``.
        """
        allowed = checked_grants(grants)
        parsed = parse_query(query)
        if not allowed or (not parsed.browse and not parsed.terms):
            return SearchResults(total=0, hits=[])
        start, size = _window(max(0, offset), max(0, min(limit, MAX_LIMIT)))
        acl = access_filter(allowed)
        if parsed.browse:
            return self._browse(bool_query(Candidate(None, None, excluded=parsed.excluded), acl),
                                start, size)
        for candidate in candidates(parsed, self._kinds()):
            if every_word and candidate.partial:
                break
            found = self._ranked(candidate, acl, parsed, start, size)
            if found.total:
                return found
        return SearchResults(total=0, hits=[])

    def _ranked(
        self, candidate: Candidate, acl: dict[str, Any], parsed: ParsedQuery, start: int,
        size: int,
    ) -> SearchResults:
        request: dict[str, Any] = {
            "query": bool_query(candidate, acl), "from": start, "size": size,
            "track_total_hits": True, "track_scores": True, "sort": _BY_SCORE,
            "_source": _HIT_FIELDS,
        }
        if size:
            request["highlight"] = highlight(parsed)
        response = self._search("search", request)
        hits = []
        for hit in response["hits"]["hits"]:
            src = hit["_source"]
            fragments = hit.get("highlight", {}).get("content", [])
            hits.append(SearchHit(
                id=src["doc_id"], source=src["source"], type=src["type"], title=src["title"],
                url=src["url"], snippet=safe_snippet(fragments[0]) if fragments else "",
                score=float(hit.get("_score") or 0.0),
            ))
        return SearchResults(total=int(response["hits"]["total"]["value"]), hits=hits,
                             partial=candidate.partial)

    def _browse(self, query: dict[str, Any], start: int, size: int) -> SearchResults:
        response = self._search("list visible documents", {
            "query": query, "from": start, "size": size,
            "track_total_hits": True, "sort": _BY_TITLE,
            "_source": [*_HIT_FIELDS, "content"],
        })
        hits = [
            SearchHit(id=src["doc_id"], source=src["source"], type=src["type"],
                      title=src["title"], url=src["url"],
                      snippet=leading_words(src["content"]), score=0.0)
            for src in (hit["_source"] for hit in response["hits"]["hits"])
        ]
        return SearchResults(total=int(response["hits"]["total"]["value"]), hits=hits)

    def _kinds(self) -> set[str]:
        """The document types in the index, re-read at most every ``KINDS_TTL`` seconds
        (another process may add a type) and at once after this instance writes."""
        now = time.monotonic()
        with self._kinds_lock:
            cached = self._kinds_cache
            if cached is not None and now - cached[0] <= KINDS_TTL:
                return cached[1]
        response = self._search("read the document types", {
            "size": 0, "aggs": {"kinds": {"terms": {"field": "type", "size": 100}}},
        })
        kinds = {b["key"] for b in response["aggregations"]["kinds"]["buckets"]}
        with self._kinds_lock:
            self._kinds_cache = (now, kinds)
        return kinds

    def _search(self, doing: str, request: dict[str, Any]) -> Any:
        return self._call(doing, lambda: self._client.search(index=self.alias, body=request))

    def _scan(self, query: dict[str, Any], fields: builtins.list[str]) -> Iterator[Any]:
        """Every hit of ``query`` (``_id`` and doc-value ``fields``), page by page."""
        after: builtins.list[Any] | None = None
        while True:
            request: dict[str, Any] = {
                "query": query, "size": SCAN_PAGE, "sort": [{"key": "asc"}],
                "_source": False, "docvalue_fields": fields, "track_total_hits": False,
            }
            if after is not None:
                request["search_after"] = after
            hits = self._search("read documents", request)["hits"]["hits"]
            yield from hits
            if len(hits) < SCAN_PAGE:
                return
            after = hits[-1]["sort"]

    # -- meaning vectors (the k-NN field) ----------------------------------------------------

    def store_vectors(
        self, items: Sequence[tuple[str, str, Vector]], *, model_id: str = ""
    ) -> int:
        """Set the meaning vector of documents, given as ``(source, id, vector)``; a document
        that is gone is skipped. Returns how many were stored. A vector has
        ``VECTOR_DIMENSION`` finite numbers, not all zero (``ValueError`` otherwise). Writing a
        document again (``upsert``) drops its vector. ``model_id`` is not recorded here (the
        mapping has no field for it): after a change of model, drop the index and sync again.
        """
        if not self.vectors:
            raise OpenSearchIndexError(
                f"the index at {self.url} has no vector field (the cluster had no k-NN plugin "
                "when it was made): semantic search is off")
        actions = [bulk.Action(doc_key(source, doc_id), {"vector": checked_vector(vector)},
                               partial=True) for source, doc_id, vector in items]
        if not actions:
            return 0
        written = bulk.write(self._caller, self._client, self.alias, actions, refresh=True)
        if not written.refreshed:
            self.refresh()
        return written.applied

    def missing_vectors(self, source: str, model_id: str = "") -> builtins.list[str]:
        """The ids of ``source``'s documents that have no vector (``model_id``: see
        ``store_vectors``)."""
        if not self.vectors:
            return []
        query = {"bool": {"filter": [{"term": {"source": source}}],
                          "must_not": [{"exists": {"field": "vector"}}]}}
        return sorted(hit["fields"]["doc_id"][0] for hit in self._scan(query, ["doc_id"]))

    def nearest(
        self, vector: Vector, grants: Collection[Grant], k: int, *,
        model_id: str | None = None,
    ) -> builtins.list[tuple[str, str, float]]:
        """The ``k`` visible documents whose vectors are nearest to ``vector``, as ``(source,
        id, cosine similarity)``, most similar first.

        The access filter is the k-NN query's own ``filter``: Lucene's HNSW search admits only
        visible documents while it walks the graph (and searches exactly when few are), so a
        user gets ``k`` of what they may see, never fewer because of what they may not.
        Documents without a vector are left out; an index without the vector field finds
        nothing.
        """
        allowed = checked_grants(grants)
        if not allowed or k <= 0 or not self.vectors:
            return []
        k = min(k, MAX_LIMIT)
        response = self._search("search by meaning", {
            "size": k,
            "query": {"knn": {"vector": {"vector": checked_vector(vector), "k": k,
                                         "filter": access_filter(allowed)}}},
            "_source": ["doc_id", "source"],
        })
        # Lucene's cosine score is (1 + cosine) / 2.
        return [(hit["_source"]["source"], hit["_source"]["doc_id"],
                 2.0 * float(hit["_score"]) - 1.0) for hit in response["hits"]["hits"]]

    # -- administration ---------------------------------------------------------------------

    def drop(self) -> None:
        """Delete the alias and every index of this prefix (all its documents)."""
        # By name, not by wildcard: a cluster may forbid wildcard deletes.
        found = self._call("find the search indices", lambda: self._client.indices.get(
            index=f"{self.alias}-v*", ignore=[404]))
        names = sorted(n for n, v in found.items() if isinstance(v, dict) and "settings" in v)
        if names:
            self._call("delete the search index", lambda: self._client.indices.delete(
                index=",".join(names), ignore=[404]))
        self._kinds_cache = None


def checked_vector(vector: Vector) -> builtins.list[float]:
    """``vector`` as a list of ``VECTOR_DIMENSION`` finite floats, not all zero."""
    values = [float(x) for x in vector]
    if len(values) != VECTOR_DIMENSION:
        raise ValueError(f"a vector needs {VECTOR_DIMENSION} numbers, not {len(values)}")
    if not all(math.isfinite(x) for x in values) or not any(values):
        raise ValueError("a vector needs finite numbers, not all zero")
    return values


def _window(start: int, size: int) -> tuple[int, int]:
    """``from`` and ``size`` within ``MAX_RESULT_WINDOW`` (past it, only the total)."""
    if start >= MAX_RESULT_WINDOW:
        return 0, 0
    return start, min(size, MAX_RESULT_WINDOW - start)


if TYPE_CHECKING:  # mypy proves OpenSearchIndex satisfies the protocol
    _: type[SearchIndex] = OpenSearchIndex
    _v: type[VectorIndex] = OpenSearchIndex
