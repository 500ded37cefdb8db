"""The connector commands end to end against a simulator on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from child_processes import end, pdsearch_command, start
from typer.testing import CliRunner

from pdsearch.cli import app


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    home = tmp_path / "home"
    monkeypatch.setenv("PDSEARCH_HOME", str(home))
    monkeypatch.delenv("PDSEARCH_SECRET_KEY", raising=False)
    runner = CliRunner()

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Any:
        return runner.invoke(app, list(args), input=input, env=env, catch_exceptions=False)

    return run


@pytest.fixture
def added(cli: Any, sim_server: Any) -> Any:
    result = cli("connector", "add", "acme", "--api-key", "-", "--base-url", sim_server.base_url,
                 input=sim_server.api_key + "\n")
    assert result.exit_code == 0, result.output
    return sim_server


def _json(output: str) -> Any:
    return json.loads(output)


def test_add_list_connect_sync_search_remove(cli: Any, added: Any, tmp_path: Path) -> None:
    listed = cli("connector", "list", "--json")
    assert listed.exit_code == 0
    [connector] = _json(listed.output)
    assert connector["name"] == "acme"
    assert connector["status"] == "new"
    assert added.api_key not in listed.output
    assert "acme" in cli("connector", "list").output

    connected = cli("connect", "acme")
    assert connected.exit_code == 0, connected.output
    assert added.subdomain in connected.output

    synced = cli("sync", "acme", "--json")
    assert synced.exit_code == 0, synced.output
    job = _json(synced.output)
    account = added.simulator.account
    assert job["status"] == "succeeded"
    assert job["counts"]["added"] == len(account.escalation_policies) + len(account.schedules)
    assert job["requests"] > 0
    assert added.api_key not in synced.output

    again = cli("sync", "acme")
    assert again.exit_code == 0, again.output
    assert "succeeded" in again.output
    assert "unchanged" in again.output

    history = cli("jobs", "acme", "--json")
    assert history.exit_code == 0
    jobs = _json(history.output)
    assert jobs["total"] == 2
    assert [j["status"] for j in jobs["data"]] == ["succeeded"] * 2
    assert jobs["data"][0]["counts"]["unchanged"] == job["counts"]["added"]
    assert "succeeded" in cli("jobs", "acme").output

    admin = next(u["email"] for u in account.users.values() if u.get("role") == "owner")
    found = cli("search", "primary", "--user", admin, "--json", "--limit", "5")
    assert found.exit_code == 0, found.output
    body = _json(found.output)
    assert body["total"] > 5
    assert len(body["results"]) == 5
    assert {"id", "type", "title", "snippet", "url", "score"} <= set(body["results"][0])
    text = cli("search", "primary", "--user", admin, "--limit", "3")
    assert text.exit_code == 0
    assert "results" in text.output
    assert f"Showing 1-3 of {body['total']}; for more, add --offset 3." in text.output
    hostile = cli("search", "[bold]NEAR( \"*", "--user", admin)
    assert hostile.exit_code == 0
    assert "Traceback" not in hostile.output
    nobody = cli("search", "primary", "--user", "nobody@example.com")
    assert nobody.exit_code == 0
    assert "No results" in nobody.output
    # A question in other words: found by meaning (the sync computed the vectors), or, with
    # --no-semantic, not found, and said so.
    question = "transactions get declined at the till"
    meant = _json(cli("search", question, "--user", admin, "--json").output)
    assert meant["total"] > 0
    assert "closest in meaning" in meant["notice"]
    literal = _json(cli("search", question, "--user", admin, "--json", "--no-semantic").output)
    assert literal == {"total": 0, "notice": "Nothing matches “transactions”, “declined”, "
                       "“till”.", "results": []}
    said = cli("search", question, "--user", admin, "--no-semantic")
    assert "Nothing matches" in said.output
    assert "No results" in said.output

    removed = cli("connector", "remove", "acme", "--yes")
    assert removed.exit_code == 0, removed.output
    assert cli("search", "", "--user", admin, "--json").output.count('"id"') == 0
    assert _json(cli("connector", "list", "--json").output) == []


def test_entities_commands(cli: Any, added: Any) -> None:
    assert cli("sync", "acme", "--json").exit_code == 0
    account = added.simulator.account
    listed = cli("entities", "list", "acme", "--json")
    assert listed.exit_code == 0
    ids = {e["entityId"] for e in _json(listed.output)["data"]}
    assert ids == {account.subdomain, *account.teams}
    team = sorted(account.teams)[0]

    added_users = cli("entities", "add-users", "acme", team, "Grace@Example.com",
                      "ada@example.com", "--json")
    assert added_users.exit_code == 0, added_users.output
    record = _json(added_users.output)
    assert {"grace@example.com", "ada@example.com"} <= set(record["manualUserIds"])

    shown = cli("entities", "show", "acme", team)
    assert shown.exit_code == 0
    assert "grace@example.com (manual)" in shown.output

    removed = cli("entities", "remove-users", "acme", team, "grace@example.com", "--json")
    assert removed.exit_code == 0
    assert _json(removed.output)["manualUserIds"] == ["ada@example.com"]

    missing = cli("entities", "show", "acme", "PNOSUCH")
    assert missing.exit_code == 1
    assert "No entity" in missing.output
    bad = cli("entities", "add-users", "acme", team, "not-an-email")
    assert bad.exit_code == 1
    assert "e-mail" in bad.output
    assert "Traceback" not in bad.output


def test_api_key_from_an_environment_variable(cli: Any, sim_server: Any) -> None:
    result = cli("connector", "add", "envkey", "--api-key-env", "MY_PD_KEY", "--base-url",
                 sim_server.base_url, env={"MY_PD_KEY": sim_server.api_key})
    assert result.exit_code == 0, result.output
    assert sim_server.api_key not in result.output
    assert cli("connect", "envkey").exit_code == 0

    unset = cli("connector", "add", "other", "--api-key-env", "NOT_SET_ANYWHERE")
    assert unset.exit_code == 1
    assert "NOT_SET_ANYWHERE" in unset.output


def test_oauth_connector_is_added_and_asks_for_authorization(cli: Any) -> None:
    result = cli("connector", "add", "oauthy", "--oauth-client-id", "cid",
                 "--oauth-client-secret", "-", "--region", "eu", "--json",
                 input="the-client-secret\n")
    assert result.exit_code == 0, result.output
    connector = _json(result.output)
    assert connector["auth_type"] == "oauth2"
    assert connector["region"] == "eu"
    assert connector["status"] == "needs_authorization"
    assert "the-client-secret" not in result.output

    connect = cli("connect", "oauthy")
    assert connect.exit_code == 1
    assert "not authorized" in connect.output
    sync = cli("sync", "oauthy")
    assert sync.exit_code == 1
    assert "not authorized" in sync.output


def test_errors_are_one_line_with_exit_codes(cli: Any, added: Any) -> None:
    unknown = cli("sync", "nope")
    assert unknown.exit_code == 1
    assert "No connector named 'nope'" in unknown.output
    assert "Traceback" not in unknown.output
    markup = cli("sync", "[bold]x[/oops]")
    assert markup.exit_code == 1
    assert "[bold]x[/oops]" in markup.output

    duplicate = cli("connector", "add", "acme", "--api-key", "k2")
    assert duplicate.exit_code == 1
    assert "already exists" in duplicate.output

    both = cli("connector", "add", "x", "--api-key", "k", "--oauth-client-id", "c")
    assert both.exit_code == 2
    region = cli("connector", "add", "x", "--api-key", "k", "--region", "mars")
    assert region.exit_code == 2
    no_user = cli("search", "anything")
    assert no_user.exit_code == 2
    cleartext = cli("connector", "add", "x", "--api-key", "k", "--base-url", "http://example.com")
    assert cleartext.exit_code == 2
    assert "unencrypted" in cleartext.output

    added.simulator.revoke_api_key()
    refused = cli("connect", "acme")
    assert refused.exit_code == 1
    assert "401" in refused.output
    assert added.api_key not in refused.output
    failed = cli("sync", "acme", "--json")
    assert failed.exit_code == 1
    assert _json(failed.output)["status"] == "failed"


def test_data_dir_option_keeps_state_apart(cli: Any, sim_server: Any, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    result = cli("connector", "add", "apart", "--api-key", "k", "--data-dir", str(other))
    assert result.exit_code == 0, result.output
    assert (other / "state.db").exists()
    assert _json(cli("connector", "list", "--json").output) == []
    listed = cli("connector", "list", "--json", "--data-dir", str(other))
    assert [c["name"] for c in _json(listed.output)] == ["apart"]


def test_ctrl_c_cancels_the_sync_and_records_it(cli: Any, added: Any, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import time

    from pdsearch.config import Settings
    from pdsearch.store import Store

    home = tmp_path / "home"
    added.simulator.config.latency_ms = 300
    proc = start(  # SIGINT at its default in the child, however the tests were started
        pdsearch_command("sync", "acme"),
        env={**os.environ, "PDSEARCH_HOME": str(home)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        with Store.open(Settings(home=home)) as store:
            connector = store.connectors.get_by_name("acme")
            for _ in range(200):
                job = store.jobs.running(connector.id)
                if job is not None and job.status == "running":
                    break
                time.sleep(0.05)
            else:
                raise AssertionError("the sync never started")
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
            final = store.jobs.get(job.id)
    finally:
        end(proc)
    assert proc.returncode == 130, (out, err)
    assert "canceled" in err
    assert "Traceback" not in err
    assert final.status == "canceled"
    assert final.counts["deleted"] == 0


def test_remove_cancels_a_sync_another_process_runs(
    cli: Any, added: Any, tmp_path: Path
) -> None:
    """One rule for removal wherever it is asked: a sync running in another process (here a
    `pdsearch sync`) is asked to stop through the store, recorded as canceled, and only then
    are the connector and its documents removed."""
    import os
    import subprocess
    import time

    from pdsearch.config import Settings
    from pdsearch.store import NotFoundError, Store

    home = tmp_path / "home"
    added.simulator.config.latency_ms = 300
    proc = start(
        pdsearch_command("sync", "acme"),
        env={**os.environ, "PDSEARCH_HOME": str(home)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        with Store.open(Settings(home=home)) as store:
            connector = store.connectors.get_by_name("acme")
            for _ in range(200):
                job = store.jobs.running(connector.id)
                if job is not None and job.status == "running":
                    break
                time.sleep(0.05)
            else:
                raise AssertionError("the sync never started")
            removed = cli("connector", "remove", "acme", "--yes")
            assert removed.exit_code == 0, removed.output
            proc.communicate(timeout=30)
            with pytest.raises(NotFoundError):
                store.connectors.get(connector.id)  # its jobs went with it
    finally:
        end(proc)
    assert proc.returncode != 0  # the sync ended canceled, not finished
    assert _json(cli("connector", "list", "--json").output) == []


def test_sync_mode_is_chosen_and_reported(cli: Any, added: Any) -> None:
    first = cli("sync", "acme", "--json")  # no cursor yet: incremental falls back to full
    assert first.exit_code == 0, first.output
    job = _json(first.output)
    assert job["mode"] == "full"
    assert "no audit cursor" in job["progress"]["fallback"]
    incremental = cli("sync", "acme", "--mode", "incremental")
    assert incremental.exit_code == 0, incremental.output
    assert "Sync succeeded (incremental)" in incremental.output
    full = cli("sync", "acme", "--mode", "full", "--json")
    assert full.exit_code == 0
    assert _json(full.output)["mode"] == "full"
    history = cli("jobs", "acme").output
    assert "incremental" in history
    assert "full" in history
    wrong = cli("sync", "acme", "--mode", "partial")
    assert wrong.exit_code == 2
