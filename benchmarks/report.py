"""The results as Markdown (docs/BENCHMARKS.md): machine, one table per scenario, targets."""

from __future__ import annotations

import math
from typing import Any

from benchmarks import (
    embed_bench,
    incremental_bench,
    oncall_bench,
    opensearch_bench,
    replicas_bench,
    store_bench,
)
from benchmarks.marks import MB, mark, ms, secs

# Targets (issue 7).
REQUESTS_RATIO = 1.05
RSS_MB = 300
#: Issue 13: a first sync with semantic search on takes at most 25 % longer than keyword only;
#: one with nothing changed embeds nothing and takes no longer (10 % allowed for the noise
#: between two runs of a few seconds).
SEMANTIC_FIRST_RATIO = 1.25
SEMANTIC_SECOND_RATIO = 1.10
WALL_TO_BOUND = 1.15
P50_MS = 2.0
P99_MS = 10.0
FLOOR_RATIO = 1.5
HTTP_P50_MS = 10.0
INDEX_RATE = 5000


def machine_section(machine: dict[str, Any], quick: bool, elapsed: float) -> list[str]:
    load_before = machine.get("load_before")
    load_after = machine.get("load_after")

    def load(v: Any) -> str:
        return " / ".join(f"{x:.2f}" for x in v) if v else "unknown"

    ram = machine.get("ram_gib")
    form = "--quick (small sizes; not comparable with the targets)" if quick else "full"
    return [
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        f"| date | {machine['date']} |",
        f"| CPU | {machine['cpu']} |",
        f"| cores | {machine['cores']} |",
        f"| RAM | {f'{ram:.1f} GiB' if ram else 'unknown'} |",
        f"| OS | {machine['os']} |",
        f"| Python | {machine['python']} |",
        f"| SQLite | {machine['sqlite']} |",
        f"| commit | {machine.get('commit') or 'unknown'} |",
        f"| form | {form} |",
        f"| load average (1/5/15 min) before / after | {load(load_before)} — {load(load_after)} |",
        f"| whole run | {secs(elapsed)} |",
        "",
    ]


def sync_section(res: dict[str, Any]) -> list[str]:
    out: list[str] = []
    truth = res["truth"]
    minimum = res["minimum_requests"]
    out += [
        "## 1. Full sync of a large account",
        "",
        f"Account: {truth['teams']:,} teams, {truth['users']:,} users, "
        f"{truth['escalation_policies']:,} escalation policies, {truth['schedules']:,} layer-based "
        f"and {truth['schedules_v3']:,} shift-based (v3) schedules → "
        f"{res['documents_expected']:,} documents. Simulator on 127.0.0.1 with "
        f"{res['latency_ms']} ms latency per request, no binding rate limit. The sync is "
        "pdsearch's own (`SyncService.run` with a `Store` and `SqliteIndex` in a temporary "
        "directory) in a child process.",
        "",
        "Minimum requests: "
        + ", ".join(f"{name} {n}" for name, n in minimum.items())
        + f" = **{res['minimum_total']}**.",
        "",
    ]
    sync = res.get("sync")
    if sync:
        ratio = sync["requests_ratio"]
        rss = sync["peak_rss_bytes"] / MB
        out += [
            "| measure | value | target | |",
            "|---|---|---|---|",
            f"| job status | {sync['status']} ({sync['documents']:,} documents) | succeeded | "
            f"{mark(sync['status'] == 'succeeded')} |",
            f"| requests | {sync['requests']} = {ratio:.3f} × minimum | ≤ {REQUESTS_RATIO} × | "
            f"{mark(ratio <= REQUESTS_RATIO)} |",
            f"| wall time | {secs(sync['wall_seconds'])} | | |",
            f"| documents per second | {sync['docs_per_second']:,.0f} | | |",
            f"| peak RSS (sync process) | {rss:.0f} MB | ≤ {RSS_MB} MB | {mark(rss <= RSS_MB)} |",
            f"| latency floor (minimum requests, {sync.get('max_concurrency') or 4} in flight) | "
            f"{secs(sync['latency_bound_seconds'])} | | |",
            f"| simulator CPU during the sync | {secs(sync['simulator_cpu_seconds'])} | | |",
            f"| next syncs, nothing changed (median of {len(sync.get('second_walls', [0]))}) | "
            f"{secs(sync['second_wall_seconds'])} | | |",
            "",
        ]
    out += semantic_sync_rows(res.get("sync_semantic"))
    return out


