"""Scenario 7 (issue 16): the OpenSearch index beside SQLite, same documents, same run.

The documents, the searching user (about 2 % visible) and the queries are scenario 4's
(``search_bench``). One data directory holds the store and the SQLite index; the same documents
go into OpenSearch (one node, on 127.0.0.1) under a prefix of their own. Then, per query class:

- OpenSearch in-process: ``pdsearch.search.search`` on an ``OpenSearchIndex`` (as the user, and
  as an administrator who sees everything);
- HTTP: ``POST /api/v1/search`` of ``pdsearch serve`` in its own process, once with
  ``PDSEARCH_INDEX_URL`` (OpenSearch) and once without (SQLite), one keep-alive client each,
  the same rounds.

Indexing: every document written as a sync writes them (``upsert`` calls of the sync's batch
size, each ending with a refresh), timed end to end, with the CPU time the node reports having
spent (so a loaded machine's figure can be told from the work itself), after a warm-up
(``WARM_UP``); then the merges those writes set off are waited for before searching. The
SQLite figure is scenario 4's way.

Meaning vectors, last: a random unit vector of 384 numbers for each of the first
``VECTOR_DOCS`` documents (stored as partial updates of 1,000 documents a call), then k-NN
searches whose filter is the access filter, k = 10, in-process, as the user and as an
administrator. Random vectors have no
structure for HNSW to exploit: a harder case than a model's.

The node: ``--index-url`` (or ``PDSEARCH_BENCH_INDEX_URL``), else one started here through
``pdsearch.devservices`` (full JIT, 1 GB heap) and stopped at the end.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from opensearchpy import OpenSearch

from benchmarks import search_bench
from benchmarks.marks import MB, mark, ms, secs
from benchmarks.search_bench import ADMIN, QUERIES, TOKEN, USER, ServiceProcess
from pdsearch.config import Settings
from pdsearch.index.base import Document, Grant
from pdsearch.index.opensearch import VECTOR_DIMENSION, OpenSearchIndex
from pdsearch.search import search
from pdsearch.simulator.account import Account
from pdsearch.store import Store
from pdsearch.sync.engine import BATCH_SIZE

URL_ENV = "PDSEARCH_BENCH_INDEX_URL"
NODE_HEAP = "1g"
#: Documents written (and searched) into a scratch index before measuring: a node that has just
#: started spends much of its CPU compiling its indexing and search paths (C2), which a node in
#: service did long ago. The figures are the warm node's.
WARM_UP = 10_000

# Targets (issue 16): OpenSearch, one node, at 100,000 documents.
OS_HTTP_P50_MS = 25.0
OS_HTTP_P99_MS = 80.0
OS_INDEX_RATE = 2000


@contextlib.contextmanager
def node(index_url: str | None, log: Callable[[str], None]) -> Iterator[str]:
    """The URL of the node to measure: given, or one started (and stopped) here."""
    given = index_url or os.environ.get(URL_ENV)
    if given:
        yield given
        return
    from pdsearch.devservices import Options, running

    log("opensearch: starting a node (pdsearch.devservices, full JIT)")
    with running(Options(opensearch_heap=NODE_HEAP), postgres=False) as services:
        if services.index_url is None:
            raise RuntimeError("pdsearch.devservices started no OpenSearch node")
        yield services.index_url


# A node refreshes its process statistics once a second (``monitor.process.refresh_interval``,
# 1 s by default), so a reading taken sooner after the work may not include it yet.
PROCESS_STATS_REFRESH_SECONDS = 1.1


def _node_cpu_seconds(client: OpenSearch) -> float:
    """CPU time the cluster's nodes have used (one node here), from their own statistics."""
    nodes = client.nodes.stats(metric="process")["nodes"].values()
    return float(sum(n["process"]["cpu"]["total_in_millis"] for n in nodes)) / 1000


def _merges_running(client: OpenSearch, alias: str) -> int:
    stats = client.indices.stats(index=alias, metric="merge")
    return int(stats["_all"]["primaries"]["merges"]["current"])


