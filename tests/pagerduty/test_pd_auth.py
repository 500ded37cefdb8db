"""Both auth schemes and the OAuth flow end to end, against the simulator (in-process)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pd_helpers import API_KEY, BASE, CLIENT_ID, CLIENT_SECRET, Sim, make_sim

from pdsearch.pagerduty import (
    DEFAULT_SCOPES,
    REQUIRED_SCOPES,
    ApiKeyAuth,
    AppTokenAuth,
    AuthenticationError,
    ConfigurationError,
    OAuthAuth,
    OAuthError,
    OAuthToken,
    PagerDutyClient,
    ScopeError,
    authorization_request,
    exchange_code,
)

REDIRECT = "http://127.0.0.1:8123/oauth/callback"


def client(sim: Sim, auth: object, **kwargs: object) -> PagerDutyClient:
    return PagerDutyClient(
        auth,  # type: ignore[arg-type]
        base_url=BASE,
        transport=sim.transport,
        clock=sim.clock,
        **kwargs,  # type: ignore[arg-type]
    )


async def authorize(sim: Sim, scopes: tuple[str, ...] | None = None) -> OAuthToken:
    """The whole authorization-code flow: URL, approval (the simulator approves), exchange."""
    wanted = DEFAULT_SCOPES if scopes is None else scopes
    request = authorization_request(CLIENT_ID, REDIRECT, oauth_base_url=BASE, scopes=wanted)
    async with httpx.AsyncClient(transport=sim.transport) as http:
        answer = await http.get(request.url)
    assert answer.status_code == 302
    callback = parse_qs(urlsplit(answer.headers["location"]).query)
    assert callback["state"] == [request.state]
    return await exchange_code(
        CLIENT_ID,
        CLIENT_SECRET,
        callback["code"][0],
        request.code_verifier,
        REDIRECT,
        oauth_base_url=BASE,
        transport=sim.transport,
        clock=sim.clock,
    )


async def test_api_key_reads_account_facts() -> None:
    sim = make_sim()
    async with client(sim, ApiKeyAuth(API_KEY)) as pd:
        info = await pd.account_info()
        assert info.subdomain == "acme"
        assert info.account_level is True
        assert info.has_ability("teams")
        users = [u async for u in pd.users()]
    assert {u.id for u in users} == set(sim.simulator.account.users)
    sent = [u for u in sim.urls if "/users" in u]
    assert sent
    assert all(u.startswith(BASE) for u in sent)
    assert sim.transport.accept == {"application/vnd.pagerduty+json;version=2"}  # type: ignore[attr-defined]


async def test_user_api_key_is_user_level() -> None:
    sim = make_sim()
    user_id = next(iter(sim.simulator.account.users))
    sim.simulator.add_api_key("user-level-key-123456", user_id)
    async with client(sim, ApiKeyAuth("user-level-key-123456")) as pd:
        info = await pd.account_info()
    assert info.account_level is False
    assert info.user is not None
    assert info.user.id == user_id
    assert info.subdomain == "acme"


async def test_authorization_url_has_pkce_s256_state_and_scopes() -> None:
    request = authorization_request(CLIENT_ID, REDIRECT)
    parts = urlsplit(request.url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
        "https://identity.pagerduty.com/oauth/authorize"
    )
    query = parse_qs(parts.query)
    digest = hashlib.sha256(request.code_verifier.encode()).digest()
    assert query["code_challenge"] == [base64.urlsafe_b64encode(digest).decode().rstrip("=")]
    assert query["code_challenge_method"] == ["S256"]
    assert query["state"] == [request.state]
    assert query["response_type"] == ["code"]
    assert set(REQUIRED_SCOPES) <= set(query["scope"][0].split())
    assert 43 <= len(request.code_verifier) <= 128
    assert authorization_request(CLIENT_ID, REDIRECT).state != request.state
    assert request.code_verifier not in repr(request)


async def test_oauth_flow_end_to_end_gives_user_level_access() -> None:
    sim = make_sim()
    token = await authorize(sim)
    assert token.refresh_token
    assert token.expires_at
    saved: list[OAuthToken] = []
    auth = OAuthAuth(CLIENT_ID, CLIENT_SECRET, token, saved.append, oauth_base_url=BASE)
    async with client(sim, auth) as pd:
        info = await pd.account_info()
        policies = [p async for p in pd.escalation_policies()]
    assert info.account_level is False
    assert info.subdomain == "acme"
    assert len(policies) == len(sim.simulator.account.escalation_policies)
    assert saved == []  # nothing was due for refresh
    assert any(u.endswith("/oauth/token") for u in sim.urls)


async def test_wrong_pkce_verifier_is_refused() -> None:
    sim = make_sim()
    request = authorization_request(CLIENT_ID, REDIRECT, oauth_base_url=BASE)
    async with httpx.AsyncClient(transport=sim.transport) as http:
        answer = await http.get(request.url)
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    with pytest.raises(OAuthError) as caught:
        await exchange_code(
            CLIENT_ID, CLIENT_SECRET, code, "x" * 64, REDIRECT,
            oauth_base_url=BASE, transport=sim.transport, clock=sim.clock,
        )
    assert caught.value.error == "invalid_grant"
    assert "again" in str(caught.value)


async def test_refresh_ahead_of_expiry_persists_rotation_before_use() -> None:
    sim = make_sim()
    token = await authorize(sim)
    # The token is about to expire: the client must refresh before its first request.
    soon = OAuthToken(token.access_token, token.refresh_token, sim.clock.time() + 5, token.scope)
    events: list[str] = []
    saved: list[OAuthToken] = []

    def persist(new: OAuthToken) -> None:
        events.append(f"saved after {len(sim.simulator.requests_by_path)} api paths")
        saved.append(new)

    auth = OAuthAuth(CLIENT_ID, CLIENT_SECRET, soon, persist, oauth_base_url=BASE)
    async with client(sim, auth) as pd:
        assert sim.simulator.request_count == 0
        await pd.account_info()
    assert len(saved) == 1
    assert auth.refreshes == 1
    new = saved[0]
    assert new.refresh_token != token.refresh_token  # rotated
    assert new.access_token != token.access_token
    assert auth.token == new
    assert events == ["saved after 0 api paths"]  # saved before any API request used it
    # The old refresh token died with the rotation: a client still holding it gets a clear error.
    stale = OAuthToken("expired-access", token.refresh_token, sim.clock.time() - 1, token.scope)
    async with client(sim, OAuthAuth(CLIENT_ID, CLIENT_SECRET, stale, oauth_base_url=BASE)) as pd:
        with pytest.raises(OAuthError) as caught:
            await pd.account_info()
    assert "authorize" in str(caught.value).lower()


async def test_refresh_once_after_401() -> None:
    sim = make_sim()
    token = await authorize(sim)
    # PagerDuty forgot the access token (revoked) though its expiry is far: 401, refresh, retry.
    revoked = OAuthToken("revoked-access-token", token.refresh_token, None, token.scope)
    saved: list[OAuthToken] = []

    async def persist(new: OAuthToken) -> None:  # a coroutine callback works too
        saved.append(new)

    auth = OAuthAuth(CLIENT_ID, CLIENT_SECRET, revoked, persist, oauth_base_url=BASE)
    async with client(sim, auth) as pd:
        teams = [t async for t in pd.teams()]
    assert len(teams) == len(sim.simulator.account.teams)
    assert len(saved) == 1
    assert auth.refreshes == 1


async def test_refresh_on_expiry_with_simulated_time() -> None:
    sim = make_sim(token_ttl=600)
    token = await authorize(sim)
    auth = OAuthAuth(CLIENT_ID, CLIENT_SECRET, token, oauth_base_url=BASE)
    async with client(sim, auth) as pd:
        [u async for u in pd.users()]
        sim.clock.advance(3600)  # an hour later the first token is long dead
        [u async for u in pd.users()]
    assert auth.refreshes == 1


async def test_expired_refresh_token_gives_clear_error() -> None:
    sim = make_sim()
    bad = OAuthToken("gone", "refresh-token-that-expired", sim.clock.time() - 10, "")
    async with client(sim, OAuthAuth(CLIENT_ID, CLIENT_SECRET, bad, oauth_base_url=BASE)) as pd:
        with pytest.raises(OAuthError) as caught:
            await pd.account_info()
    message = str(caught.value)
    assert "invalid_grant" in message
    assert "authorize the connector" in message
    assert "refresh-token-that-expired" not in message


async def test_failed_persistence_means_the_new_token_is_not_used() -> None:
    sim = make_sim()
    token = await authorize(sim)
    soon = OAuthToken(token.access_token, token.refresh_token, sim.clock.time() + 1, token.scope)

    def broken(new: OAuthToken) -> None:
        raise RuntimeError(f"disk full while writing {new.refresh_token}")

    auth = OAuthAuth(CLIENT_ID, CLIENT_SECRET, soon, broken, oauth_base_url=BASE)
    async with client(sim, auth) as pd:
        with pytest.raises(OAuthError) as caught:
            await pd.account_info()
    assert "saving it failed" in str(caught.value)
    assert auth.token == soon
    assert sim.simulator.request_count == 0


async def test_missing_scope_names_the_scope() -> None:
    sim = make_sim()
    token = await authorize(sim, scopes=("teams.read", "schedules.read"))
    auth = OAuthAuth(CLIENT_ID, CLIENT_SECRET, token, oauth_base_url=BASE)
    async with client(sim, auth) as pd:
        with pytest.raises(ScopeError) as caught:
            [u async for u in pd.users()]
        assert pd.requests_made == 1  # never retried
    assert caught.value.scope == "users.read"
    assert "users.read" in str(caught.value)


async def test_abilities_probed_without_abilities_scope() -> None:
    sim = make_sim()
    token = await authorize(sim, scopes=REQUIRED_SCOPES)
    async with client(sim, OAuthAuth(CLIENT_ID, CLIENT_SECRET, token, oauth_base_url=BASE)) as pd:
        info = await pd.account_info()
    assert info.abilities == frozenset({"teams"})


async def test_app_token_is_account_level() -> None:
    sim = make_sim()
    auth = AppTokenAuth(CLIENT_ID, CLIENT_SECRET, "acme", "us", oauth_base_url=BASE)
    async with client(sim, auth) as pd:
        info = await pd.account_info()
        schedules = [s async for s in pd.schedules()]
    assert info.account_level is True
    assert info.subdomain == "acme"
    assert schedules
    assert all(s.schedule_layers for s in schedules)
    assert auth.fetches == 1
    assert "/users/me" not in sim.simulator.requests_by_path


async def test_app_token_for_wrong_account_is_refused() -> None:
    sim = make_sim()
    auth = AppTokenAuth(CLIENT_ID, CLIENT_SECRET, "other", "us", oauth_base_url=BASE)
    async with client(sim, auth) as pd:
        with pytest.raises(OAuthError) as caught:
            await pd.account_info()
    assert caught.value.error == "invalid_scope"


async def test_wrong_api_key_suggests_the_region() -> None:
    sim = make_sim()
    async with PagerDutyClient(
        ApiKeyAuth("not-the-key-987654"), transport=sim.transport, clock=sim.clock
    ) as pd:
        with pytest.raises(AuthenticationError) as caught:
            await pd.account_info()
        assert pd.requests_made == 1
    message = str(caught.value)
    assert "401" in message
    assert "set the region to eu" in message
    assert "not-the-key-987654" not in message


async def test_eu_region_uses_the_eu_host() -> None:
    sim = make_sim(region="eu")
    async with PagerDutyClient(
        ApiKeyAuth(API_KEY), region="eu", transport=sim.transport, clock=sim.clock
    ) as pd:
        info = await pd.account_info()
        sim.simulator.revoke_api_key()
        with pytest.raises(AuthenticationError):
            await pd.get("/users")
    assert info.subdomain == "acme"  # from https://acme.eu.pagerduty.com/...
    assert sim.urls
    assert all(u.startswith("https://api.eu.pagerduty.com/") for u in sim.urls)


async def test_eu_401_suggests_us() -> None:
    sim = make_sim()
    async with PagerDutyClient(
        ApiKeyAuth("wrong-key-xyz-123"), region="eu", transport=sim.transport, clock=sim.clock
    ) as pd:
        with pytest.raises(AuthenticationError, match="set the region to us"):
            await pd.account_info()


@pytest.mark.parametrize(
    ("base_url", "ok"),
    [
        ("http://127.0.0.1:8080", True),
        ("http://localhost:8080/", True),
        ("http://[::1]:8080", True),
        ("https://pd-proxy.example.com", True),
        ("http://pd-proxy.example.com", False),
        ("ftp://127.0.0.1", False),
        ("api.pagerduty.com", False),
    ],
)
def test_base_url_rules(base_url: str, ok: bool) -> None:
    if ok:
        pd = PagerDutyClient(ApiKeyAuth(API_KEY), base_url=base_url)
        assert pd.base_url == base_url.rstrip("/")
    else:
        with pytest.raises(ConfigurationError) as caught:
            PagerDutyClient(ApiKeyAuth(API_KEY), base_url=base_url)
        assert "http" in str(caught.value)


def test_oauth_host_rules_and_regions() -> None:
    assert authorization_request(CLIENT_ID, REDIRECT, region="eu").url.startswith(
        "https://identity.pagerduty.com/oauth/authorize?"
    )
    with pytest.raises(ConfigurationError):
        authorization_request(CLIENT_ID, REDIRECT, oauth_base_url="http://identity.example.com")
    with pytest.raises(ConfigurationError, match="region"):
        PagerDutyClient(ApiKeyAuth(API_KEY), region="ap")
    assert PagerDutyClient(ApiKeyAuth(API_KEY)).base_url == "https://api.pagerduty.com"


def test_secrets_stay_out_of_repr() -> None:
    token = OAuthToken("access-secret-1", "refresh-secret-2", 1.0, "users.read")
    auth = OAuthAuth(CLIENT_ID, "client-secret-3", token)
    for text in (repr(token), repr(auth), repr(ApiKeyAuth("api-secret-4"))):
        for secret in ("access-secret-1", "refresh-secret-2", "client-secret-3", "api-secret-4"):
            assert secret not in text


async def test_concurrent_requests_refresh_once() -> None:
    sim = make_sim()
    token = await authorize(sim)
    due = OAuthToken(token.access_token, token.refresh_token, sim.clock.time() + 1, token.scope)
    saved: list[OAuthToken] = []
    auth = OAuthAuth(CLIENT_ID, CLIENT_SECRET, due, saved.append, oauth_base_url=BASE)
    async with client(sim, auth) as pd:
        await asyncio.gather(*(pd.get("/users", {"limit": 1}) for _ in range(8)))
    assert auth.refreshes == 1
    assert len(saved) == 1


async def test_app_token_renewed_after_401() -> None:
    sim = make_sim()
    auth = AppTokenAuth(CLIENT_ID, CLIENT_SECRET, "acme", "us", oauth_base_url=BASE)
    async with client(sim, auth) as pd:
        await pd.get("/teams")
        sim.simulator.tokens.access_tokens.clear()  # PagerDuty forgot the token
        await pd.get("/teams")
    assert auth.fetches == 2
