"""Measure the access-filter forms of the SQLite index, to choose between them with figures.

    .venv/bin/python -m benchmarks.search_index [--docs 50000] [--repeat 30] [--json]

Builds a synthetic index (``--docs`` documents of ~100 words, 100 teams, every document held by
the account entity and one team) with ``SqliteIndex``, then times one search (count + first page
of 10, the way ``SqliteIndex.search`` does it) three ways for a user holding one team (~1 % of
the documents visible) and for an administrator (all visible):

- ``token``: the entity tokens ANDed into the MATCH (what ``SqliteIndex`` does);
- ``+rowid IN``: MATCH on the query only, ``AND +rowid IN (SELECT doc FROM acl WHERE entity IN
  (...))`` against a side table built for this benchmark;
- ``rowid IN``: the same without ``+``, which lets the planner drive FTS5 by rowid instead
  (timed for the one-team user only: for the administrator it probes FTS5 once per document,
  taking seconds per query already at 5,000 documents).

Every form must return the same totals; the run stops if they differ.

Measured on the 2-core dev machine (SQLite 3.40.1, 50,000 documents, busy with other work, so
read the ratios more than the absolute times), p50 per search:

    user        query                 token     +rowid IN   rowid IN
    one team    payments (261 hits)   3.9 ms    49 ms       950 ms
    one team    database (19)         1.3 ms    6.3 ms      157 ms
    one team    kubernetes (2)        0.4 ms    0.6 ms      50 ms
    one team    on-call rotation      8.9 ms    46 ms       1960 ms
    admin       database (2,495)      7.7 ms    37 ms       (seconds)
    admin       payments (25,009)     60 ms     55 ms       (seconds)

(Measured with the user's words under a ``{title content}`` column filter in every form;
index schema 3 dropped it, which makes ranking cheaper in all three: docs/BENCHMARKS.md.)

The token form is never meaningfully slower and is up to 12x faster when few documents are
visible, so ``SqliteIndex`` uses it; ``tests/index/test_index_sqlite.py`` pins its plan.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

from pdsearch.index.base import Document, Grant
from pdsearch.index.query import to_fts
from pdsearch.index.sqlite import SqliteIndex, acl_expression

TEAMS = 100
ACCOUNT = "acme"
# Probe words and the share of documents that contain them.
PROBES = {"payments": 0.5, "database": 0.05, "kubernetes": 0.005, "zanzibar": 0.0005}
QUERIES = ["payments", "database", "kubernetes", "zanzibar", "payments database", "kube*",
           '"payments database"', "on-call rotation"]
SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "ta", "shi", "po", "ve", "da", "qua", "zen", "tor",
             "bel", "fin", "gar", "hul", "jis", "wex", "yor"]


def _vocabulary(rng: random.Random, size: int = 20_000) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def synthetic_documents(n: int, seed: int = 7) -> Iterator[Document]:
    rng = random.Random(seed)
    vocab = _vocabulary(rng)
    cum, acc = [], 0.0
    for rank in range(len(vocab)):
        acc += 1.0 / (rank + 1)  # Zipf-like, as prose is
        cum.append(acc)
    for i in range(n):
        words = rng.choices(vocab, cum_weights=cum, k=95)
        for probe, share in PROBES.items():
            if rng.random() < share:
                words.insert(rng.randrange(len(words)), probe)
        if rng.random() < 0.3:
            words.extend(["on-call", "rotation"])
        team = f"PT{i % TEAMS:05d}"
        yield Document(
            id=f"schedule:S{i}",
            type="schedule",
            title=" ".join(rng.choices(vocab[:2000], k=3)).title(),
            content=" ".join(words),
            url=f"https://{ACCOUNT}.pagerduty.com/schedules/S{i}",
            sys_racl=(ACCOUNT, team),
            source="bench",
        )


def build(path: Path, n: int) -> tuple[SqliteIndex, float]:
    """The index and the seconds its upserts took (in batches of 1,000)."""
    index = SqliteIndex(path)
    docs = list(synthetic_documents(n))
    started = time.perf_counter()
    for start in range(0, n, 1000):
        index.upsert(docs[start : start + 1000])
    elapsed = time.perf_counter() - started
    # The side table for the +rowid IN form, filled from the index's own rows.
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE IF NOT EXISTS bench_acl (entity TEXT, doc INTEGER, "
            "PRIMARY KEY (entity, doc)) WITHOUT ROWID"
        )
        db.execute("DELETE FROM bench_acl")
        db.execute(
            "INSERT INTO bench_acl SELECT j.value, d.rid FROM docs AS d, json_each(d.sys_racl) AS j"
        )
    return index, elapsed


_PAGE_ROWID_IN = """
SELECT d.id, snippet(docs_fts, 1, '[', ']', '…', 32), docs_fts.rank
FROM docs_fts CROSS JOIN docs AS d ON d.rid = docs_fts.rowid
WHERE docs_fts MATCH ?
  AND {plus}docs_fts.rowid IN (SELECT doc FROM bench_acl WHERE entity IN ({qs}))
