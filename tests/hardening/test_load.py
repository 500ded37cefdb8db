"""Load (issue 6), short form: concurrent searches against ``pdsearch serve`` on loopback while
full syncs write. The full form (50 clients, 30 s) is ``python -m benchmarks.load_search``;
its figures are in docs/RELIABILITY.md. Run here as that same command, so it cannot rot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_searches_during_syncs_never_fail_or_lock(tmp_path: Path) -> None:
    figures = tmp_path / "load.json"
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.load_search", "--clients", "15", "--seconds", "5",
         "--scale", "small", "--json", str(figures)],
        cwd=ROOT, capture_output=True, text=True, timeout=180, check=False,
    )
    report = run.stdout + run.stderr[-3000:]
    print(report)
    assert run.returncode == 0, report
    result = json.loads(figures.read_text())
    assert result["clean"] is True, report
    assert result["requests"] > 100, report
    assert result["errors"] == 0, report
    assert result["locked"] == 0, report
    assert result["service_log_problems"] == [], report
    # The index was written during the run, by syncs that all succeeded.
    assert result["syncs"] >= 1, report
    assert result["documents_written"] > 0, report
    assert set(result["sync_statuses"]) == {"succeeded"}, report
    assert 0 < result["p50_ms"] <= result["p99_ms"] <= result["max_ms"], report
