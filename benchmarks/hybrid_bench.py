"""Part of scenario 4 (search): hybrid search, keyword and meaning fused (pdsearch/hybrid.py).

1. Recall@3 of questions in other words, keyword / meaning alone / hybrid side by side, on both
   paraphrase sets (``tests/data/semantic/paraphrases.json``, on which the fusion was tuned,
   and ``paraphrases-heldout.json``, measured once) over the demo account (seed 7, ``small``:
   the sets are written for its 12 themes) and over the benchmark's own account. A question
   counts when one of the first three documents belongs to a team of a theme that answers it;
   an administrator asks (every document is a candidate).
2. Latency at scale: the search scenario's replicated documents, each with the meaning vector
   of the document it copies (copies share their meaning text: one embedding per base
   document), searched with distinct paraphrase questions, each asked once (the query's
   embedding included: the process's query cache is emptied before each), in-process for the
   user who sees 2 % and for an administrator, and over HTTP (``pdsearch serve``, semantic
   search on, each question once: no cached query vector). The service's peak RSS (VmHWM)
   is read when it is stopped.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from benchmarks.search_bench import (
    ADMIN,
    TOKEN,
    USER,
    ServiceProcess,
    Timings,
    base_documents,
    prepare_home,
    replicate,
)
from benchmarks.semantic_eval import document_themes
from pdsearch.config import Settings
from pdsearch.hybrid import hybrid_search
from pdsearch.index.base import Document, Grant
from pdsearch.index.sqlite import SqliteIndex
from pdsearch.search import search
from pdsearch.semantic import Embedder
from pdsearch.simulator.account import Account
from pdsearch.simulator.config import SCALES
from pdsearch.store import Store

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "semantic"
SETS = ("paraphrases.json", "paraphrases-heldout.json")
DEMO_SEED = 7
STORE_BATCH = 2_000


def _store_vectors(index: SqliteIndex, items: Sequence[tuple[str, str, Any]],
                   model: Embedder) -> None:
    for start in range(0, len(items), STORE_BATCH):
        index.store_vectors(items[start:start + STORE_BATCH], model_id=model.model_id)


@dataclass(frozen=True)
class Embedded:
    """An account's documents as the sync maps them, with their meaning vectors."""

    account: Account
    docs: list[Document]
    vectors: Any  # float32 (n, 384), in the order of ``docs``
    seconds: float


def embedded(account: Account, model: Embedder) -> Embedded:
    docs = base_documents(account, "bench", services=True)
    started = time.perf_counter()
    vectors = model.embed_documents([d.meaning for d in docs])
    return Embedded(account, docs, vectors, time.perf_counter() - started)


def recall(data: Embedded, model: Embedder, log: Callable[[str], None]) -> dict[str, Any]:
    """Recall@3 of both sets over the account, keyword / meaning / hybrid."""
    account, docs, vectors = data.account, data.docs, data.vectors
    themes = document_themes(account, docs)
    present = set().union(*themes.values())
    grants = {Grant("bench", account.subdomain)}
    out: dict[str, Any] = {"documents": len(docs), "embed_seconds": data.seconds, "sets": {}}
    with tempfile.TemporaryDirectory(prefix="pdsearch-bench-recall-") as tmp, \
            SqliteIndex(Path(tmp) / "index.db") as index:
        index.upsert(docs)
        _store_vectors(index, [("bench", d.id, v) for d, v in zip(docs, vectors, strict=True)],
                       model)
        for name in SETS:
            questions = [q for q in json.loads((DATA / name).read_text(encoding="utf-8"))
                         if set(q["themes"]) & present]
            found = {"keyword": 0, "semantic": 0, "hybrid": 0}
            for q in questions:
                wanted = set(q["themes"])
                tops = {
                    "keyword": [h.id for h in index.search(q["question"], grants, 3).hits],
                    "semantic": [i for _, i, _ in index.nearest(
                        model.embed_query(q["question"]), grants, 3)],
                    "hybrid": [h.id for h in hybrid_search(index, model, q["question"], grants,
                                                           3, 0).hits],
                }
                for way, top in tops.items():
                    found[way] += any(themes[d] & wanted for d in top)
            out["sets"][name] = {"questions": len(questions),
                                 **{k: v / len(questions) if questions else float("nan")
                                    for k, v in found.items()}}
            log(f"search: recall@3 {name} on {len(docs):,} documents: "
                + ", ".join(f"{k} {v / max(1, len(questions)):.2f}" for k, v in found.items()))
    return out


