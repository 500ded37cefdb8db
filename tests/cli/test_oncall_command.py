"""``pdsearch oncall`` against a simulator on 127.0.0.1, after a CLI sync (which refreshes who is
on call at its end)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from pdsearch.cli import app

Cli = Callable[..., Result]


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("PDSEARCH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PDSEARCH_SECRET_KEY", raising=False)
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> Result:
        return runner.invoke(app, list(args), input=input, catch_exceptions=False)

    return run


@pytest.fixture
def synced(cli: Cli, sim_server: Any) -> Any:
    added = cli("connector", "add", "acme", "--api-key", "-", "--base-url", sim_server.base_url,
                input=sim_server.api_key + "\n")
    assert added.exit_code == 0, added.output
    synced = cli("sync", "acme", "--json")
    assert synced.exit_code == 0
    assert json.loads(synced.output)["status"] == "succeeded"
    return sim_server


def _owner(sim_server: Any) -> dict[str, Any]:
    users = sim_server.simulator.account.users.values()
    owner: dict[str, Any] = next(u for u in users if u.get("role") == "owner")
    return owner


def test_who_is_on_call_as_json_and_as_text(cli: Cli, synced: Any) -> None:
    account = synced.simulator.account
    owner = _owner(synced)
    got = cli("oncall", "who is on call?", "--user", owner["email"], "--json", "--limit", "100")
    assert got.exit_code == 0, got.output
    body = json.loads(got.output)
    assert body["total"] == len(account.escalation_policies) + len(account.schedules)
    with httpx.Client(base_url=synced.base_url,
                      headers={"Authorization": f"Token token={synced.api_key}"}) as pd:
        rows: list[dict[str, Any]] = []
        while True:
            params = {"since": body["at"], "until": body["at"], "limit": 100,
                      "offset": len(rows)}
            page = pd.get("/oncalls", params=params).json()
            rows += page["oncalls"]
            if not page["more"]:
                break
    expected: dict[str, set[tuple[int, str]]] = {p: set() for p in account.escalation_policies}
    for o in rows:
        expected[o["escalation_policy"]["id"]].add((o["escalation_level"], o["user"]["id"]))
    ours = {
        d["id"].split(":", 1)[1]: {(e["level"], e["user"]["id"]) for e in d["oncall"]["now"]}
        for d in body["data"] if d["type"] == "escalation_policy"
    }
    assert ours == expected

    text = cli("oncall", "who is on call?", "--user", owner["email"], "--limit", "100")
    assert text.exit_code == 0, text.output
    assert f"times in {owner['time_zone']}" in text.output  # the viewer's PagerDuty zone
    assert "Level 1: " in text.output
    assert "until " in text.output


def test_at_ahead_outside_and_outsiders(cli: Cli, synced: Any) -> None:
    owner = _owner(synced)["email"]
    ahead = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    got = cli("oncall", "", "--user", owner, "--at", ahead, "--json")
    assert got.exit_code == 0, got.output
    assert json.loads(got.output)["at"] == ahead + ":00Z"
    far = (datetime.now(UTC) + timedelta(days=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    outside = cli("oncall", "", "--user", owner, "--at", far)
    assert outside.exit_code == 1
    assert "outside the stored on-call window" in outside.output
    garbage = cli("oncall", "", "--user", owner, "--at", "next tuesday")
    assert garbage.exit_code == 2
    assert "not a time" in garbage.output
    nobody = cli("oncall", "who is on call for payments", "--user", "stranger@else.example")
    assert nobody.exit_code == 0
    assert "Nothing matching" in nobody.output
