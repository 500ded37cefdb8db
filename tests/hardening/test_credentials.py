"""Credentials that cannot travel in an HTTP header (issue 18): refused where they enter, and
where one is already stored (created before the check), a clear 4xx or a failed job naming the
cause, with the connector's status and last error updated. Never a 500, never "internal error",
never a false "PagerDuty unreachable" after retries.
"""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from pdsearch.cli import app as cli_app
from pdsearch.config import Settings
from pdsearch.store import Store

#: Each cannot be sent in a header: an accented letter (UnicodeEncodeError in httpx), a line
#: break inside (h11's LocalProtocolError on a real connection), a space, a NUL.
BAD_SECRETS = ("kéy-0123456789", "key\nX-Evil: 1", "two words", "nul\x00key")
MARKER = "SECRETMARKER"  # in every bad value below, so a leak is easy to spot


def bad(value: str) -> str:
    return MARKER + value


def assert_error(resp: Any, status: int, code: str) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error"]["code"] == code, body
    return str(body["error"]["message"])


# --- where credentials enter: the API, the CLI ------------------------------------------------


@pytest.mark.parametrize("secret", BAD_SECRETS)
async def test_api_refuses_an_api_key_that_cannot_be_sent(
    service: Any, api_settings: Any, pd_sim: Any, secret: str
) -> None:
    async with service(api_settings, pd_sim.transport) as (app, client):
        resp = await client.post("/api/v1/connectors", json={
            "name": "acme", "auth": {"type": "api_key", "api_key": bad(secret)},
        })
        message = assert_error(resp, 422, "validation_error")
        assert "'auth.api_key'" in message
        assert "printable ASCII" in message
        assert MARKER not in resp.text
        assert app.state.services.store.connectors.list()[1] == 0


@pytest.mark.parametrize("field", ["client_id", "client_secret"])
@pytest.mark.parametrize("secret", BAD_SECRETS)
async def test_api_refuses_oauth_client_settings_that_cannot_be_sent(
    service: Any, api_settings: Any, pd_sim: Any, field: str, secret: str
) -> None:
    auth = {"type": "oauth2", "client_id": "cid", "client_secret": "csecret", field: bad(secret)}
    async with service(api_settings, pd_sim.transport) as (app, client):
        resp = await client.post("/api/v1/connectors", json={"name": "acme", "auth": auth})
        message = assert_error(resp, 422, "validation_error")
        assert f"'auth.{field}'" in message
        assert "printable ASCII" in message
        assert MARKER not in resp.text
        # PATCH takes the same rule, and keeps what was stored.
        created = await client.post("/api/v1/connectors", json={
            "name": "ok", "auth": {"type": "api_key", "api_key": "y_NbAk+Kc66ryYTWUXYEu"},
        })
        cid = created.json()["id"]
        resp = await client.patch(f"/api/v1/connectors/{cid}", json={"auth": auth})
        message = assert_error(resp, 422, "validation_error")
        assert message == (  # the field named as people know it, and nothing else
            f"Invalid request: 'auth.{field}': must be printable ASCII: letters, digits and "
            "symbols such as + _ - . / =, with no spaces, control characters or accented "
            "letters."
        )
        assert MARKER not in resp.text
        creds = app.state.services.store.connectors.get_credentials(cid)
        assert creds == {"api_key": "y_NbAk+Kc66ryYTWUXYEu"}


async def test_api_takes_pagerduty_shaped_keys(
    service: Any, api_settings: Any, pd_sim: Any
) -> None:
    async with service(api_settings, pd_sim.transport) as (_, client):
        for key in ("y_NbAkKc66ryYTWUXYEu", "u+abcDEF_ghi-jkl.mno/pq=", "0123456789abcdef"):
            resp = await client.post("/api/v1/connectors", json={
                "name": key, "auth": {"type": "api_key", "api_key": key},
            })
            assert resp.status_code == 201, resp.text