def index_documents(
    index: OpenSearchIndex, client: OpenSearch, docs: Sequence[Document], *, refresh: bool = True
) -> dict[str, float]:
    """Write ``docs`` the way a sync does (``refresh``: each call refreshed; else one refresh
    at the end, a bulk load), then wait for the merges that set off; the figures, with the CPU
    time the node and this process spent."""
    node_before, own_before = _node_cpu_seconds(client), time.process_time()
    started = time.perf_counter()
    for start in range(0, len(docs), BATCH_SIZE):
        index.upsert(docs[start:start + BATCH_SIZE], refresh=refresh)
    if not refresh:
        index.refresh()
    seconds = time.perf_counter() - started
    own_cpu = time.process_time() - own_before
    time.sleep(PROCESS_STATS_REFRESH_SECONDS)
    node_cpu = _node_cpu_seconds(client) - node_before
    settle_started = time.perf_counter()
    while _merges_running(client, index.alias) and time.perf_counter() - settle_started < 600:
        time.sleep(0.5)
    settled = time.perf_counter() - settle_started
    stats = client.indices.stats(index=index.alias, metric="store,segments")["_all"]["primaries"]
    return {"documents": len(docs), "batch": BATCH_SIZE, "seconds": seconds,
            "docs_per_second": len(docs) / seconds if seconds else float("inf"),
            "node_cpu_seconds": node_cpu, "client_cpu_seconds": own_cpu,
            "node_cpu_ms_per_doc": node_cpu * 1000 / len(docs),
            "merge_settle_seconds": settled, "segments": stats["segments"]["count"],
            "store_bytes": stats["store"]["size_in_bytes"]}


def warm_up(url: str, docs: Sequence[Document], log: Callable[[str], None]) -> float:
    """Index and search a scratch copy of the first documents, then delete it; the seconds."""
    started = time.perf_counter()
    with OpenSearchIndex(url, prefix=f"pdsearch-bench-warm-{uuid.uuid4().hex[:8]}") as scratch:
        try:
            for start in range(0, len(docs), BATCH_SIZE):
                scratch.upsert(docs[start:start + BATCH_SIZE])
            grants = {Grant(d.source, d.sys_racl[0]) for d in docs[:1]}
            for queries in QUERIES.values():
                for query in queries:
                    scratch.search(query, grants)
        finally:
            scratch.drop()
    seconds = time.perf_counter() - started
    log(f"opensearch: warmed the node up with {len(docs):,} documents in {seconds:.1f} s")
    return seconds


def bulk_load(url: str, client: OpenSearch, docs: Sequence[Document]) -> dict[str, float]:
    """The same writes into a scratch index with one refresh at the end: what a refresh per
    call costs."""
    with OpenSearchIndex(url, prefix=f"pdsearch-bench-load-{uuid.uuid4().hex[:8]}") as scratch:
        try:
            return index_documents(scratch, client, docs, refresh=False)
        finally:
            scratch.drop()


VECTOR_BATCH = 1000
NEAREST_K = 10
#: Documents given a vector (the first ones): storing one costs the node about 2 ms (a partial
#: update rewrites the document, and HNSW inserts it), so all 100,000 would take minutes.
VECTOR_DOCS = 20_000


