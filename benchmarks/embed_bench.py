"""Scenario ``embed``: the embedding model (issue 13) on this machine's cores.

- **load**: ``import pdsearch.semantic`` and ``Embedder.load()`` in a fresh interpreter
  (median of 3), with its memory after loading (resident: all, anonymous, file-backed; and the
  peak);
- **throughput**: ``embed_documents`` over the meaning texts the sync embeds for every policy and
  schedule of the benchmark's account (each cut at the embedder's ``document_pieces``), batches
  of 32 sorted by length, in documents per second (wall) and CPU milliseconds per document;
- **queries**: ``embed_query`` latency over the paraphrase set, p50 and p99, the query cache
  emptied before each;
- **recall**: Recall@3 of the paraphrase set (``semantic_eval.py``) over the demo account and the
  benchmark's account, for the model alone (cosine over meaning texts) and for today's keyword
  search (``SqliteIndex`` over the documents the sync writes, as an administrator who sees all).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer

from benchmarks.marks import mark
from benchmarks.search_bench import base_documents
from benchmarks.semantic_eval import (
    EvalDocument,
    Paraphrase,
    account_documents,
    answerable,
    load_paraphrases,
    recall_at_k,
)
from pdsearch.index.base import Grant
from pdsearch.index.sqlite import SqliteIndex
from pdsearch.semantic import Embedder
from pdsearch.semantic.weights import package_model_dir
from pdsearch.simulator.account import Account
from pdsearch.simulator.config import SCALES

DEMO_SEED = 7
BATCH = 32
K = 3
# Targets (issue 13).
DOCS_PER_SECOND = 150
LOAD_SECONDS = 2.0

_LOAD_SCRIPT = textwrap.dedent("""
    import json, time
    started = time.perf_counter()
    from pdsearch.semantic import Embedder
    imported = time.perf_counter()
    Embedder.load()
    loaded = time.perf_counter()
    status = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
                status[key] = int(value.split()[0]) * 1024
    print(json.dumps({"import_seconds": imported - started, "load_seconds": loaded - imported,
                      "memory": status}))
""")


def measure_load(repeat: int = 3) -> dict[str, Any]:
    runs = []
    for _ in range(repeat):
        done = subprocess.run([sys.executable, "-c", _LOAD_SCRIPT], capture_output=True,
                              text=True, timeout=300, check=True)
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {
        "import_seconds": statistics.median(r["import_seconds"] for r in runs),
        "load_seconds": statistics.median(r["load_seconds"] for r in runs),
        "total_seconds": statistics.median(r["import_seconds"] + r["load_seconds"]
                                           for r in runs),
        "memory": {k: max(r["memory"].get(k, 0) for r in runs)
                   for k in ("VmRSS", "RssAnon", "RssFile", "VmHWM")},
        "runs": len(runs),
    }


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def keyword_recall(account: Account, docs: Sequence[EvalDocument],
                   questions: Sequence[Paraphrase]) -> dict[str, Any]:
    """Recall@3 of today's keyword search for the same questions, as an administrator."""
    themes = {d.id: d.themes for d in docs}
    indexed = base_documents(account, "bench")
    grants = {Grant(d.source, e) for d in indexed for e in d.sys_racl}
    found = 0
    with tempfile.TemporaryDirectory(prefix="pdsearch-embed-bench-") as home:
        index = SqliteIndex(Path(home) / "index.db")
        try:
            index.upsert(indexed)
            for q in questions:
                top = [h.id for h in index.search(q.question, grants, limit=K).hits]
                found += any(themes.get(i, frozenset()) & q.themes for i in top)
        finally:
            index.close()
    return {"recall": found / len(questions), "found": found, "asked": len(questions)}


def recall_figures(embedder: Embedder, account: Account, docs: Sequence[EvalDocument],
                   doc_vectors: Any) -> dict[str, Any]:
    questions = answerable(load_paraphrases(), docs)
    semantic = recall_at_k(doc_vectors, docs,
                           embedder.embed_documents([q.question for q in questions]), questions,
                           K)
    return {"documents": len(docs),
            "semantic": {"recall": semantic.recall, "found": semantic.found,
                         "asked": semantic.asked, "missed": semantic.missed},
            "keyword": keyword_recall(account, docs, questions)}