@pytest.mark.parametrize("secret", [s for s in BAD_SECRETS if "\x00" not in s])  # env: no NUL
def test_cli_refuses_an_api_key_that_cannot_be_sent(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    monkeypatch.setenv("PDSEARCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PD_KEY", bad(secret))
    result = CliRunner().invoke(cli_app, ["connector", "add", "acme", "--api-key-env", "PD_KEY"])
    assert result.exit_code != 0
    assert "--api-key" in result.output
    assert "printable ASCII" in result.output
    assert MARKER not in result.output
    listed = CliRunner().invoke(cli_app, ["connector", "list", "--json"])
    assert listed.exit_code == 0
    assert "acme" not in listed.output


def test_cli_refuses_an_oauth_secret_that_cannot_be_sent(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PDSEARCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PD_SECRET", bad("sécret"))
    result = CliRunner().invoke(cli_app, [
        "connector", "add", "acme", "--oauth-client-id", "cid",
        "--oauth-client-secret-env", "PD_SECRET",
    ])
    assert result.exit_code != 0
    assert "--oauth-client-secret" in result.output
    assert "printable ASCII" in result.output
    assert MARKER not in result.output


# --- credentials stored before the check ------------------------------------------------------


def stored_connector(app: Any, pd_sim: Any, key: str) -> str:
    """A connector as one created before the check would be: written straight to the store."""
    connector = app.state.services.store.connectors.create(
        "old", "api_key", "us", {"api_key": key}, base_url=pd_sim.base_url
    )
    return str(connector.id)


@pytest.mark.parametrize("secret", BAD_SECRETS)
async def test_connect_with_a_stored_key_that_cannot_be_sent(
    service: Any, api_settings: Any, pd_sim: Any, secret: str
) -> None:
    async with service(api_settings, pd_sim.transport) as (app, client):
        cid = stored_connector(app, pd_sim, bad(secret))
        pd_sim.simulator.reset_counters()
        resp = await client.post(f"/api/v1/connectors/{cid}/connect")
        message = assert_error(resp, 400, "invalid_configuration")
        assert "cannot be sent" in message
        assert "printable ASCII" in message
        assert "unreachable" not in message
        assert MARKER not in resp.text
        assert pd_sim.simulator.request_count == 0  # refused before any request
        connector = (await client.get(f"/api/v1/connectors/{cid}")).json()
        assert connector["status"] == "error"
        assert connector["last_error"] == message


@pytest.mark.parametrize("secret", BAD_SECRETS)
async def test_sync_with_a_stored_key_that_cannot_be_sent(
    service: Any, api_settings: Any, pd_sim: Any, job_waiter: Any, secret: str
) -> None:
    async with service(api_settings, pd_sim.transport) as (app, client):
        cid = stored_connector(app, pd_sim, bad(secret))
        resp = await client.post(f"/api/v1/connectors/{cid}/sync")
        assert resp.status_code == 202, resp.text
        job = await job_waiter(client, resp.json()["job_id"])
        assert job["status"] == "failed"
        assert "cannot be sent" in job["error"]
        assert "internal error" not in job["error"]
        assert MARKER not in str(job)
        connector = (await client.get(f"/api/v1/connectors/{cid}")).json()
        assert connector["status"] == "error"
        assert connector["last_error"] == job["error"]


async def test_a_stored_base_url_httpx_refuses_is_a_4xx_not_a_500(
    service: Any, api_settings: Any, pd_sim: Any, job_waiter: Any
) -> None:
    async with service(api_settings, pd_sim.transport) as (app, client):
        connector = app.state.services.store.connectors.create(
            "old", "api_key", "us", {"api_key": pd_sim.api_key},
            base_url="https://api.pager duty.com",
        )
        resp = await client.post(f"/api/v1/connectors/{connector.id}/connect")
        message = assert_error(resp, 400, "invalid_configuration")
        assert "base URL" in message
        job_id = (await client.post(f"/api/v1/connectors/{connector.id}/sync")).json()["job_id"]
        job = await job_waiter(client, job_id)
        assert job["status"] == "failed"
        assert "base URL" in job["error"]
        after = (await client.get(f"/api/v1/connectors/{connector.id}")).json()
        assert after["status"] == "error"
        assert "base URL" in after["last_error"]


@pytest.mark.parametrize("token", ["tok\nen-0123456789", "tök-0123456789"])
async def test_an_oauth_token_that_cannot_be_sent_on_a_real_connection(
    service: Any, api_settings: Any, sim_server: Any, token: str
) -> None:
    """Over a real socket (h11 refuses a header with a line break: LocalProtocolError), the
    connect fails at once with the cause, not after retries as 'unreachable'."""
    async with service(api_settings, None) as (app, client):
        store = app.state.services.store
        connector = store.connectors.create(
            "oauth", "oauth2", "us",
            {"client_id": "cid", "client_secret": "csecret", "access_token": bad(token)},
            base_url=sim_server.base_url, oauth_base_url=sim_server.base_url,
        )
        sim_server.simulator.reset_counters()
        resp = await client.post(f"/api/v1/connectors/{connector.id}/connect")
        message = assert_error(resp, 400, "invalid_configuration")
        assert "OAuth token cannot be sent" in message
        assert "Authorize" in message
        assert "Gave up" not in message
        assert MARKER not in resp.text
        assert sim_server.simulator.request_count == 0
        after = (await client.get(f"/api/v1/connectors/{connector.id}")).json()
        assert after["status"] == "error"
        assert after["last_error"] == message


def test_cli_connect_and_sync_with_a_stored_key_that_cannot_be_sent(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, sim_server: Any
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("PDSEARCH_HOME", str(home))
    monkeypatch.delenv("PDSEARCH_SECRET_KEY", raising=False)
    with Store.open(Settings(home=home)) as store:
        store.connectors.create("old", "api_key", "us", {"api_key": bad("kéy")},
                               base_url=sim_server.base_url)
    sim_server.simulator.reset_counters()
    runner = CliRunner()
    connected = runner.invoke(cli_app, ["connect", "old"])
    assert connected.exit_code == 1
    assert "cannot be sent" in connected.output
    assert "Traceback" not in connected.output
    synced = runner.invoke(cli_app, ["sync", "old", "--json"])
    assert synced.exit_code != 0
    assert "cannot be sent" in synced.output
    assert "internal error" not in synced.output
    assert MARKER not in synced.output
    assert sim_server.simulator.request_count == 0
    listed = runner.invoke(cli_app, ["connector", "list", "--json"])
    assert '"status": "error"' in listed.output
    assert "cannot be sent" in listed.output