def _questions() -> list[str]:
    return list(dict.fromkeys(q["question"] for name in SETS
                              for q in json.loads((DATA / name).read_text(encoding="utf-8"))))


def _peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def latency(data: Embedded, sizes: Sequence[int], model: Embedder, http: bool,
            log: Callable[[str], None]) -> dict[str, Any]:
    account, base = data.account, data.docs
    by_meaning = dict(zip((d.meaning for d in base), data.vectors, strict=True))
    questions = _questions()
    out: dict[str, Any] = {"questions": len(questions), "base_documents": len(base),
                           "sizes": {}}
    with tempfile.TemporaryDirectory(prefix="pdsearch-bench-hybrid-") as tmp:
        for size in sizes:
            home = Path(tmp) / f"home-{size}"
            docs = replicate(base, size, account.subdomain)
            figures = prepare_home(home, docs, account.subdomain)
            settings = Settings(home=home)
            store = Store.open(settings)
            index = SqliteIndex(settings.index_path)
            try:
                source = store.connectors.list()[0][0].id
                meaning = {d.id: d.meaning for d in docs}
                _store_vectors(index, [(source, d.id, by_meaning[meaning[d.id]])
                                       for d in (replace(x, source=source) for x in docs)],
                               model)
                figures["vectors"] = index.vector_count()
                for who, email in (("user", USER), ("admin", ADMIN)):
                    samples = []
                    for question in questions:
                        model.forget_queries()
                        began = time.perf_counter()
                        search(index, store.entities, question, email, embedder=model)
                        samples.append(time.perf_counter() - began)
                    figures[who] = Timings(samples).summary()
            finally:
                index.close()
                store.close()
            if http:
                figures["http"], figures["serve_peak_rss_mb"] = _over_http(home, questions)
            log(f"search: hybrid at {size:,}: user p50 {figures['user']['p50_ms']:.1f} ms, "
                f"admin p50 {figures['admin']['p50_ms']:.1f} ms"
                + (f", HTTP p50 {figures['http']['p50_ms']:.1f} ms" if http else ""))
            out["sizes"][str(size)] = figures
    return out


def _over_http(home: Path, questions: Sequence[str]) -> tuple[dict[str, float], float | None]:
    with ServiceProcess(home, {"PDSEARCH_SEMANTIC": "on"}) as service, httpx.Client(
        base_url=service.base_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
    ) as client:
        client.post("/api/v1/search", json={"query": "warm up", "user": USER}).raise_for_status()
        samples = []
        for question in questions:
            began = time.perf_counter()
            client.post("/api/v1/search", json={"query": question, "user": USER}
                        ).raise_for_status()
            samples.append(time.perf_counter() - began)
        pid = service.pid
        return Timings(samples).summary(), _peak_rss_mb(pid) if pid else None


def run(account: Account, sizes: Sequence[int], *, http: bool = True, quick: bool = False,
        log: Callable[[str], None] = print) -> dict[str, Any]:
    """Recall on the demo account (and, in the full form, the benchmark's), then latency over
    the benchmark account's documents replicated (the demo's in the quick form: it is
    embedded already, and the harness must stay short)."""
    model = Embedder.load()
    scale = SCALES["small"]
    demo = embedded(Account.generate(DEMO_SEED, scale.teams, scale.users, scale.schedules,
                                     scale.policies, subdomain="acme"), model)
    log(f"search: {len(demo.docs)} demo documents embedded in {demo.seconds:.1f} s")
    found = {"demo": recall(demo, model, log)}
    base = demo
    if not quick:
        base = embedded(account, model)
        log(f"search: {len(base.docs):,} documents embedded in {base.seconds:.1f} s")
        found["benchmark"] = recall(base, model, log)
    return {"recall": found, "latency": latency(base, sizes, model, http, log)}