ORDER BY docs_fts.rank LIMIT 10
"""
_COUNT_ROWID_IN = """
SELECT count(*) FROM docs_fts
WHERE docs_fts MATCH ?
  AND {plus}docs_fts.rowid IN (SELECT doc FROM bench_acl WHERE entity IN ({qs}))
"""


def rowid_in_search(db: sqlite3.Connection, plus: bool) -> Callable[[str, set[str]], int]:
    def search(query: str, entities: set[str]) -> int:
        user = to_fts(query)
        if user is None:
            raise ValueError(f"the benchmark query {query!r} has no words to match")
        match = "(" + user + ")"  # as the token form's user part (no column filter)
        ents = sorted(entities)
        fmt = {"plus": "+" if plus else "", "qs": ", ".join("?" * len(ents))}
        total = int(db.execute(_COUNT_ROWID_IN.format(**fmt), (match, *ents)).fetchone()[0])
        db.execute(_PAGE_ROWID_IN.format(**fmt), (match, *ents)).fetchall()
        return total

    return search


def timed(fn: Callable[[], int], repeat: int) -> tuple[int, float, float]:
    fn()  # warm the page cache
    times, total = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        total = fn()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return total, statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.95))]


def run(docs: int, repeat: int, path: Path) -> dict[str, object]:
    index, build_s = build(path, docs)
    db = sqlite3.connect(path)
    forms: dict[str, Callable[[str, set[str]], int]] = {
        "token": lambda q, e: index.search(q, {Grant("bench", x) for x in e}, limit=10).total,
        "+rowid IN": rowid_in_search(db, plus=True),
        "rowid IN": rowid_in_search(db, plus=False),
    }
    users = {"one team (~1%)": {"PT00001"}, "admin (100%)": {ACCOUNT}}
    rows: list[dict[str, object]] = []
    for user, entities in users.items():
        for query in QUERIES:
            totals: dict[str, int] = {}
            for form, search in forms.items():
                if form == "rowid IN" and ACCOUNT in entities:
                    continue  # one FTS5 probe per visible row: seconds per query; not worth timing
                reps = repeat if form != "rowid IN" else max(3, repeat // 10)
                total, p50, p95 = timed(partial(search, query, entities), reps)
                totals[form] = total
                rows.append({"user": user, "query": query, "form": form, "total": total,
                             "p50_ms": round(p50, 3), "p95_ms": round(p95, 3)})
            if len(set(totals.values())) != 1:
                raise SystemExit(f"forms disagree on {query!r} for {user}: {totals}")
    db.close()
    plan = index.explain("payments", {Grant("bench", "PT00001")})
    index.close()
    return {"docs": docs, "build_seconds": round(build_s, 1),
            "build_docs_per_second": round(docs / build_s), "sqlite": sqlite3.sqlite_version,
            "acl_expression_example": acl_expression({Grant("bench", "PT00001")}), "plan": plan,
            "rows": rows}


def print_table(result: dict[str, object]) -> None:
    print(f"SQLite {result['sqlite']}, {result['docs']} documents, built in "
          f"{result['build_seconds']} s ({result['build_docs_per_second']} docs/s)")
    print("plan of the token form: " + " | ".join(result["plan"]))  # type: ignore[arg-type]
    print(f"{'user':16} {'query':22} {'form':10} {'total':>6} {'p50 ms':>8} {'p95 ms':>8}")
    for r in result["rows"]:  # type: ignore[attr-defined]
        print(f"{r['user']:16} {r['query']:22} {r['form']:10} {r['total']:>6} "
              f"{r['p50_ms']:>8.2f} {r['p95_ms']:>8.2f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--docs", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument(
        "--path", type=Path, help="index file to (re)build; a temporary one if unset"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.path or Path(tmp) / "bench-index.db"
        if path.exists():
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
        result = run(args.docs, args.repeat, path)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)


if __name__ == "__main__":
    main()