def run(account: Account, *, query_rounds: int, log: Callable[[str], None]) -> dict[str, Any]:
    log("embed: model load in fresh interpreters")
    results: dict[str, Any] = {"load": measure_load()}
    embedder = Embedder.load()
    docs = account_documents(account)
    texts = [d.text for d in docs]
    tokenizer = Tokenizer.from_file(str(package_model_dir() / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(embedder.max_tokens)
    whole = [len(e.ids) for e in tokenizer.encode_batch(texts)]
    pieces = [min(n, embedder.document_pieces) for n in whole]  # what the model reads

    log(f"embed: {len(texts):,} documents, batches of {BATCH}")
    embedder.embed_documents(texts[:BATCH])  # first-run allocations out of the timing
    started, cpu = time.perf_counter(), time.process_time()
    vectors = embedder.embed_documents(texts, batch_size=BATCH)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    results["throughput"] = {
        "documents": len(texts), "batch_size": BATCH, "seconds": wall,
        "documents_per_second": len(texts) / wall, "cpu_ms_per_document": 1000 * cpu / len(texts),
        "word_pieces_mean": statistics.fmean(pieces), "word_pieces_p90": _percentile(pieces, 0.9),
        "cut_at": embedder.document_pieces, "text_pieces_mean": statistics.fmean(whole),
        "texts_cut": sum(n > embedder.document_pieces for n in whole),
    }

    questions = [p.question for p in load_paraphrases()]
    log(f"embed: {query_rounds} rounds of {len(questions)} queries")
    latencies = []
    for _ in range(query_rounds):
        for question in questions:
            embedder.forget_queries()  # each round computes every query again, as a new one
            start = time.perf_counter()
            embedder.embed_query(question)
            latencies.append((time.perf_counter() - start) * 1000)
    results["queries"] = {"count": len(latencies), "p50_ms": _percentile(latencies, 0.5),
                          "p99_ms": _percentile(latencies, 0.99)}

    log("embed: Recall@3 of the paraphrase set")
    scale = SCALES["small"]
    demo = Account.generate(DEMO_SEED, scale.teams, scale.users, scale.schedules, scale.policies,
                            subdomain="acme")
    demo_docs = account_documents(demo)
    results["recall"] = {
        "demo": recall_figures(embedder, demo, demo_docs,
                               embedder.embed_documents([d.text for d in demo_docs])),
        "benchmark": recall_figures(embedder, account, docs, vectors),
    }
    results["model_id"] = embedder.model_id
    return results


def _cut(thr: dict[str, Any]) -> str:
    read = (f"mean {thr['word_pieces_mean']:.0f} word pieces read, p90 "
            f"{thr['word_pieces_p90']:.0f}")
    if "cut_at" not in thr:  # figures from before documents were cut
        return f" ({read})"
    return (f" ({read}: each text cut at {thr['cut_at']}, {thr['texts_cut']:,} of them longer; "
            f"the whole texts average {thr['text_pieces_mean']:.0f})")


def section(res: dict[str, Any]) -> list[str]:
    """The scenario's part of docs/BENCHMARKS.md."""
    load, thr, q = res["load"], res["throughput"], res["queries"]
    mem = {k: v / 2**20 for k, v in load["memory"].items()}
    rate = thr["documents_per_second"]
    lines = [
        "## Embedding model",
        "",
        f"`{res['model_id']}` on onnxruntime (`pdsearch/semantic/`, docs/SEMANTIC.md). Load: "
        "`import pdsearch.semantic` + `Embedder.load()` in a fresh interpreter, median of "
        f"{load['runs']}. Throughput: `embed_documents` of the meaning texts the sync embeds for "
        f"the benchmark account's {thr['documents']:,} policies and schedules{_cut(thr)}, "
        f"batches of {thr['batch_size']} sorted by length. Queries: `embed_query` of each "
        f"paraphrase, the query cache emptied before each, {q['count']:,} in all.",
        "",
        "| measure | value | target | |",
        "|---|---|---|---|",
        f"| model load (import {load['import_seconds']:.2f} s + load "
        f"{load['load_seconds']:.2f} s) | {load['total_seconds']:.2f} s | ≤ {LOAD_SECONDS:.0f} s "
        f"| {mark(load['total_seconds'] <= LOAD_SECONDS)} |",
        f"| memory after load: resident (anonymous + file-backed) | {mem['VmRSS']:.0f} MB "
        f"({mem['RssAnon']:.0f} + {mem['RssFile']:.0f}), peak {mem['VmHWM']:.0f} MB | | |",
        f"| throughput | {rate:,.0f} documents/s ({thr['cpu_ms_per_document']:.1f} CPU ms "
        f"each, {thr['cpu_ms_per_document'] / thr['word_pieces_mean']:.2f} a word piece) "
        f"| ≥ {DOCS_PER_SECOND} | {mark(rate >= DOCS_PER_SECOND)} |",
        f"| query embedding p50 / p99 | {q['p50_ms']:.1f} / {q['p99_ms']:.1f} ms | | |",
        "",
        "Recall@3 of the paraphrase set (tests/data/semantic/): a question counts when one of "
        "the first three documents belongs to a team that answers it. Keyword: today's "
        "`SqliteIndex` search as an administrator; semantic: the model alone, cosine over "
        "meaning texts. The hybrid target (issue 13) is 0.8.",
        "",
        "| account | documents | questions | keyword | semantic (model only) |",
        "|---|---|---|---|---|",
    ]
    for label, key in (("demo (seed 7, small)", "demo"), ("benchmark account", "benchmark")):
        r = res["recall"][key]
        kw, sem = r["keyword"], r["semantic"]
        lines.append(f"| {label} | {r['documents']:,} | {sem['asked']} | {kw['recall']:.2f} "
                     f"({kw['found']}) | {sem['recall']:.2f} ({sem['found']}) |")
    return [*lines, ""]