def semantic_sync_rows(sem: dict[str, Any] | None) -> list[str]:
    """The same sync with semantic search on (issue 13): the job ends when its documents are
    written; the vectors follow it (pdsearch/sync/vectors.py)."""
    if not sem:
        return []
    vectors = sem.get("vectors") or {}
    done, total = int(vectors.get("done", 0)), int(vectors.get("total", 0))
    embedding = sem["vectors_wall_seconds"] - sem["wall_seconds"]
    rate = done / embedding if embedding > 0 else 0.0
    first_ok = sem["wall_ratio"] <= SEMANTIC_FIRST_RATIO
    second_ok = sem["second_embedded"] == 0 and sem["second_wall_ratio"] <= SEMANTIC_SECOND_RATIO
    return [
        "With semantic search on (the default: all-MiniLM-L6-v2; the job ends once its documents "
        "are written and searchable by keyword, and the meaning vectors follow it):",
        "",
        "| measure | value | target | |",
        "|---|---|---|---|",
        f"| job status | {sem['status']} ({sem['documents']:,} documents) | succeeded | "
        f"{mark(sem['status'] == 'succeeded')} |",
        f"| first sync's wall time (job) | {secs(sem['wall_seconds'])} = {sem['wall_ratio']:.2f} × "
        f"keyword only | ≤ {SEMANTIC_FIRST_RATIO} × | {mark(first_ok)} |",
        f"| vectors done after the start | {secs(sem['vectors_wall_seconds'])} ({done:,} of "
        f"{total:,}, {vectors.get('state', '?')}; {rate:,.0f} documents/s) | | |",
        f"| documents with a vector | {sem['vector_count']:,} | all | "
        f"{mark(sem['vector_count'] == sem['documents'])} |",
        f"| next syncs, nothing changed (median of {len(sem.get('second_walls', [0]))}) | "
        f"{secs(sem['second_wall_seconds'])} = "
        f"{sem['second_wall_ratio']:.2f} × keyword only, {sem['second_embedded']} embedded | "
        f"nothing embedded, ≤ {SEMANTIC_SECOND_RATIO} × | {mark(second_ok)} |",
        f"| peak RSS (sync process, model loaded) | {sem['peak_rss_bytes'] / MB:.0f} MB | | |",
        "",
    ]


def ratelimit_section(res: dict[str, Any]) -> list[str]:
    lim = res.get("ratelimit")
    if not lim:
        return []
    ratio = lim["wall_to_bound"]
    scaled = lim["time_scale"] != 1.0
    return [
        "## 2. Full sync under a binding rate limit",
        "",
        f"The same account and latency; the simulator allows {lim['budget_per_window']} requests "
        f"per token per {lim['window_seconds']:.0f}-second window"
        + (f" (time running {lim['time_scale']:g}× fast, short form only)" if scaled else "")
        + f", so the {res['minimum_total']} requests need "
        f"{res['minimum_total'] / lim['budget_per_window']:.2f} windows' worth of budget. "
        "The bound is what that budget and the latency allow at the least (see "
        "`benchmarks/sync_bench.py`): max((k − 1) × window + ceil(r / c) × latency, "
        "ceil(N / c) × latency) for N minimum requests, k = ceil(N / budget) windows, r requests "
        "in the last window and c = the client's concurrency.",
        "",
        "| measure | value | target | |",
        "|---|---|---|---|",
        f"| job status | {lim['status']} ({lim['documents']:,} documents) | succeeded | "
        f"{mark(lim['status'] == 'succeeded')} |",
        f"| wall time | {secs(lim['wall_seconds'])} | | |",
        f"| bound | {secs(lim['bound_seconds'])} | | |",
        f"| wall / bound | {ratio:.3f} | ≤ {WALL_TO_BOUND} | {mark(ratio <= WALL_TO_BOUND)} |",
        f"| requests | {lim['requests']} | | |",
        f"| failed requests (429 or 5xx answers) | {lim['failed_requests']} | 0 | "
        f"{mark(lim['failed_requests'] == 0)} |",
        f"| times the client held a request back to keep its reserve | {lim['throttled']} | | |",
        "",
    ]


