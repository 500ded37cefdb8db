"""Connecting: credentials from the store, the connection check, OAuth refresh persisted."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from pdsearch.pagerduty.oauth import DEFAULT_SCOPES, authorization_request, exchange_code
from pdsearch.sync.connection import (
    ConnectorError,
    MissingCredentialsError,
    check_connection,
    client_for,
)

REDIRECT = "http://127.0.0.1:8000/oauth/callback"


async def test_check_connection_marks_the_connector_connected(sync_env: Any) -> None:
    info = await check_connection(sync_env.connector, sync_env.store.connectors, sync_env.transport)

    assert info.subdomain == sync_env.sim.account.subdomain
    connector = sync_env.connector
    assert connector.status == "connected"
    assert connector.subdomain == info.subdomain
    assert connector.last_error is None


async def test_a_rejected_key_names_the_cause_and_never_the_key(sync_env: Any) -> None:
    secret = "u+wrong-key-0123456789"
    sync_env.store.connectors.set_credentials(sync_env.connector_id, {"api_key": secret})

    with pytest.raises(ConnectorError) as caught:
        await check_connection(sync_env.connector, sync_env.store.connectors, sync_env.transport)

    message = str(caught.value)
    assert "401" in message
    assert "region" in message.lower()
    assert secret not in message
    connector = sync_env.connector
    assert connector.status == "error"
    assert connector.last_error == message


async def test_an_unauthorized_oauth_connector_needs_authorization(sync_env: Any) -> None:
    connector = sync_env.store.connectors.create(
        "oauth", "oauth2", "us", {"client_id": "id", "client_secret": "s3cret-value"}
    )
    with pytest.raises(MissingCredentialsError, match="not authorized"):
        await check_connection(connector, sync_env.store.connectors, sync_env.transport)
    assert sync_env.store.connectors.get(connector.id).status == "needs_authorization"


async def _authorize(env: Any, scopes: tuple[str, ...] = DEFAULT_SCOPES) -> dict[str, str]:
    """The OAuth authorization-code flow against the simulator, as a browser would do it."""
    base = env.connector.base_url
    client_id, secret = env.sim.config.oauth_client_id, env.sim.config.oauth_client_secret
    request = authorization_request(client_id, REDIRECT, oauth_base_url=base, scopes=scopes)
    async with httpx.AsyncClient(transport=env.transport) as browser:
        answer = await browser.get(request.url, follow_redirects=False)
    assert answer.status_code == 302, answer.text
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    token = await exchange_code(
        client_id, secret, code, request.code_verifier, REDIRECT,
        oauth_base_url=base, transport=env.transport,
    )
    assert token.refresh_token
    return {
        "client_id": client_id,
        "client_secret": secret,
        "access_token": token.access_token,
        "refresh_token": token.refresh_token,
        # Already expired: the first request must refresh it.
        "expires_at": "0",
    }


async def test_oauth_refresh_is_persisted_so_a_rotated_token_is_never_lost(
    sync_env: Any,
) -> None:
    creds = await _authorize(sync_env)
    base = sync_env.connector.base_url
    connector = sync_env.store.connectors.create(
        "oauth", "oauth2", "us", creds, base_url=base, oauth_base_url=base
    )

    first = await sync_env.service.run(connector.id)

    assert first.status == "succeeded", first.error
    stored = sync_env.store.connectors.get_credentials(connector.id)
    assert stored["refresh_token"] != creds["refresh_token"]  # rotated, and saved
    assert stored["access_token"] != creds["access_token"]
    assert float(stored["expires_at"]) > 0

    # Expire it again: only the saved (rotated) refresh token can renew it now.
    sync_env.store.connectors.update_credentials(connector.id, expires_at="0")
    second = await sync_env.service.run(connector.id)

    assert second.status == "succeeded", second.error
    refreshed = sync_env.store.connectors.get_credentials(connector.id)
    assert refreshed["refresh_token"] != stored["refresh_token"]
    for secret in (creds["refresh_token"], stored["refresh_token"], creds["client_secret"]):
        assert secret not in repr(sync_env.store.jobs.get(second.id).to_dict())


async def test_client_for_uses_the_connectors_region_and_base_url(sync_env: Any) -> None:
    connector = sync_env.store.connectors.create("eu", "api_key", "eu", {"api_key": "k"})
    client = client_for(connector, sync_env.store.connectors)
    assert client.base_url == "https://api.eu.pagerduty.com"
    assert client_for(sync_env.connector, sync_env.store.connectors).base_url == "http://127.0.0.1:9"


async def test_a_refused_refresh_asks_for_authorization_again(sync_env: Any) -> None:
    creds = await _authorize(sync_env)
    base = sync_env.connector.base_url
    creds["refresh_token"] = "revoked-or-never-issued"
    connector = sync_env.store.connectors.create(
        "oauth", "oauth2", "us", creds, base_url=base, oauth_base_url=base
    )

    job = await sync_env.service.run(connector.id)

    assert job.status == "failed"
    assert job.error
    assert "authorize" in job.error.lower()
    assert "revoked-or-never-issued" not in job.error
    after = sync_env.store.connectors.get(connector.id)
    assert after.status == "needs_authorization"
    assert after.last_error
    assert "revoked-or-never-issued" not in after.last_error


async def test_a_missing_scope_is_named(sync_env: Any) -> None:
    scopes = tuple(s for s in DEFAULT_SCOPES if s != "schedules.read")
    creds = await _authorize(sync_env, scopes)
    creds["expires_at"] = ""  # fresh: no refresh needed
    base = sync_env.connector.base_url
    connector = sync_env.store.connectors.create(
        "scoped", "oauth2", "us", creds, base_url=base, oauth_base_url=base
    )

    job = await sync_env.service.run(connector.id)

    assert job.status == "failed"
    assert job.error
    assert "schedules.read" in job.error
    after = sync_env.store.connectors.get(connector.id)
    assert after.status == "error"
    assert after.last_error
    assert "schedules.read" in after.last_error
