"""``python -m benchmarks`` (``./run bench``): issue 7's scenarios, results in docs/BENCHMARKS.md.

    ./run bench                         # the full form, about 15 minutes on 2 cores
    ./run bench --quick                 # small sizes in well under a minute (CI), no page written
    ./run bench --scenarios sync,search # a choice of: sync, ratelimit, peers, incremental,
                                        # search, embed, store, opensearch
    ./run bench --scenarios opensearch --index-url http://127.0.0.1:9200   # a running node

Scenarios (see each module's docstring):

1. ``sync``      pdsearch's full sync of a large account, simulator on loopback, 50 ms latency;
2. ``ratelimit`` the same under a binding per-minute budget, against the bound it imposes;
3. ``peers``     PagerDuty's own Python client on the same account: iter_all, and by id;
4. ``search``    latency at 10,000 and 100,000 documents, in-process, over HTTP, raw FTS5 floor;
                 hybrid search: Recall@3 keyword / meaning / hybrid, and its latency;
5. ``embed``     the embedding model: load time and memory, documents/s, query latency, and
                 Recall@3 of the paraphrase set, keyword and semantic;
6. ``store``     the state store's hot paths on SQLite and PostgreSQL (``--database-url``);
7. ``opensearch`` the OpenSearch index beside SQLite at 100,000 documents (issue 16): indexing
                 rate, search latency in-process and over HTTP, on one node (``--index-url``,
                 else one started through ``pdsearch.devservices``);
8. ``incremental`` incremental syncs from audit records on the sync scenarios' account: nothing
                 changed and k = 10 changes (requests, seconds), the budget at every 5 minutes;
9. ``replicas``  two ``pdsearch serve`` on one PostgreSQL and one OpenSearch under search load
                 and syncs, the scheduler's leader killed mid-run (``benchmarks/replicas_bench``);
10. ``oncall``   an on-call refresh's requests (full, nothing changed, one override) against
                 PagerDuty's budget, and what answering adds to a search (issue 14).

The full form rewrites ``docs/BENCHMARKS.md`` (keeping its hand-written ``## Notes``) and
``docs/benchmarks.json``; the quick form writes only where ``--output`` / ``--json`` say.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import (
    embed_bench,
    hybrid_bench,
    incremental_bench,
    machine,
    oncall_bench,
    opensearch_bench,
    replicas_bench,
    report,
    search_bench,
    store_bench,
    sync_bench,
)
from pdsearch.simulator.account import Account

SCENARIOS = ("sync", "ratelimit", "peers", "incremental", "search", "embed", "store",
             "opensearch", "replicas", "oncall")
DOCS = Path(__file__).resolve().parent.parent / "docs"


@dataclass(frozen=True)
class Form:
    """The sizes of one form of the run."""

    teams: int
    users: int
    schedules: int
    policies: int
    latency_ms: int
    budget_fraction: float  # the sync needs this many windows' worth of budget
    time_scale: float  # > 1 shortens the rate-limit window (short form only)
    search_sizes: tuple[int, ...]
    search_rounds: int
    query_rounds: int  # embed: times each paraphrase is embedded as a query
    opensearch_size: int  # opensearch: documents, in both backends
    store_rounds: int
    replicas: tuple[int, float, float, int]  # clients, seconds, kill at, one-time schedules


FULL = Form(teams=400, users=10_000, schedules=2_000, policies=2_000, latency_ms=50,
            budget_fraction=1.6, time_scale=1.0, search_sizes=(10_000, 100_000),
            search_rounds=40, query_rounds=5, opensearch_size=100_000,
            store_rounds=3000, replicas=(50, 60.0, 20.0, 8))
QUICK = Form(teams=30, users=1_000, schedules=200, policies=200, latency_ms=20,
             budget_fraction=1.2, time_scale=20.0, search_sizes=(2_000, 5_000),
             search_rounds=5, query_rounds=1, opensearch_size=2_000, store_rounds=300,
             replicas=(10, 20.0, 6.0, 4))


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Run pdsearch's benchmarks against the simulator on loopback.",
    )
    parser.add_argument("--quick", action="store_true",
                        help="small sizes, for CI: checks the harness, not the targets")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help=f"comma-separated choice of {', '.join(SCENARIOS)} (default: all)")
    parser.add_argument("--output", type=Path, default=None,
                        help="Markdown file to write (default: docs/BENCHMARKS.md for the full "
                        "form, none for --quick)")
    parser.add_argument("--json", type=Path, default=None, dest="json_path",
                        help="also write the raw figures as JSON (default: docs/benchmarks.json "
                        "for the full form)")
    parser.add_argument("--seed", type=int, default=1, help="the simulated account's seed")
    parser.add_argument("--index-url", default=None,
                        help="OpenSearch node for the opensearch scenario (default: "
                        f"${opensearch_bench.URL_ENV}, else one started for the run)")
    parser.add_argument("--database-url", default=os.environ.get("PDSEARCH_TEST_DATABASE_URL"),
                        help="a PostgreSQL server for the store scenario (default "
                        "PDSEARCH_TEST_DATABASE_URL; without one only SQLite is measured)")
    parser.add_argument("--no-http", action="store_true",
                        help="skip the HTTP search measurements (no service process)")
    args = parser.parse_args(argv)
    chosen = {s.strip() for s in args.scenarios.split(",") if s.strip()}
    unknown = chosen - set(SCENARIOS)
    if unknown or not chosen:
        parser.error(f"unknown scenarios {sorted(unknown)}; choose from {', '.join(SCENARIOS)}")
    args.chosen = chosen
    return args


def _notes(path: Path) -> str:
    """The hand-written notes of an existing page, kept across runs."""
    try:
        text = path.read_text()
    except OSError:
        return ""
    _, found, notes = text.partition("\n## Notes\n")
    return notes.strip() if found else ""


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run(form: Form, chosen: set[str], *, seed: int = 1, http: bool = True,
        quick: bool = False, index_url: str | None = None,
        database_url: str | None = None) -> dict[str, Any]:
    """Run the chosen scenarios; every figure in one dict (what ``report.render`` reads)."""
    started = time.perf_counter()
    results: dict[str, Any] = {"quick": quick, "machine": machine.describe(),
                               "scenarios": sorted(chosen),
                               "search_target_size": max(form.search_sizes)}
    if chosen - {"store"}:
        _log(f"generating the account: {form.teams} teams, {form.users} users, "
             f"{form.schedules} schedules, {form.policies} policies")
        account = Account.generate(seed, form.teams, form.users, form.schedules,
                                   form.policies, subdomain="acme")
    sync_chosen = chosen & {"sync", "ratelimit", "peers"}
    if sync_chosen:
        results["sync_scenarios"] = sync_bench.run(
            account, latency_ms=form.latency_ms, scenarios=sync_chosen,
            budget_fraction=form.budget_fraction, time_scale=form.time_scale, log=_log,
        )
    if "incremental" in chosen:
        results["incremental"] = incremental_bench.run(
            account, latency_ms=form.latency_ms, changes=10, log=_log)
    if "search" in chosen:
        results["search"] = search_bench.run(
            account, form.search_sizes, form.search_rounds, http=http, log=_log
        )
        results["search"]["hybrid"] = hybrid_bench.run(account, form.search_sizes, http=http,
                                                       quick=quick, log=_log)
    if "embed" in chosen:
        results["embed"] = embed_bench.run(account, query_rounds=form.query_rounds, log=_log)
    if "opensearch" in chosen:
        results["opensearch"] = opensearch_bench.run(
            account, form.opensearch_size, form.search_rounds, index_url=index_url, http=http,
            log=_log,
        )
    if "store" in chosen:
        results["store"] = store_bench.run(database_url, form.store_rounds, log=_log)
    if "replicas" in chosen:
        clients, seconds, kill_at, schedules = form.replicas
        results["replicas"] = replicas_bench.run_replicas(
            clients, seconds, kill_at, schedules, database_url, index_url, log=_log
        ).as_dict()
    if "oncall" in chosen:
        # A fresh copy of the account: the incremental scenario's writes (audit records) would
        # make "nothing changed" refreshes read changes.
        fresh = Account.generate(seed, form.teams, form.users, form.schedules, form.policies,
                                 subdomain="acme")
        results["oncall"] = oncall_bench.run(fresh, form.store_rounds, log=_log)
    results["machine"]["load_after"] = machine.load_average()
    results["elapsed_seconds"] = time.perf_counter() - started
    return results


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    form = QUICK if args.quick else FULL
    output = args.output or (None if args.quick else DOCS / "BENCHMARKS.md")
    json_path = args.json_path or (None if args.quick else DOCS / "benchmarks.json")
    results = run(form, args.chosen, seed=args.seed, http=not args.no_http, quick=args.quick,
                  index_url=args.index_url, database_url=args.database_url)
    page = report.render(results, _notes(output) if output else "")
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(page)
        _log(f"wrote {output}")
    else:
        print(page)
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
        _log(f"wrote {json_path}")
    _log(f"done in {results['elapsed_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