def peers_section(res: dict[str, Any]) -> list[str]:
    listed, byid, ours = res.get("peer_list"), res.get("peer_byid"), res.get("sync")
    if not listed or not byid:
        return []
    objects = res["objects"]
    out = [
        "## 3. Peers: PagerDuty's Python client on the same account, same run",
        "",
        "Same simulator, latency and account as scenario 1. *iter_all*: `pagerduty` "
        "(python-pagerduty) `RestApiV2Client.iter_all` on teams, users, escalation policies, "
        "schedules and v3 schedules in turn with the same `include[]` as pdsearch, then a GET of "
        "each v3 schedule (their list holds references only), serially as scripts do. *By id*: "
        f"list each collection's ids, then GET each of the {objects:,} objects, with "
        f"{byid['threads']} threads (pdsearch's own concurrency). 'Budget' is the share of "
        "PagerDuty's real 960 requests/minute the method spends: how many minutes it needs at "
        "the least on a real account.",
        "",
        "| method | wall time | requests | objects read / in the account | budget at 960/min |",
        "|---|---|---|---|---|",
    ]
    if ours:
        out.append(
            f"| pdsearch full sync | {secs(ours['wall_seconds'])} | {ours['requests']} | all "
            f"({ours['documents']:,} documents) | {ours['requests'] / 960:.2f} min |"
        )
    share = listed["completeness"]["share"]
    missing = listed["completeness"]["missing"]
    out.append(
        f"| pagerduty iter_all, serial | {secs(listed['wall_seconds'])} | {listed['requests']} | "
        f"{share:.1%}" + (f" (missing {missing})" if missing else "")
        + f" | {listed['requests'] / 960:.2f} min |"
    )
    out.append(
        f"| pagerduty by id, {byid['threads']} threads | {secs(byid['wall_seconds'])} | "
        f"{byid['requests']:,} | {byid['completeness']:.1%} | {byid['requests'] / 960:.2f} min |"
    )
    out.append("")
    if ours:
        out += [
            "Ratios, ours / theirs (below 1 means pdsearch needs less):",
            "",
            "| against | wall time | requests | completeness |",
            "|---|---|---|---|",
            f"| iter_all, serial | {ours['wall_seconds'] / listed['wall_seconds']:.2f} | "
            f"{ours['requests'] / listed['requests']:.2f} | {1 / share:.2f} |",
            f"| by id | {ours['wall_seconds'] / byid['wall_seconds']:.3f} | "
            f"{ours['requests'] / byid['requests']:.3f} | {1 / byid['completeness']:.2f} |",
            "",
        ]
    warnings = listed.get("warnings") or []
    if warnings:
        out += ["iter_all warned: " + "; ".join(f"`{w[:200]}`" for w in warnings[:3]), ""]
    else:
        out += [
            "iter_all gave no warning: no collection of this account passes offset 10,000 "
            "(exactly 10,000 users end at offset 9,900 + limit 100). One user more and it would "
            "stop short with only a warning, where pdsearch splits the listing by team.",
            "",
        ]
    return out