#: Targets of issue 13 (hybrid search).
RECALL_TARGET = 0.8
USER_P50_MS, USER_P99_MS, ADMIN_P50_MS, HTTP_P50_MS, RSS_MB = 8.0, 25.0, 40.0, 15.0, 700.0


def _ok(value: float, target: float, *, at_least: bool = False) -> str:
    ok = value >= target if at_least else value <= target
    return "met" if ok else "**missed**"


def section(res: dict[str, Any]) -> list[str]:
    """The hybrid part of the search section (report.py)."""
    out = [
        "### Hybrid search (keyword and meaning fused)",
        "",
        "Recall@3 of questions in other words (`benchmarks/hybrid_bench.py`): keyword search, "
        "the model alone (nearest vectors) and hybrid search (`pdsearch/hybrid.py`), asked by "
        "an administrator. `paraphrases.json` tuned the fusion; `paraphrases-heldout.json` was "
        "written for hybrid search and measured once.",
        "",
        "| account | documents | set | questions | keyword | meaning alone | hybrid | target |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for account, fig in res["recall"].items():
        for name, row in fig["sets"].items():
            out.append(
                f"| {account} | {fig['documents']:,} | `{name}` | {row['questions']} "
                f"| {row['keyword']:.2f} | {row['semantic']:.2f} | {row['hybrid']:.2f} "
                f"| ≥ {RECALL_TARGET} hybrid: {_ok(row['hybrid'], RECALL_TARGET, at_least=True)} |")
    lat = res["latency"]
    out += [
        "",
        f"Latency: the scenario's replicated documents with their vectors; {lat['questions']} "
        "distinct paraphrase questions, each asked once, the query's embedding included (the "
        "query cache emptied before each); in-process `pdsearch.search.search` with the "
        "embedder, HTTP `POST /api/v1/search` of `pdsearch serve` (semantic on). Peak RSS: "
        "the service's VmHWM after the HTTP run. Times in ms.",
        "",
        "| documents | vectors | user p50 | p99 | admin p50 | p99 | HTTP p50 | p99 | serve peak "
        "RSS |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    nan = {"p50_ms": float("nan"), "p99_ms": float("nan")}
    for size, fig in lat["sizes"].items():
        http = fig.get("http", nan)
        rss = fig.get("serve_peak_rss_mb")
        out.append(
            f"| {int(size):,} | {fig['vectors']:,} | {fig['user']['p50_ms']:.1f} "
            f"| {fig['user']['p99_ms']:.1f} | {fig['admin']['p50_ms']:.1f} "
            f"| {fig['admin']['p99_ms']:.1f} | {http['p50_ms']:.1f} | {http['p99_ms']:.1f} "
            f"| {f'{rss:.0f} MB' if rss else '–'} |")
    size, fig = max(lat["sizes"].items(), key=lambda kv: int(kv[0]))
    http = fig.get("http", nan)
    out += [
        "",
        f"Targets at {int(size):,} documents (issue 13 names 100,000):",
        "",
        "| measure | value | target | |",
        "|---|---|---|---|",
        f"| user p50 | {fig['user']['p50_ms']:.1f} ms | ≤ {USER_P50_MS} ms | "
        f"{_ok(fig['user']['p50_ms'], USER_P50_MS)} |",
        f"| user p99 | {fig['user']['p99_ms']:.1f} ms | ≤ {USER_P99_MS} ms | "
        f"{_ok(fig['user']['p99_ms'], USER_P99_MS)} |",
        f"| admin p50 | {fig['admin']['p50_ms']:.1f} ms | ≤ {ADMIN_P50_MS} ms | "
        f"{_ok(fig['admin']['p50_ms'], ADMIN_P50_MS)} |",
        f"| HTTP p50 | {http['p50_ms']:.1f} ms | ≤ {HTTP_P50_MS} ms | "
        f"{_ok(http['p50_ms'], HTTP_P50_MS)} |",
    ]
    rss = fig.get("serve_peak_rss_mb")
    if rss:
        out.append(f"| serve peak RSS | {rss:.0f} MB | ≤ {RSS_MB:.0f} MB | {_ok(rss, RSS_MB)} |")
    out.append("")
    return out