def measure_vectors(
    url: str, prefix: str, client: OpenSearch, keys: Sequence[tuple[str, str]], rounds: int,
    home: Path,
) -> dict[str, Any]:
    """Store a random unit vector (384 numbers, seeded) for every document, then time k-NN
    searches filtered by access, as the user (about 2 % visible) and as an administrator."""
    rng = np.random.default_rng(7)
    settings = Settings(home=home)
    store = Store.open(settings)
    index = OpenSearchIndex(url, prefix=prefix)
    try:
        node_before = _node_cpu_seconds(client)
        started = time.perf_counter()
        stored = 0
        for start in range(0, len(keys), VECTOR_BATCH):
            chunk = keys[start:start + VECTOR_BATCH]
            vectors = _unit(rng.standard_normal((len(chunk), VECTOR_DIMENSION)))
            stored += index.store_vectors(
                [(source, doc_id, v.tolist()) for (source, doc_id), v in zip(chunk, vectors,
                                                                             strict=True)])
        seconds = time.perf_counter() - started
        time.sleep(PROCESS_STATS_REFRESH_SECONDS)
        node_cpu = _node_cpu_seconds(client) - node_before
        while _merges_running(client, index.alias):
            time.sleep(0.5)
        queries = _unit(rng.standard_normal((20, VECTOR_DIMENSION)))
        out: dict[str, Any] = {"stored": stored, "seconds": seconds,
                               "vectors_per_second": stored / seconds if seconds else 0.0,
                               "node_cpu_ms_per_vector": node_cpu * 1000 / max(1, stored),
                               "k": NEAREST_K}
        for who, email in (("user", USER), ("admin", ADMIN)):
            grants = {Grant(source, e) for source in {k[0] for k in keys}
                      for e in store.entities.for_user(email, source)}
            found = [len(index.nearest(q.tolist(), grants, NEAREST_K)) for q in queries]
            samples = []
            for _ in range(max(1, rounds // 4)):
                for q in queries:
                    begun = time.perf_counter()
                    index.nearest(q.tolist(), grants, NEAREST_K)
                    samples.append(time.perf_counter() - begun)
            out[who] = {**search_bench.Timings(samples).summary(),
                        "found": sum(found) / len(found)}
        return out
    finally:
        index.close()
        store.close()


def _unit(rows: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    out: np.ndarray[Any, Any] = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return out


def _http_runner(client: httpx.Client) -> Callable[[str], int]:
    def run(query: str) -> int:
        response = client.post("/api/v1/search", json={"query": query, "user": USER})
        response.raise_for_status()
        return int(response.json()["total"])

    return run


def _over_http(home: Path, rounds: int, env: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    # Keyword search on both backends (hybrid search is measured by hybrid_bench.py).
    with ServiceProcess(home, env={"PDSEARCH_SEMANTIC": "off", **env}) as service, httpx.Client(
        base_url=service.base_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
    ) as client:
        run = _http_runner(client)
        search_bench.settle(run)
        search_bench.settle(run)  # the JVM compiles the query path on first use: twice
        for name, queries in QUERIES.items():
            timings, hits, medians = search_bench.time_each(run, queries, rounds)
            out[name] = {"timing": timings.summary(), "hits": hits, "by_query": medians}
    return out


def measure(home: Path, url: str, prefix: str, rounds: int, http: bool) -> dict[str, Any]:
    settings = Settings(home=home)
    store = Store.open(settings)
    index = OpenSearchIndex(url, prefix=prefix)
    classes: dict[str, Any] = {}
    try:
        def in_process(query: str) -> int:
            return search(index, store.entities, query, USER).total

        def as_admin(query: str) -> int:
            return search(index, store.entities, query, ADMIN).total

        search_bench.settle(in_process)
        search_bench.settle(in_process)
        for name, queries in QUERIES.items():
            timings, hits, medians = search_bench.time_each(in_process, queries, rounds)
            admin, admin_hits, _ = search_bench.time_each(as_admin, queries, rounds)
            classes[name] = {"queries": list(queries), "hits": hits,
                             "in_process": timings.summary(), "in_process_by_query": medians,
                             "admin": admin.summary(), "admin_hits": admin_hits}
    finally:
        index.close()
        store.close()
    if http:
        sqlite = _over_http(home, rounds, {})
        opensearch = _over_http(home, rounds, {"PDSEARCH_INDEX_URL": url,
                                               "PDSEARCH_INDEX_PREFIX": prefix})
        for name in QUERIES:
            classes[name]["http"] = opensearch[name]["timing"]
            classes[name]["http_hits"] = opensearch[name]["hits"]
            classes[name]["http_by_query"] = opensearch[name]["by_query"]
            classes[name]["sqlite_http"] = sqlite[name]["timing"]
            classes[name]["sqlite_http_hits"] = sqlite[name]["hits"]
    return classes


def run(account: Account, size: int, rounds: int, *, index_url: str | None = None,
        http: bool = True, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Scenario 7 at ``size`` documents; the figures as a dict."""
    base = search_bench.base_documents(account, "bench")
    docs = search_bench.replicate(base, size, account.subdomain)
    prefix = f"pdsearch-bench-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="pdsearch-bench-os-") as tmp, \
            node(index_url, log) as url:
        home = Path(tmp) / "home"
        sqlite = search_bench.prepare_home(home, docs, account.subdomain)
        log(f"opensearch: SQLite indexed {size:,} documents at "
            f"{sqlite['docs_per_second']:,.0f}/s")
        store = Store.open(Settings(home=home))
        try:
            source = store.connectors.list()[0][0].id
        finally:
            store.close()
        warmed = warm_up(url, docs[:min(WARM_UP, len(docs) // 10)], log)
        index = OpenSearchIndex(url, prefix=prefix)
        client = OpenSearch(hosts=[url], timeout=120)
        try:
            mine = [replace(d, source=source) for d in docs]
            indexing = index_documents(index, client, mine)
            log(f"opensearch: indexed {size:,} documents at {indexing['docs_per_second']:,.0f}/s "
                f"({BATCH_SIZE} a call, each refreshed)")
            index.close()
            loaded = bulk_load(url, client, mine)
            log(f"opensearch: bulk-loaded them at {loaded['docs_per_second']:,.0f}/s "
                "(one refresh at the end)")
            classes = measure(home, url, prefix, rounds, http)
            vectors = measure_vectors(url, prefix, client,
                                      [(d.source, d.id) for d in mine[:VECTOR_DOCS]], rounds, home)
            log(f"opensearch: stored {vectors['stored']:,} vectors at "
                f"{vectors['vectors_per_second']:,.0f}/s; k-NN p50 "
                f"{vectors['user']['p50_ms']:.1f} ms (user), {vectors['admin']['p50_ms']:.1f} ms "
                "(admin)")
        finally:
            with OpenSearchIndex(url, prefix=prefix) as cleanup:
                cleanup.drop()
            index.close()
            client.close()
    return {"documents": size, "visible": sqlite["visible"], "warm_up_seconds": warmed,
            "visible_share": sqlite["visible_share"], "indexing": indexing, "bulk_load": loaded,
            "vectors": vectors,
            "sqlite_indexing": {k: sqlite[k] for k in ("index_seconds", "docs_per_second")},
            "batch": BATCH_SIZE, "classes": classes}


def section(res: dict[str, Any]) -> list[str]:
    """Scenario 7 in the report (docs/BENCHMARKS.md)."""
    nan = {"p50_ms": math.nan, "p99_ms": math.nan}
    indexing = res["indexing"]
    out = [
        "## 7. OpenSearch beside SQLite",
        "",
        f"{res['documents']:,} documents (scenario 4's, the user sees {res['visible']:,} = "
        f"{res['visible_share']:.1%}) in one OpenSearch 2.19 node on 127.0.0.1 and in SQLite, "
        "one store. In-process: `pdsearch.search.search` on `OpenSearchIndex` (admin: an "
        "administrator, who sees every document). HTTP: `POST /api/v1/search` of `pdsearch "
        "serve` in its own process, with `PDSEARCH_INDEX_URL` (OpenSearch) and without "
        "(SQLite), one keep-alive client each, after the same warm-up. Indexing: `upsert` "
        f"calls of the sync's batch ({indexing['batch']} documents), each ending with a "
        "refresh (what a sync does), on a node warmed up first (a scratch index of 10% of the "
        "documents, written and searched, then deleted: a node just started spends its CPU "
        "compiling). Times in ms; hits = mean total the user gets.",
        "",
        "| query | hits | OpenSearch in-process p50 | p99 | OpenSearch HTTP p50 | p99 | "
        "SQLite HTTP p50 | p99 | admin hits | admin p50 | p99 |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, cls in res["classes"].items():
        http, sqlite = cls.get("http", nan), cls.get("sqlite_http", nan)
        out.append(
            f"| {name} (`{cls['queries'][0]}` …) | {cls['hits']:.0f} "
            f"| {ms(cls['in_process']['p50_ms'])} | {ms(cls['in_process']['p99_ms'])} "
            f"| {ms(http['p50_ms'])} | {ms(http['p99_ms'])} "
            f"| {ms(sqlite['p50_ms'])} | {ms(sqlite['p99_ms'])} "
            f"| {cls['admin_hits']:.0f} | {ms(cls['admin']['p50_ms'])} "
            f"| {ms(cls['admin']['p99_ms'])} |"
        )
    out.append("")
    https = [c["http"] for c in res["classes"].values() if "http" in c]
    rate = indexing["docs_per_second"]
    rows = [
        f"Targets at {res['documents']:,} documents (worst query class):",
        "",
        "| measure | value | target | |",
        "|---|---|---|---|",
    ]
    if https:
        p50 = max(h["p50_ms"] for h in https)
        p99 = max(h["p99_ms"] for h in https)
        rows += [
            f"| OpenSearch HTTP p50 | {p50:.2f} ms | ≤ {OS_HTTP_P50_MS:g} ms | "
            f"{mark(p50 <= OS_HTTP_P50_MS)} |",
            f"| OpenSearch HTTP p99 | {p99:.2f} ms | ≤ {OS_HTTP_P99_MS:g} ms | "
            f"{mark(p99 <= OS_HTTP_P99_MS)} |",
        ]
    load = res.get("bulk_load")
    rows += [
        f"| OpenSearch indexing as a sync writes (a refresh per {indexing['batch']}) | "
        f"{rate:,.0f} documents/s ({secs(indexing['seconds'])}) | "
        f"≥ {OS_INDEX_RATE:,} | {mark(rate >= OS_INDEX_RATE)} |",
    ]
    if load:
        bulk_rate = load["docs_per_second"]
        rows.append(
            f"| OpenSearch bulk load (same requests, one refresh at the end) | "
            f"{bulk_rate:,.0f} documents/s ({secs(load['seconds'])}) | ≥ {OS_INDEX_RATE:,} | "
            f"{mark(bulk_rate >= OS_INDEX_RATE)} |")
    rows += [
        f"| SQLite indexing, same documents | "
        f"{res['sqlite_indexing']['docs_per_second']:,.0f} documents/s | | |",
        "",
    ]
    if indexing.get("node_cpu_ms_per_doc"):
        rows += [
            f"Indexing cost, as a sync writes: the node spent {indexing['node_cpu_seconds']:.1f} "
            f"CPU-seconds ({indexing['node_cpu_ms_per_doc']:.3f} ms a document, "
            f"{1000 / indexing['node_cpu_ms_per_doc']:,.0f} documents per CPU-second), this "
            f"process {indexing['client_cpu_seconds']:.1f}; the merges the writes set off "
            f"ended {indexing['merge_settle_seconds']:.1f} s after the last write, leaving "
            f"{indexing['segments']} segments, {indexing['store_bytes'] / MB:.0f} MB."
            + (f" Bulk load: {load['node_cpu_ms_per_doc']:.3f} ms of node CPU a document."
               if load else ""),
            "",
        ]
    vectors = res.get("vectors")
    if vectors:
        rows += [
            f"Meaning vectors: {vectors['stored']:,} random unit vectors of 384 numbers (for "
            f"the first {vectors['stored']:,} of the {res['documents']:,} documents) stored "
            f"at {vectors['vectors_per_second']:,.0f} a second "
            f"({vectors['node_cpu_ms_per_vector']:.2f} ms of node CPU each: a partial update "
            "rewrites the document and inserts into the HNSW graph, lucene engine); k-NN with "
            f"the access filter as the query's filter, k = {vectors['k']}:",
            "",
            "| searcher | found (mean) | p50 | p99 |",
            "|---|---|---|---|",
            f"| user ({res['visible_share']:.1%} visible) | {vectors['user']['found']:.1f} | "
            f"{ms(vectors['user']['p50_ms'])} | {ms(vectors['user']['p99_ms'])} |",
            f"| administrator (all) | {vectors['admin']['found']:.1f} | "
            f"{ms(vectors['admin']['p50_ms'])} | {ms(vectors['admin']['p99_ms'])} |",
            "",
        ]
    return out + rows
