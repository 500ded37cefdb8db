"""``pdsearch mcp --user EMAIL`` over stdio, driven by the SDK's own client, which spawns it as a
desktop assistant would, on a data directory synced from the simulator on 127.0.0.1."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp_cases import Case, error_text, pick_case, refused, structured
from typer.testing import CliRunner

from pdsearch.cli import app


@pytest.fixture
def synced_home(tmp_path: Path, sim_server: Any, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data directory with one connector to the simulator, synced, made with the CLI."""
    home = tmp_path / "home"
    monkeypatch.setenv("PDSEARCH_HOME", str(home))
    monkeypatch.delenv("PDSEARCH_SECRET_KEY", raising=False)
    runner = CliRunner()
    for args, given in (
        (["connector", "add", "acme", "--api-key", "-", "--base-url", sim_server.base_url],
         sim_server.api_key + "\n"),
        (["sync", "acme"], None),
    ):
        result = runner.invoke(app, args, input=given, catch_exceptions=False)
        assert result.exit_code == 0, result.output
    return home


def _stdio(home: Path, email: str) -> Client:
    return Client(StdioServerParameters(
        command=sys.executable,
        args=["-m", "pdsearch", "mcp", "--user", email, "--data-dir", str(home)],
        env={"PDSEARCH_HOME": str(home)},
    ))


def _case(sim_server: Any) -> Case:
    return pick_case(sim_server.simulator.account)


async def test_stdio_tools_and_who_sees_what(synced_home: Path, sim_server: Any) -> None:
    case = _case(sim_server)
    async with _stdio(synced_home, case.member) as member:
        tools = {t.name: t for t in (await member.list_tools()).tools}
        assert set(tools) == {"search", "fetch", "who_is_on_call"}
        assert all(t.output_schema and t.annotations and t.annotations.read_only_hint
                   for t in tools.values())
        found = structured(await member.call_tool("search", {"query": case.schedule_name}))
        ref = next(r["id"] for r in found["results"]
                   if r["id"].endswith(f"/schedule:{case.schedule_id}"))
        doc = structured(await member.call_tool("fetch", {"id": ref}))
        assert doc["title"] == case.schedule_name
        assert case.team_name in doc["text"]
        # Who is on call, from the on-call data the sync read: the member gets the schedule.
        oncall = structured(await member.call_tool("who_is_on_call",
                                                   {"query": case.schedule_name}))
        answer = next(d for d in oncall["data"] if d["id"] == ref)
        assert answer["oncall"] is not None
        assert set(answer["oncall"]) == {"now", "next"}

    async with _stdio(synced_home, case.outsider) as outsider:
        for query in (case.schedule_name, case.team_name, case.schedule_id, "", "*"):
            seen = structured(await outsider.call_tool("search", {"query": query, "limit": 50}))
            assert all(not r["id"].endswith(f"/schedule:{case.schedule_id}")
                       for r in seen["results"]), query
        assert "No document" in error_text(await outsider.call_tool("fetch", {"id": ref}))
        theirs = structured(await outsider.call_tool("who_is_on_call",
                                                   {"query": case.schedule_name}))
        assert ref not in {d["id"] for d in theirs["data"]}


async def test_stdio_hostile_inputs_and_an_unknown_person(
    synced_home: Path, sim_server: Any
) -> None:
    case = _case(sim_server)
    async with _stdio(synced_home, case.admin) as client:
        for tool, arguments in (
            ("search", {"query": "q" * 1_000_000}),
            ("search", {"query": {"$ne": 1}}),
            ("fetch", {"id": "\x00" * 600}),
            ("fetch", {}),
            ("who_is_on_call", {"query": 1}),
            ("drop_everything", {}),
        ):
            text = await refused(client, tool, arguments)
            assert len(text) < 2_000
        # Still serving, as the same person.
        assert structured(await client.call_tool("search", {"query": ""}))["total"] > 0

    async with _stdio(synced_home, "nobody@example.com") as stranger:
        text = error_text(await stranger.call_tool("search", {"query": case.schedule_name}))
        assert "nobody@example.com is in no permission entity" in text


def test_the_command_refuses_what_it_cannot_serve(tmp_path: Path) -> None:
    """Before any protocol: a bad --user, or a data directory with nothing in it, is one line
    on stderr and exit 1 (the assistant shows it), and no directory is made."""
    runner = CliRunner()
    bad = runner.invoke(app, ["mcp", "--user", "not an email", "--data-dir", str(tmp_path)])
    assert bad.exit_code == 2
    assert "e-mail address" in bad.output
    empty = tmp_path / "nothing-here"
    missing = runner.invoke(app, ["mcp", "--user", "ada@example.com", "--data-dir", str(empty)])
    assert missing.exit_code == 1
    assert "No connectors yet" in missing.output
    assert "Traceback" not in missing.output
    assert not empty.exists()
