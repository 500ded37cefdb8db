"""The client over real sockets: the simulator served on 127.0.0.1 by ``SimulatorServer``."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pd_helpers import API_KEY, CLIENT_ID, CLIENT_SECRET

from pdsearch.pagerduty import (
    ApiKeyAuth,
    AuthenticationError,
    OAuthAuth,
    OAuthToken,
    PagerDutyClient,
    TransportError,
    authorization_request,
    exchange_code,
)
from pdsearch.simulator.config import SimulatorConfig
from pdsearch.simulator.server import SimulatorServer


@pytest.fixture(scope="module")
def server() -> Iterator[SimulatorServer]:
    config = SimulatorConfig.for_scale(
        "tiny",
        api_key=API_KEY,
        oauth_client_id=CLIENT_ID,
        oauth_client_secret=CLIENT_SECRET,
        rate_limit=0,
    )
    with SimulatorServer(config) as running:
        yield running


async def test_api_key_over_loopback(server: SimulatorServer) -> None:
    async with PagerDutyClient(ApiKeyAuth(API_KEY), base_url=server.base_url) as pd:
        info = await pd.account_info()
        users = [u async for u in pd.users()]
        policies = [p async for p in pd.escalation_policies()]
    assert info.subdomain == server.subdomain
    assert len(users) == len(server.account.users)
    assert len(policies) == len(server.account.escalation_policies)


async def test_oauth_flow_over_loopback(server: SimulatorServer) -> None:
    redirect = "http://127.0.0.1:9/callback"
    request = authorization_request(
        CLIENT_ID, redirect, oauth_base_url=server.oauth_base_url
    )
    async with httpx.AsyncClient() as http:
        answer = await http.get(request.url)
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    assert query["state"] == [request.state]
    token = await exchange_code(
        CLIENT_ID,
        CLIENT_SECRET,
        query["code"][0],
        request.code_verifier,
        redirect,
        oauth_base_url=server.oauth_base_url,
    )
    saved: list[OAuthToken] = []
    due = OAuthToken(token.access_token, token.refresh_token, 0.0, token.scope)  # expired
    auth = OAuthAuth(
        CLIENT_ID, CLIENT_SECRET, due, saved.append, oauth_base_url=server.oauth_base_url
    )
    async with PagerDutyClient(auth, base_url=server.base_url) as pd:
        info = await pd.account_info()
        schedules = [s async for s in pd.schedules()]
    assert info.account_level is False
    assert schedules
    assert len(saved) == 1
    assert saved[0].refresh_token != token.refresh_token


async def test_wrong_key_over_loopback_names_the_base_url(server: SimulatorServer) -> None:
    async with PagerDutyClient(ApiKeyAuth("nope-123456"), base_url=server.base_url) as pd:
        with pytest.raises(AuthenticationError) as caught:
            await pd.account_info()
    assert server.base_url in str(caught.value)
    assert "nope-123456" not in str(caught.value)


async def test_nothing_listening_is_a_transport_error() -> None:
    from pdsearch.pagerduty import RetryPolicy

    policy = RetryPolicy(max_attempts=2, base_delay=0.01)
    async with PagerDutyClient(
        ApiKeyAuth(API_KEY), base_url="http://127.0.0.1:9", retry=policy, timeout=2
    ) as pd:
        with pytest.raises(TransportError) as caught:
            await pd.get("/users")
    assert "127.0.0.1:9" in str(caught.value)
    assert "2 attempts" in str(caught.value)
