"""The benchmark harness, run whole at small sizes (``python -m benchmarks --quick``), so it
cannot rot. The figures must be sane and complete; speed goals live in docs/BENCHMARKS.md, so
nothing here asserts how fast anything was."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The whole harness at small sizes: about 2 minutes on a quiet 2-core machine, several times that
# while other work shares the cores; the bound only has to catch a hang.
HARNESS_TIMEOUT_SECONDS = 540
pytestmark = pytest.mark.timeout(HARNESS_TIMEOUT_SECONDS + 60)


@pytest.fixture(scope="module")
def quick_run(
    tmp_path_factory: pytest.TempPathFactory, opensearch_url: str, database_url: str
) -> tuple[dict[str, Any], str]:
    out = tmp_path_factory.mktemp("bench")
    page, figures = out / "BENCHMARKS.md", out / "benchmarks.json"
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--output", str(page),
         "--json", str(figures), "--index-url", opensearch_url,
         "--database-url", database_url],
        cwd=ROOT, capture_output=True, text=True, timeout=HARNESS_TIMEOUT_SECONDS, check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(figures.read_text()), page.read_text()


def _finite(value: float) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


@pytest.mark.slow
def test_sync_scenarios_are_complete_and_sane(quick_run: tuple[dict[str, Any], str]) -> None:
    results, _ = quick_run
    sync = results["sync_scenarios"]
    minimum = sync["minimum_total"]
    for name in ("sync", "ratelimit"):
        run = sync[name]
        assert run["status"] == "succeeded", run["error"]
        assert run["documents"] == sync["documents_expected"]
        assert run["counts"]["added"] == sync["documents_expected"]
        # Never fewer than the listings need; a few probes more (account, abilities) at most.
        assert minimum <= run["requests"] <= 2 * minimum
        # Every request the simulator answered is counted by a job (the first sync's, then
        # those of the syncs with nothing changed).
        assert run["simulator_requests"] == run["requests"] + run.get("second_requests_total", 0)
        assert _finite(run["wall_seconds"])
        assert _finite(run["peak_rss_bytes"])
    # The same sync with semantic search on: the job first, every vector after it, and a
    # second sync with nothing changed embeds nothing.
    plain, semantic = sync["sync"], sync["sync_semantic"]
    assert plain["second_status"] == semantic["second_status"] == "succeeded"
    assert semantic["status"] == "succeeded", semantic["error"]
    assert semantic["documents"] == semantic["vector_count"] == sync["documents_expected"]
    assert semantic["vectors"] == {"total": semantic["documents"], "done": semantic["documents"],
                                   "state": "done"}
    assert semantic["vectors_wall_seconds"] >= semantic["wall_seconds"] > 0
    assert semantic["second_unchanged"] == semantic["documents"]
    assert semantic["second_embedded"] == 0
    assert _finite(semantic["wall_ratio"])
    limited = sync["ratelimit"]
    assert limited["failed_requests"] == 0, limited["statuses"]
    assert limited["budget_per_window"] < minimum  # the budget really binds
    assert _finite(limited["bound_seconds"])
    listed, byid = sync["peer_list"], sync["peer_byid"]
    assert listed["completeness"]["share"] == 1.0  # no collection passes offset 10,000 here
    # The peers read neither services nor the audit trail.
    parts = sync["minimum_requests"]
    assert listed["requests"] >= minimum - parts["services"] - parts["audit trail"]
    assert byid["fetched"] == sync["objects"]
    assert byid["completeness"] == 1.0
    assert byid["requests"] >= sync["objects"]


@pytest.mark.slow
def test_search_scenario_measures_a_two_percent_user(
    quick_run: tuple[dict[str, Any], str],
) -> None:
    results, _ = quick_run
    sizes = results["search"]["sizes"]
    assert len(sizes) == 2
    for size, fig in sizes.items():
        assert fig["documents"] == int(size)
        assert 0.01 <= fig["visible_share"] <= 0.04
        assert _finite(fig["docs_per_second"])
        assert set(fig["classes"]) == {"one word", "two words", "phrase", "prefix"}
        for cls in fig["classes"].values():
            assert 0 < cls["hits"] <= cls["raw_hits"]  # the user finds some, never more
            assert cls["http_hits"] == cls["hits"]  # HTTP answers what in-process does
            for mode in ("in_process", "http", "raw"):
                timing = cls[mode]
                assert _finite(timing["p50_ms"])
                assert timing["p99_ms"] >= timing["p50_ms"]


@pytest.mark.slow
def test_embed_scenario_measures_the_model_and_the_paraphrase_set(
    quick_run: tuple[dict[str, Any], str],
) -> None:
    results, _ = quick_run
    embed = results["embed"]
    load = embed["load"]
    assert _finite(load["import_seconds"])
    assert _finite(load["load_seconds"])
    assert all(_finite(v) for v in load["memory"].values())
    throughput = embed["throughput"]
    assert throughput["documents"] > 0
    assert _finite(throughput["documents_per_second"])
    assert _finite(throughput["word_pieces_mean"])
    queries = embed["queries"]
    assert queries["count"] > 0
    assert queries["p99_ms"] >= queries["p50_ms"] > 0
    for account in ("demo", "benchmark"):
        recall = embed["recall"][account]
        assert recall["semantic"]["asked"] == recall["keyword"]["asked"] > 0
        for kind in ("semantic", "keyword"):
            figures = recall[kind]
            assert figures["recall"] == figures["found"] / figures["asked"]
    assert "all-MiniLM-L6-v2" in embed["model_id"]


@pytest.mark.slow
def test_search_scenario_measures_hybrid_search(quick_run: tuple[dict[str, Any], str]) -> None:
    results, page = quick_run
    hybrid = results["search"]["hybrid"]
    demo = hybrid["recall"]["demo"]
    assert set(demo["sets"]) == {"paraphrases.json", "paraphrases-heldout.json"}
    for row in demo["sets"].values():
        assert row["questions"] >= 60
        assert all(0 <= row[k] <= 1 for k in ("keyword", "semantic", "hybrid"))
    latency = hybrid["latency"]
    assert latency["questions"] >= 120
    for fig in latency["sizes"].values():
        assert fig["vectors"] == fig["documents"]
        for who in ("user", "admin", "http"):
            assert _finite(fig[who]["p50_ms"])
            assert fig[who]["p99_ms"] >= fig[who]["p50_ms"]
        assert fig["serve_peak_rss_mb"] is None or _finite(fig["serve_peak_rss_mb"])
    assert "### Hybrid search (keyword and meaning fused)" in page


@pytest.mark.slow
def test_opensearch_scenario_measures_both_backends_on_the_same_documents(
    quick_run: tuple[dict[str, Any], str],
) -> None:
    results, _ = quick_run
    fig = results["opensearch"]
    assert 0.01 <= fig["visible_share"] <= 0.04
    indexing = fig["indexing"]
    assert indexing["documents"] == fig["documents"]
    assert _finite(indexing["docs_per_second"])
    assert _finite(indexing["node_cpu_seconds"])
    assert indexing["segments"] >= 1
    assert _finite(fig["sqlite_indexing"]["docs_per_second"])
    assert set(fig["classes"]) == {"one word", "two words", "phrase", "prefix"}
    for cls in fig["classes"].values():
        assert cls["hits"] > 0
        # Both backends, in-process and over HTTP, find the same number of documents.
        assert cls["http_hits"] == cls["hits"] == cls["sqlite_http_hits"]
        assert cls["admin_hits"] >= cls["hits"]
        for mode in ("in_process", "http", "sqlite_http", "admin"):
            timing = cls[mode]
            assert _finite(timing["p50_ms"])
            assert timing["p99_ms"] >= timing["p50_ms"]


@pytest.mark.slow
def test_page_describes_the_machine_and_every_scenario(
    quick_run: tuple[dict[str, Any], str],
) -> None:
    results, page = quick_run
    machine = results["machine"]
    assert machine["cores"]
    assert machine["python"]
    assert machine["sqlite"]
    for heading in ("## Machine", "## 1. Full sync", "## 2. Full sync under a binding",
                    "## 3. Peers", "## 4. Search", "## Embedding model", "## 5. State store",
                    "## 7. OpenSearch beside SQLite", "## 8. Incremental sync",
                    "## 9. Two replicas",
                    "## Notes"):
        assert heading in page
    assert machine["sqlite"] in page
    assert "--quick" in page


@pytest.mark.slow
def test_store_scenario_times_every_hot_path(quick_run: tuple[dict[str, Any], str]) -> None:
    results, page = quick_run
    store = results["store"]
    measured = [store["sqlite"]] + ([store["postgresql"]] if store["postgresql"] else [])
    for fig in measured:
        for op in ("memberships", "for_user", "job_progress_update", "job_get",
                   "connector_get"):
            assert fig[op]["calls"] == store["rounds"]
            assert _finite(fig[op]["p50_us"])
            assert fig[op]["p99_us"] >= fig[op]["p50_us"]
        assert _finite(fig["memberships_4_threads_per_s"])
        assert _finite(fig["replace_derived_seconds"])
    assert "`job_progress_update`" in page


@pytest.mark.slow
def test_incremental_scenario_is_complete_and_sane(quick_run: tuple[dict[str, Any], str]) -> None:
    results, page = quick_run
    inc = results["incremental"]
    assert inc["full"]["requests"] > 0
    assert inc["documents"] > 0
    assert inc["nothing"]["requests"] >= 1
    assert _finite(inc["nothing"]["wall_seconds"])
    assert _finite(inc["changed"]["wall_seconds"])
    assert sum(inc["changed"]["writes"].values()) == inc["changes"]
    assert inc["changed"]["requests"] > inc["nothing"]["requests"]
    assert inc["changed"]["counts"]["updated"] > 0
    assert _finite(inc["budget_share"])
    assert "## 8. Incremental sync from audit records" in page
def test_replicas_scenario_kills_the_leader_and_counts_every_scheduled_sync(
    quick_run: tuple[dict[str, Any], str],
) -> None:
    results, page = quick_run
    fig = results["replicas"]
    assert fig["requests"] > 0
    assert _finite(fig["p50_ms"])
    assert fig["p99_ms"] >= fig["p50_ms"]
    assert fig["new_leader_seconds"] is not None
    assert fig["new_leader_seconds"] > 0
    once, twice, never = fig["scheduled_once"], fig["scheduled_twice"], fig["scheduled_never"]
    assert once + twice + never == fig["schedules"] > 0
    assert twice == 0
    assert "new leader after the kill" in page
def test_oncall_scenario_counts_requests_and_times_answers(
    quick_run: tuple[dict[str, Any], str],
) -> None:
    results, page = quick_run
    fig = results["oncall"]
    full, unchanged, one = fig["full"], fig["unchanged"], fig["one_override"]
    assert (full["read"], unchanged["read"], one["read"]) == ("full", "changes", "changes")
    # A full read: /oncalls pages and a render per schedule no policy uses, nothing else.
    assert full["by_path"]["/oncalls"] >= 1
    renders = full["by_path"].get("/schedules/{id}", 0)
    assert renders >= fig["schedules_no_policy_uses"]
    assert full["requests"] == sum(full["by_path"].values())
    assert unchanged["requests"] == 1
    assert 1 < one["requests"] < full["requests"]
    assert fig["per_schedule"]["requests"] >= fig["schedules"]
    assert fig["shifts"] > 0
    assert _finite(fig["answers"]["p50_ms"])
    assert "On-call refresh and answers" in page
