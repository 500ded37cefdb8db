"""Scenario 4: search latency at 10,000 and 100,000 documents, and indexing throughput.

The documents are real pdsearch documents: the simulated account's policies and schedules read
back through PagerDuty's shapes and mapped by ``pdsearch.documents``, then replicated under new
ids until the wanted count is reached. Each copy spreads the original teams over ``TEAMS``
benchmark teams, so one team holds about 2 % of the documents, and the searching user is a
member of exactly one of them: the 2 % user is a real store user, resolved to entities the way
every search is.

Per size, each query class (one word, two words, a phrase, a prefix) is timed three ways:

- in-process: ``pdsearch.search.search`` (the store's entity look-up, then ``SqliteIndex``);
- over HTTP: ``POST /api/v1/search`` of ``pdsearch serve`` (``create_app`` under uvicorn) in its
  own process on 127.0.0.1, from one keep-alive client;
- the floor: the same MATCH expression the index builds for the words, without the access
  filter, as raw FTS5 SQL (count, then the first page of 10 ranked with snippets, as the index
  does), on its own connection.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import apsw
import httpx

from pdsearch.config import Settings
from pdsearch.documents import build_context, policy_document, schedule_document
from pdsearch.index.base import Document
from pdsearch.index.query import to_fts
from pdsearch.index.sqlite import SqliteIndex
from pdsearch.pagerduty.models import EscalationPolicy, Schedule, ScheduleV3, Team, User
from pdsearch.permissions import Entity
from pdsearch.search import search
from pdsearch.simulator.account import Account
from pdsearch.store import Store
from pdsearch.sync.engine import BATCH_SIZE

#: Benchmark teams the copies are spread over: one team is about 1/TEAMS of the documents.
TEAMS = 50
USER = "searcher@bench.example.com"
ADMIN = "admin@bench.example.com"
TOKEN = "benchmark-api-token-0123456789abcdef"
SERVER_START_SECONDS = 60.0
SETTLE_SECONDS = 1.0

#: Per class, four queries of the kind people type (names of teams, people, places) and, last,
#: one of words in a quarter to half of all documents, the worst case for ranking.
QUERIES: dict[str, tuple[str, ...]] = {
    "one word": ("checkout", "singapore", "nelson", "fulfillment", "weekly"),
    "two words": ("checkout primary", "ella nelson", "analytics secondary",
                  "fulfillment secondary", "weekly rotation"),
    "phrase": ('"web frontend"', '"analytics primary"', '"ella nelson"', '"weekday on-call"',
               '"after 30 minutes"'),
    "prefix": ("check*", "sing*", "fulfil*", "stor*", "rot*"),
}


@dataclass
class Timings:
    samples: list[float]

    def summary(self) -> dict[str, float]:
        ordered = sorted(self.samples)
        return {
            "p50_ms": _percentile(ordered, 0.50) * 1000,
            "p99_ms": _percentile(ordered, 0.99) * 1000,
            "n": float(len(ordered)),
        }


def _percentile(ordered: Sequence[float], q: float) -> float:
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def base_documents(account: Account, source: str, *, services: bool = False) -> list[Document]:
    """Every policy and schedule of ``account`` as the sync maps them; ``services``: with what
    each service does (the sync reads ``/services``; the keyword scenarios leave it out, so
    their figures stay comparable with earlier runs)."""
    users = [User.model_validate(account.render_user(i, True)) for i in account.list_ids("users")]
    teams = [Team.model_validate(account.render_team(i)) for i in account.list_ids("teams")]
    v2 = [Schedule.model_validate(account.render_schedule(i))
          for i in account.list_ids("schedules")]
    v3 = [ScheduleV3.model_validate(account.render_schedule_v3(i))
          for i in account.list_ids("schedules_v3")]
    policies = [
        EscalationPolicy.model_validate(
            account.render_policy(i, ("services", "teams", "targets")))
        for i in account.list_ids("escalation_policies")
    ]
    described = ({i: s.get("description") or "" for i, s in account.services.items()}
                 if services else None)
    ctx = build_context(account.subdomain, users, teams, v2, v3, policies, described)
    docs = [policy_document(p, ctx, source) for p in policies]
    schedules: list[Schedule | ScheduleV3] = [*v2, *v3]
    docs += [schedule_document(s, ctx, source) for s in schedules]
    return docs


def team_id(number: int) -> str:
    return f"PBT{number:04d}"


def replicate(base: Sequence[Document], count: int, subdomain: str) -> list[Document]:
    """``count`` documents: the base ones, then copies with new ids, their teams spread out."""
    if not base:
        raise ValueError("the account mapped to no documents; nothing to replicate")
    original_teams = sorted({t for d in base for t in d.sys_racl[1:]})
    position = {t: i for i, t in enumerate(original_teams)}
    out: list[Document] = []
    copy = 0
    while len(out) < count:
        for doc in base:
            if len(out) >= count:
                break
            teams = tuple(dict.fromkeys(
                team_id((position[t] + copy * 7) % TEAMS) for t in doc.sys_racl[1:]
            ))
            suffix = "" if copy == 0 else f"C{copy}"
            out.append(replace(doc, id=doc.id + suffix, sys_racl=(subdomain, *teams),
                               content_hash=""))
        copy += 1
    return out


def prepare_home(home: Path, docs: Sequence[Document], subdomain: str) -> dict[str, Any]:
    """A service data directory: a connector, its entities and the index with ``docs``.

    Returns the indexing figures and how many documents the searching user may see.
    """
    settings = Settings(home=home)
    store = Store.open(settings)
    try:
        connector = store.connectors.create("bench", "api_key", "us", {"api_key": "unused"})
        entities = [Entity(subdomain, subdomain, "account", frozenset({ADMIN}))]
        entities += [
            Entity(team_id(n), f"Team {n}", "team", frozenset({USER} if n == 0 else set()))
            for n in range(TEAMS)
        ]
        store.entities.replace_derived(connector.id, entities)
        visible_to = store.entities.for_user(USER, connector.id)
    finally:
        store.close()
    docs = [replace(d, source=connector.id) for d in docs]
    index = SqliteIndex(settings.index_path)
    try:
        started = time.perf_counter()
        for start in range(0, len(docs), BATCH_SIZE):
            index.upsert(docs[start:start + BATCH_SIZE])
        seconds = time.perf_counter() - started
    finally:
        index.close()
    visible = sum(1 for d in docs if visible_to & set(d.sys_racl))
    return {
        "documents": len(docs),
        "index_seconds": seconds,
        "docs_per_second": len(docs) / seconds if seconds else float("inf"),
        "visible": visible,
        "visible_share": visible / len(docs),
        "user_entities": sorted(visible_to),
    }


def time_each(
    run: Callable[[str], int], queries: Sequence[str], rounds: int
) -> tuple[Timings, float, dict[str, float]]:
    """Time ``run`` on every query ``rounds`` times (after one warm-up): all samples, the mean
    total hits, and each query's median in ms."""
    totals = [run(q) for q in queries]  # warm-up: caches and the kinds look-up
    per_query: dict[str, list[float]] = {q: [] for q in queries}
    for _ in range(rounds):
        for query in queries:
            started = time.perf_counter()
            run(query)
            per_query[query].append(time.perf_counter() - started)
    samples = [t for ts in per_query.values() for t in ts]
    medians = {q: statistics.median(ts) * 1000 for q, ts in per_query.items()}
    return Timings(samples), statistics.fmean(totals), medians


