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
HARNESS_TIMEOUT_SECONDS = 170


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    out = tmp_path_factory.mktemp("bench")
    page, figures = out / "BENCHMARKS.md", out / "benchmarks.json"
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--output", str(page),
         "--json", str(figures)],
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
        assert run["simulator_requests"] == run["requests"]
        assert _finite(run["wall_seconds"]) and _finite(run["peak_rss_bytes"])
    limited = sync["ratelimit"]
    assert limited["failed_requests"] == 0, limited["statuses"]
    assert limited["budget_per_window"] < minimum  # the budget really binds
    assert _finite(limited["bound_seconds"])
    listed, byid = sync["peer_list"], sync["peer_byid"]
    assert listed["completeness"]["share"] == 1.0  # no collection passes offset 10,000 here
    assert listed["requests"] >= minimum
    assert byid["fetched"] == sync["objects"] and byid["completeness"] == 1.0
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
                assert _finite(timing["p50_ms"]) and timing["p99_ms"] >= timing["p50_ms"]


@pytest.mark.slow
def test_page_describes_the_machine_and_every_scenario(
    quick_run: tuple[dict[str, Any], str],
) -> None:
    results, page = quick_run
    machine = results["machine"]
    assert machine["cores"] and machine["python"] and machine["sqlite"]
    for heading in ("## Machine", "## 1. Full sync", "## 2. Full sync under a binding",
                    "## 3. Peers", "## 4. Search", "## Notes"):
        assert heading in page
    assert machine["sqlite"] in page and "--quick" in page
