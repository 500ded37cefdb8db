"""``pdsearch simulate``: a JSON line when ready, serving until interrupted, clear option errors."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import httpx
import pytest
from child_processes import end, pdsearch_command, start
from typer.testing import CliRunner

from pdsearch.cli import app


def _start(*args: str) -> subprocess.Popen[str]:
    # SIGINT at its default in the child, however the test command was started.
    return start(
        pdsearch_command("simulate", "--port", "0", *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _ready(process: subprocess.Popen[str]) -> dict[str, object]:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line, process.stderr.read() if process.stderr else "no output"
    ready: dict[str, object] = json.loads(line)
    return ready


def test_simulate_prints_one_line_serves_and_saves_on_ctrl_c(tmp_path: Path) -> None:
    saved = tmp_path / "account.json"
    process = _start(
        "--scale", "tiny",
        "--seed", "7",
        "--subdomain", "clitest",
        "--api-key", "cli-key",
        "--oauth-client-id", "cli-client",
        "--oauth-client-secret", "cli-secret",
        "--save", str(saved),
    )  # fmt: skip
    try:
        ready = _ready(process)
        assert ready["api_key"] == "cli-key"
        assert ready["subdomain"] == "clitest"
        base_url = str(ready["base_url"])
        assert base_url.startswith("http://127.0.0.1:")
        oauth = ready["oauth"]
        assert isinstance(oauth, dict)
        assert oauth["client_id"] == "cli-client"
        assert "cli-secret" not in json.dumps(ready)
        assert saved.exists()  # written at start
        headers = {"Authorization": "Token token=cli-key"}
        response = httpx.post(
            base_url + "/teams",
            headers=headers,
            json={"team": {"name": "Made over HTTP", "description": "x"}},
        )
        assert response.status_code == 201
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0
        assert process.stderr is not None
        assert "Traceback" not in process.stderr.read()
    finally:
        end(process)
    data = json.loads(saved.read_text())
    assert data["subdomain"] == "clitest"
    assert "Made over HTTP" in {t["name"] for t in data["teams"]}  # written again on exit


def test_simulate_loads_a_saved_account_and_makes_up_a_key(tmp_path: Path) -> None:
    saved = tmp_path / "account.json"
    first = _start("--scale", "tiny", "--save", str(saved))
    try:
        _ready(first)
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=15) == 0
    finally:
        end(first)
    process = _start("--load", str(saved))
    try:
        ready = _ready(process)
        key = str(ready["api_key"])
        assert key  # generated and printed: the simulator's own test key
        users = httpx.get(
            f"{ready['base_url']}/users",
            params={"total": "true"},
            headers={"Authorization": f"Token token={key}"},
        ).json()
        assert users["total"] == len(json.loads(saved.read_text())["users"])
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0
    finally:
        end(process)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--teams", "-1"], "--teams must be 0 or more"),
        (["--scale", "enormous"], "unknown scale"),
        (["--load", "/nonexistent/account.json"], "cannot read account file"),
        (["--region", "mars"], "--region must be us or eu"),
        (["--fault-rate", "2"], "--fault-rate must be between 0 and 1"),
        (["--fault-kinds", "500,lightning"], "unknown fault kinds lightning"),
        (["--oauth-client-id", "only-id"], "oauth-client-secret"),
        (["--rate-limit", "-5"], "--rate-limit"),
    ],
)
def test_bad_options_exit_2_with_a_clear_message(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["simulate", "--port", "0", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_an_unreadable_load_file_is_exit_2(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    result = CliRunner().invoke(app, ["simulate", "--load", str(broken)])
    assert result.exit_code == 2
    assert "not valid JSON" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", ""], "--host must name an address"),
        (["--api-key", " "], "--api-key must not be empty"),
        (["--without-ability", "flying"], "flying is not an ability"),
    ],
)
def test_empty_host_blank_key_and_unknown_ability_are_refused(
    args: list[str], message: str
) -> None:
    result = CliRunner().invoke(app, ["simulate", "--scale", "tiny", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_an_account_without_the_audit_trail_feature() -> None:
    process = _start("--scale", "tiny", "--api-key", "no-audit", "--no-audit-trail")
    try:
        ready = _ready(process)
        headers = {"Authorization": "Token token=no-audit"}
        base_url = str(ready["base_url"])
        response = httpx.get(base_url + "/audit/records", headers=headers)
        assert response.status_code == 402
        assert response.json()["error"]["code"] == 2014
        abilities = httpx.get(base_url + "/abilities", headers=headers).json()["abilities"]
        assert "audit_trail" not in abilities
        assert "teams" in abilities
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0