def settle(run: Callable[[str], int]) -> None:
    """Run every query once, then give the index a second: on opening, an index of more than
    10,000 documents reads its document-frequency snapshot in the background (0.2 s at
    100,000) and ranks with FTS5's bm25 until it has it. The figures are the steady state."""
    for queries in QUERIES.values():
        for query in queries:
            run(query)
    time.sleep(SETTLE_SECONDS)


def _raw_runner(index_path: Path) -> Callable[[str], int]:
    # The index's own SQLite (APSW's), so the floor differs from pdsearch only in what it does.
    conn = apsw.Connection(str(index_path), flags=apsw.SQLITE_OPEN_READONLY)
    count_sql = "SELECT count(*) FROM docs_fts WHERE docs_fts MATCH ?"
    page_sql = (
        "SELECT d.id, d.type, d.title, d.url, "
        "snippet(docs_fts, 1, '<mark>', '</mark>', '…', 32), docs_fts.rank "
        "FROM docs_fts CROSS JOIN docs AS d ON d.rid = docs_fts.rowid "
        "WHERE docs_fts MATCH ? ORDER BY docs_fts.rank LIMIT 10"
    )

    def run(query: str) -> int:
        words = to_fts(query)
        if words is None:
            return 0
        match = "(" + words + ")"  # as SqliteIndex builds it, less the access filter
        total = int(next(conn.execute(count_sql, (match,)))[0])
        conn.execute(page_sql, (match,)).fetchall()
        return total

    return run


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServiceProcess:
    """``pdsearch serve`` on a loopback port in a child process, stopped on exit; ``env`` adds
    ``PDSEARCH_*`` settings (the parent's own are not passed on)."""

    def __init__(self, home: Path, env: dict[str, str] | None = None) -> None:
        self.home = home
        self.env = dict(env or {})
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def __enter__(self) -> ServiceProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PDSEARCH_")}
        env["PDSEARCH_API_TOKEN"] = TOKEN
        env.update(self.env)
        self._process = subprocess.Popen(
            [sys.executable, "-m", "pdsearch", "serve", "--data-dir", str(self.home),
             "--port", str(self.port), "--log-level", "warning"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + SERVER_START_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                err = self._process.stderr.read().decode() if self._process.stderr else ""
                raise RuntimeError(f"pdsearch serve exited: {err[-2000:]}")
            try:
                httpx.get(self.base_url + "/api/v1/connectors", timeout=1.0,
                          headers={"Authorization": f"Bearer {TOKEN}"}).raise_for_status()
                return self
            except httpx.HTTPError:
                time.sleep(0.2)
        self.__exit__(None, None, None)
        raise RuntimeError("pdsearch serve did not answer within 60 seconds")

    def __exit__(self, *exc: object) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)
        if self._process is not None and self._process.stderr is not None:
            self._process.stderr.close()
        self._process = None


def measure_size(home: Path, rounds: int, http: bool) -> dict[str, Any]:
    """Latencies for every query class against one prepared data directory."""
    settings = Settings(home=home)
    store = Store.open(settings)
    index = SqliteIndex(settings.index_path)
    raw = _raw_runner(settings.index_path)
    classes: dict[str, Any] = {}
    try:
        def in_process(query: str) -> int:
            return search(index, store.entities, query, USER).total

        def as_admin(query: str) -> int:
            return search(index, store.entities, query, ADMIN).total

        settle(in_process)
        for name, queries in QUERIES.items():
            timings, hits, medians = time_each(in_process, queries, rounds)
            admin_timings, admin_hits, admin_medians = time_each(as_admin, queries, rounds)
            raw_timings, raw_hits, raw_medians = time_each(raw, queries, rounds)
            classes[name] = {
                "admin": admin_timings.summary(),
                "admin_hits": admin_hits,
                "admin_by_query": admin_medians,
                "queries": list(queries),
                "hits": hits,
                "raw_hits": raw_hits,
                "in_process": timings.summary(),
                "in_process_by_query": medians,
                "raw": raw_timings.summary(),
                "raw_by_query": raw_medians,
            }
    finally:
        index.close()
        store.close()
    if http:
        # Keyword search, as in-process: hybrid search is measured by hybrid_bench.py.
        with ServiceProcess(home, {"PDSEARCH_SEMANTIC": "off"}) as service, httpx.Client(
            base_url=service.base_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
        ) as client:
            def over_http(query: str) -> int:
                response = client.post("/api/v1/search", json={"query": query, "user": USER})
                response.raise_for_status()
                return int(response.json()["total"])

            settle(over_http)
            for name, queries in QUERIES.items():
                timings, hits, _ = time_each(over_http, queries, rounds)
                classes[name]["http"] = timings.summary()
                classes[name]["http_hits"] = hits
    return classes


def run(account: Account, sizes: Sequence[int], rounds: int, *, http: bool = True,
        log: Callable[[str], None] = print) -> dict[str, Any]:
    """Scenario 4 for every size in ``sizes``; the figures as a dict."""
    started = time.perf_counter()
    base = base_documents(account, "bench")
    log(f"search: {len(base):,} documents mapped from the account in "
        f"{time.perf_counter() - started:.1f} s")
    results: dict[str, Any] = {"base_documents": len(base), "teams": TEAMS, "sizes": {}}
    with tempfile.TemporaryDirectory(prefix="pdsearch-bench-search-") as tmp:
        for size in sizes:
            home = Path(tmp) / f"home-{size}"
            docs = replicate(base, size, account.subdomain)
            figures = prepare_home(home, docs, account.subdomain)
            log(f"search: indexed {size:,} documents at {figures['docs_per_second']:,.0f}/s; "
                f"the user sees {figures['visible']:,} ({figures['visible_share']:.1%})")
            figures["classes"] = measure_size(home, rounds, http)
            results["sizes"][str(size)] = figures
    return results
