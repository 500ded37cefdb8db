"""`pdsearch schedule show|set|remove` with --mode, and `connector add --no-schedule`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pdsearch.cli import app


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("PDSEARCH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PDSEARCH_SECRET_KEY", raising=False)
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(app, list(args), catch_exceptions=False)

    return run


def _add(cli: Any, name: str, *extra: str) -> None:
    result = cli("connector", "add", name, "--api-key", "a-key", "--base-url",
                 "http://127.0.0.1:9", *extra)
    assert result.exit_code == 0, result.output


def test_added_connectors_get_default_schedules_unless_told_not_to(cli: Any) -> None:
    _add(cli, "acme")
    shown = cli("schedule", "show", "acme", "--json")
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.output)["data"]
    assert [(s["mode"], s.get("interval_minutes")) for s in data] == [
        ("full", None), ("incremental", 5)]
    assert data[0]["cron"].split()[2:] == ["*", "*", "*"]
    assert data[0]["next_run_at"]
    assert "incremental" in cli("schedule", "show", "acme").output

    _add(cli, "bare", "--no-schedule")
    assert json.loads(cli("schedule", "show", "bare", "--json").output) == {"data": []}
    assert "no schedule" in cli("schedule", "show", "bare").output


def test_set_and_remove_by_mode(cli: Any) -> None:
    _add(cli, "acme", "--no-schedule")
    inc = cli("schedule", "set", "acme", "--every", "10", "--mode", "incremental", "--json")
    assert inc.exit_code == 0, inc.output
    assert json.loads(inc.output)["mode"] == "incremental"
    full = cli("schedule", "set", "acme", "--cron", "0 2 * * *")
    assert full.exit_code == 0
    assert "Full sync" in full.output
    data = json.loads(cli("schedule", "show", "acme", "--json").output)["data"]
    assert [(s["mode"], s.get("cron"), s.get("interval_minutes")) for s in data] == [
        ("full", "0 2 * * *", None), ("incremental", None, 10)]

    bad = cli("schedule", "set", "acme", "--every", "0")
    assert bad.exit_code == 1
    assert "interval_minutes" in bad.output
    wrong_mode = cli("schedule", "set", "acme", "--every", "5", "--mode", "sometimes")
    assert wrong_mode.exit_code != 0

    assert cli("schedule", "remove", "acme", "--mode", "incremental").exit_code == 0
    again = cli("schedule", "remove", "acme", "--mode", "incremental")
    assert again.exit_code == 1
    assert "no incremental schedule" in again.output
    data = json.loads(cli("schedule", "show", "acme", "--json").output)["data"]
    assert [s["mode"] for s in data] == ["full"]
