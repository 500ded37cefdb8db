"""What a new user trips over on the command line: a data directory with no connectors (or
none at all), connectors and entities named as a person would name them, whole ids, help."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner, Result

from pdsearch.cli import app
from pdsearch.simulator.server import SimulatorServer

Cli = Callable[..., Result]
LONG_NAME = "Acme PagerDuty (simulated)"


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("PDSEARCH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PDSEARCH_SECRET_KEY", raising=False)
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> Result:
        return runner.invoke(app, list(args), input=input, catch_exceptions=False)

    return run


@pytest.fixture
def two(cli: Cli, sim_server: SimulatorServer) -> dict[str, Any]:
    """Two connectors to the simulator ("Acme PagerDuty (simulated)" synced, "Beta" not), by
    name → their JSON."""
    for name in (LONG_NAME, "Beta"):
        added = cli("connector", "add", name, "--api-key", "-", "--base-url",
                    sim_server.base_url, input=sim_server.api_key + "\n")
        assert added.exit_code == 0, added.output
    assert cli("sync", LONG_NAME, "--json").exit_code == 0
    return {c["name"]: c for c in json.loads(cli("connector", "list", "--json").output)}


@pytest.mark.parametrize(
    "args",
    [
        ("search", "payments", "--user", "ada@example.com"),
        ("jobs", "acme"),
        ("connect", "acme"),
        ("sync", "acme"),
        ("entities", "list", "acme"),
        ("entities", "show", "acme", "acme"),
        ("connector", "remove", "acme", "--yes"),
    ],
)
def test_a_missing_data_dir_is_said_and_not_created(
    cli: Cli, tmp_path: Path, args: tuple[str, ...]
) -> None:
    result = cli(*args)
    assert result.exit_code == 1
    assert f"No connectors yet in {tmp_path / 'home'}" in " ".join(result.output.split())
    assert "No results" not in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "home").exists()  # reads never make the data directory


def test_connector_list_of_a_missing_data_dir_says_so_and_makes_nothing(
    cli: Cli, tmp_path: Path
) -> None:
    listed = cli("connector", "list")
    assert listed.exit_code == 0
    assert f"No connectors yet in {tmp_path / 'home'}" in " ".join(listed.output.split())
    assert json.loads(cli("connector", "list", "--json").output) == []
    assert not (tmp_path / "home").exists()


def test_a_data_dir_whose_connectors_were_removed_says_so(
    cli: Cli, sim_server: SimulatorServer, tmp_path: Path
) -> None:
    assert cli("connector", "add", "gone", "--api-key", "k").exit_code == 0
    assert cli("connector", "remove", "gone", "--yes").exit_code == 0
    found = cli("search", "payments", "--user", "ada@example.com")
    assert found.exit_code == 1
    assert "No connectors yet in" in found.output
    assert "No results" not in found.output


def test_a_connector_is_found_by_id_or_name_in_any_case(cli: Cli, two: dict[str, Any]) -> None:
    acme = two[LONG_NAME]
    for ref in (acme["id"], acme["id"].upper(), LONG_NAME, LONG_NAME.upper(),
                LONG_NAME.lower(), "acme", "ACME", f"  {LONG_NAME}  "):
        jobs = cli("jobs", ref, "--json")
        assert jobs.exit_code == 0, (ref, jobs.output)
        assert json.loads(jobs.output)["total"] == 1, ref
    beta = cli("entities", "list", "beta")
    assert beta.exit_code == 0
    assert "No entities yet; run 'pdsearch sync Beta'" in beta.output


def test_an_unknown_or_ambiguous_connector_names_the_candidates(
    cli: Cli, two: dict[str, Any], sim_server: SimulatorServer
) -> None:
    unknown = cli("jobs", "gamma")
    assert unknown.exit_code == 1
    text = " ".join(unknown.output.split())
    assert "No connector named 'gamma'" in text
    assert two["Beta"]["id"] in text
    # Both read the same account: its subdomain alone does not say which.
    assert cli("connect", "Beta").exit_code == 0
    both = cli("jobs", sim_server.subdomain)
    assert both.exit_code == 1
    assert "more than one connector" in both.output
    # Removing takes the exact name or id only.
    refused = cli("connector", "remove", "acme", "--yes")
    assert refused.exit_code == 1
    assert "No connector named 'acme'" in refused.output
    removed = cli("connector", "remove", LONG_NAME.lower(), "--yes")
    assert removed.exit_code == 0, removed.output


def test_entities_by_id_or_team_name(cli: Cli, two: dict[str, Any]) -> None:
    entities = json.loads(cli("entities", "list", "acme", "--json").output)["data"]
    team = next(e for e in entities if e["type"] == "team")
    for ref in (team["entityId"], team["name"], team["name"].upper()):
        shown = cli("entities", "show", "acme", ref, "--json")
        assert shown.exit_code == 0, (ref, shown.output)
        assert json.loads(shown.output)["entityId"] == team["entityId"]
    added = cli("entities", "add-users", "acme", team["name"].lower(), "billing@example.com")
    assert added.exit_code == 0, added.output
    record = json.loads(cli("entities", "show", "acme", team["entityId"], "--json").output)
    assert record["manualUserIds"] == ["billing@example.com"]
    missing = cli("entities", "show", "acme", "No Such Team")
    assert missing.exit_code == 1
    assert "No entity 'No Such Team'" in missing.output


def test_connector_list_shows_whole_ids_and_a_custom_region(
    cli: Cli, two: dict[str, Any], sim_server: SimulatorServer
) -> None:
    listed = cli("connector", "list")  # not a terminal: 80 columns
    assert listed.exit_code == 0
    for connector in two.values():
        assert connector["id"] in listed.output
    assert "custom" in listed.output
    assert " us " not in listed.output


def _commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, command in getattr(group, "commands", {}).items():
        yield from _commands(command, (*path, name))


def test_no_command_help_shows_a_stray_type_for_flags(cli: Cli) -> None:
    paths = list(_commands(typer.main.get_command(app)))
    assert ("sync",) in paths
    assert ("entities", "add-users") in paths
    for path in paths:
        shown = cli(*path, "--help")
        assert shown.exit_code == 0, path
        assert "<bool>" not in shown.output, (path, shown.output)
        assert "--help" in shown.output
    serve = cli("serve", "--help").output
    assert "[default: 127.0.0.1]" in serve  # not swallowed as markup