def search_section(res: dict[str, Any], largest_target: int) -> list[str]:
    sizes = res["sizes"]
    out = [
        "## 4. Search",
        "",
        f"Documents: the account's {res['base_documents']:,} policies and schedules mapped by "
        "`pdsearch.documents`, replicated under new ids, each copy's teams spread over "
        f"{res['teams']} teams; the searching user is a store user in one of them. In-process: "
        "`pdsearch.search.search` (entity look-up in the store, then `SqliteIndex.search`: count "
        "and first page of 10 with snippets). HTTP: `POST /api/v1/search` of `pdsearch serve` in "
        "its own process on 127.0.0.1, one keep-alive client. Floor: the same words as raw FTS5 "
        "SQL through the index's own SQLite (count, then the first 10 ranked by FTS5's bm25 with "
        "snippets) with no access filter. Admin: the in-process search for an administrator "
        "(the account entity: every document), outside the targets. Timed after a warm-up "
        "that lets the index read its frequency snapshot (`pdsearch/index/ranking.py`). Times "
        "in ms; hits = mean total the user gets (the floor: all documents).",
        "",
    ]
    for size, fig in sizes.items():
        out += [
            f"### {int(size):,} documents (user sees {fig['visible']:,} = "
            f"{fig['visible_share']:.1%}); indexing {fig['docs_per_second']:,.0f} documents/s",
            "",
            "| query | hits | in-process p50 | p99 | HTTP p50 | p99 | floor p50 | p99 | "
            "in-process / floor (p50) | admin hits | admin p50 | p99 |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for name, cls in fig["classes"].items():
            http = cls.get("http", {"p50_ms": float("nan"), "p99_ms": float("nan")})
            ratio = cls["in_process"]["p50_ms"] / cls["raw"]["p50_ms"]
            admin = cls.get("admin", {"p50_ms": float("nan"), "p99_ms": float("nan")})
            admin_hits = f"{cls['admin_hits']:.0f}" if "admin_hits" in cls else "–"
            out.append(
                f"| {name} (`{cls['queries'][0]}` …) | {cls['hits']:.0f} / {cls['raw_hits']:.0f} "
                f"| {ms(cls['in_process']['p50_ms'])} | {ms(cls['in_process']['p99_ms'])} "
                f"| {ms(http['p50_ms'])} | {ms(http['p99_ms'])} "
                f"| {ms(cls['raw']['p50_ms'])} | {ms(cls['raw']['p99_ms'])} | {ratio:.2f} "
                f"| {admin_hits} | {ms(admin['p50_ms'])} | {ms(admin['p99_ms'])} |"
            )
        out.append("")
    big = sizes.get(str(largest_target))
    if big:
        out += _by_query(big, largest_target)
        out += _search_targets(big, largest_target)
    if "hybrid" in res:
        from benchmarks.hybrid_bench import section

        out += section(res["hybrid"])
    return out


def _by_query(fig: dict[str, Any], size: int) -> list[str]:
    """Each query's median at the largest size: which words cost what."""
    out = [
        f"Each query's median at {size:,} documents, in ms (in-process / floor / admin):",
        "",
        "| class | queries |",
        "|---|---|",
    ]
    for name, cls in fig["classes"].items():
        mine, floor = cls.get("in_process_by_query", {}), cls.get("raw_by_query", {})
        admin = cls.get("admin_by_query", {})
        cells = [f"`{q}` {ms(mine.get(q, math.nan))} / {ms(floor.get(q, math.nan))} / "
                 f"{ms(admin.get(q, math.nan))}" for q in cls["queries"]]
        out.append(f"| {name} | {'; '.join(cells)} |")
    out.append("")
    return out


def _search_targets(fig: dict[str, Any], size: int) -> list[str]:
    classes = fig["classes"]
    worst_p50 = max(c["in_process"]["p50_ms"] for c in classes.values())
    worst_p99 = max(c["in_process"]["p99_ms"] for c in classes.values())
    worst_ratio = max(c["in_process"]["p50_ms"] / c["raw"]["p50_ms"] for c in classes.values())
    http = [c["http"]["p50_ms"] for c in classes.values() if "http" in c]
    rows = [
        f"Targets at {size:,} documents (worst query class):",
        "",
        "| measure | value | target | |",
        "|---|---|---|---|",
        f"| in-process p50 | {worst_p50:.2f} ms | ≤ {P50_MS} ms | {mark(worst_p50 <= P50_MS)} |",
        f"| in-process p99 | {worst_p99:.2f} ms | ≤ {P99_MS} ms | {mark(worst_p99 <= P99_MS)} |",
        f"| in-process p50 / floor p50 | {worst_ratio:.2f} | ≤ {FLOOR_RATIO} | "
        f"{mark(worst_ratio <= FLOOR_RATIO)} |",
    ]
    if http:
        rows.append(f"| HTTP p50 | {max(http):.2f} ms | ≤ {HTTP_P50_MS} ms | "
                    f"{mark(max(http) <= HTTP_P50_MS)} |")
    rate = fig["docs_per_second"]
    rows += [
        f"| indexing | {rate:,.0f} documents/s | ≥ {INDEX_RATE:,} | {mark(rate >= INDEX_RATE)} |",
        "",
    ]
    return rows


def render(results: dict[str, Any], notes: str = "") -> str:
    """The whole page; ``notes`` (kept by hand between runs) follow the tables."""
    quick = bool(results.get("quick"))
    lines = [
        "# Benchmarks",
        "",
        "Produced by `./run bench` (`python -m benchmarks`; `--quick` for the short form CI "
        "runs, `--scenarios sync,ratelimit,peers,incremental,search,embed,store,opensearch,"
        "replicas,oncall` to "
        "choose). "
        "Every figure below is from one run of the command on the machine described; the page "
        "is rewritten by each full run, except the notes at the end.",
        "",
    ]
    lines += machine_section(results["machine"], quick, results.get("elapsed_seconds", 0.0))
    sync = results.get("sync_scenarios")
    if sync:
        lines += sync_section(sync)
        lines += ratelimit_section(sync)
        lines += peers_section(sync)
    incremental = results.get("incremental")
    if incremental:
        lines += incremental_bench.section(incremental)
    search = results.get("search")
    if search:
        lines += search_section(search, int(results.get("search_target_size", 100_000)))
    embed = results.get("embed")
    if embed:
        lines += embed_bench.section(embed)
    store = results.get("store")
    if store:
        lines += store_bench.section(store)
    opensearch = results.get("opensearch")
    if opensearch:
        lines += opensearch_bench.section(opensearch)
    replicas = results.get("replicas")
    if replicas:
        lines += replicas_bench.render(replicas)
    oncall = results.get("oncall")
    if oncall:
        lines += oncall_bench.section(oncall)
    lines += ["## Notes", "", notes.strip() or "(none yet)", ""]
    return "\n".join(lines)
