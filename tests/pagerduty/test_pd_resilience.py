"""Rate limits, retries and errors, against the simulator's budgets and injected faults."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import pytest
from pd_helpers import API_KEY, BASE, CLIENT_ID, CLIENT_SECRET, Sim, make_sim

from pdsearch.pagerduty import (
    AbilityError,
    ApiKeyAuth,
    AuthenticationError,
    BadRequestError,
    InvalidResponseError,
    NotFoundError,
    OAuthAuth,
    OAuthError,
    OAuthToken,
    PagerDutyClient,
    PagerDutyError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    TransportError,
    exchange_code,
)


def client(sim: Sim, key: str = API_KEY, **kwargs: Any) -> PagerDutyClient:
    return PagerDutyClient(
        ApiKeyAuth(key), base_url=BASE, transport=sim.transport, clock=sim.clock, **kwargs
    )


async def read_everything(pd: PagerDutyClient) -> dict[str, int]:
    """What a full sync reads, with v3 schedules and team members fetched concurrently."""
    await pd.account_info()
    users = [u async for u in pd.users()]
    teams = [t async for t in pd.teams()]
    schedules = [s async for s in pd.schedules()]
    policies = [p async for p in pd.escalation_policies()]
    refs = [r async for r in pd.schedule_v3_refs()]

    async def members(team_id: str) -> int:
        return len([m async for m in pd.team_members(team_id)])

    v3 = await asyncio.gather(*(pd.schedule_v3(r.id) for r in refs))
    counts = await asyncio.gather(*(members(t.id) for t in teams))
    return {
        "users": len(users),
        "teams": len(teams),
        "schedules": len(schedules),
        "policies": len(policies),
        "v3": len(v3),
        "members": sum(counts),
    }


def expected(sim: Sim) -> dict[str, int]:
    account = sim.simulator.account
    v2 = [s for s in account.schedules.values() if s.get("type") != "schedule_v3"]
    return {
        "users": len(account.users),
        "teams": len(account.teams),
        "schedules": len(v2),
        "policies": len(account.escalation_policies),
        "v3": len(account.schedules) - len(v2),
        "members": sum(len(m) for m in account.memberships.values()),
    }


async def test_full_read_uses_few_requests() -> None:
    sim = make_sim()
    async with client(sim) as pd:
        counts = await read_everything(pd)
        made = pd.requests_made
    assert counts == expected(sim)
    # /users/me (400: account-level key), /users?limit=1 for the subdomain, /abilities, one page
    # per listing (small account), then one per v3 schedule and per team's members: nothing else
    # is fetched one by one.
    assert made == sim.simulator.request_count
    assert made == 3 + 5 + counts["v3"] + counts["teams"], sim.simulator.requests_by_path


async def test_budget_is_respected_without_429() -> None:
    sim = make_sim(rate_limit=20)
    async with client(sim) as pd:
        counts = await read_everything(pd)
        limiter = pd.rate_limiter
    assert counts == expected(sim)
    assert limiter.rate_limited == 0  # held back before the budget ran out
    assert limiter.throttled > 0
    assert sim.clock.monotonic() >= 55


async def test_429_storm_with_headers_waits_for_reset() -> None:
    sim = make_sim(rate_limit=10)
    # Another program spends the whole budget of the same key first.
    async with httpx.AsyncClient(transport=sim.transport, base_url=BASE) as other:
        for _ in range(10):
            await other.get("/users", headers={"Authorization": f"Token token={API_KEY}"})
    async with client(sim, max_concurrency=4) as pd:
        counts = await read_everything(pd)
        limiter = pd.rate_limiter
    assert counts == expected(sim)
    assert 1 <= limiter.rate_limited <= 4  # at most the requests already in flight
    assert sim.clock.monotonic() >= 55  # waited ratelimit-reset, not a guess


async def test_429_storm_without_headers_backs_off() -> None:
    sim = make_sim(fault_rate=0.4, fault_kinds=("429",))
    async with client(sim) as pd:
        counts = await read_everything(pd)
        limiter = pd.rate_limiter
    assert counts == expected(sim)
    assert limiter.rate_limited > 3
    assert sim.clock.slept
    assert max(sim.clock.slept) <= 60 * 1.0 + 1


async def test_429_past_the_bound_is_an_error() -> None:
    sim = make_sim(fault_rate=1.0, fault_kinds=("429",))
    policy = RetryPolicy(max_rate_limit_wait=120)
    async with client(sim, retry=policy) as pd:
        with pytest.raises(RateLimitError) as caught:
            await pd.get("/users")
    assert "429" in str(caught.value)
    assert "try again later" in str(caught.value)
    assert sum(sim.clock.slept) <= 120 + 60


@pytest.mark.parametrize("kind", ["500", "502", "503", "cut", "malformed"])
async def test_each_retryable_fault_is_recovered(kind: str) -> None:
    sim = make_sim(fault_rate=0.3, fault_kinds=(kind,))
    async with client(sim) as pd:
        counts = await read_everything(pd)
        assert pd.retries > 0
    assert counts == expected(sim)


async def test_timeouts_are_retried() -> None:
    sim = make_sim(fault_rate=0.15, fault_kinds=("timeout",), slow_seconds=30)
    async with client(sim, timeout=0.3) as pd:
        users = [u async for u in pd.users()]
        teams = [t async for t in pd.teams()]
        policies = [p async for p in pd.escalation_policies()]
        assert pd.retries > 0
    assert len(users) == len(sim.simulator.account.users)
    assert len(teams) == len(sim.simulator.account.teams)
    assert len(policies) == len(sim.simulator.account.escalation_policies)


async def test_retries_are_bounded() -> None:
    sim = make_sim(fault_rate=1.0, fault_kinds=("503",))
    policy = RetryPolicy(max_attempts=4)
    async with client(sim, retry=policy) as pd:
        with pytest.raises(ServerError) as caught:
            [u async for u in pd.users()]
        assert pd.requests_made == 4
    assert "503" in str(caught.value)
    assert "4 attempts" in str(caught.value)
    assert sum(sim.clock.slept) <= policy.max_elapsed


async def test_broken_connections_past_the_bound_are_transport_errors() -> None:
    sim = make_sim(fault_rate=1.0, fault_kinds=("cut",))
    async with client(sim, retry=RetryPolicy(max_attempts=3)) as pd:
        with pytest.raises(TransportError, match="connection"):
            await pd.get("/teams")


async def test_malformed_body_is_an_invalid_response() -> None:
    sim = make_sim(fault_rate=1.0, fault_kinds=("malformed",))
    async with client(sim, retry=RetryPolicy(max_attempts=2)) as pd:
        with pytest.raises(InvalidResponseError) as caught:
            [u async for u in pd.users()]
    assert caught.value.path == "/users"
    assert "/users" in str(caught.value)
    assert "not valid JSON" in str(caught.value)


async def test_wrong_type_names_the_object() -> None:
    sim = make_sim()
    user_id = sorted(sim.simulator.account.users)[0]
    sim.simulator.account.users[user_id]["role"] = 123
    async with client(sim) as pd:
        with pytest.raises(InvalidResponseError) as caught:
            [u async for u in pd.users()]
        assert pd.requests_made == 1  # a shape problem is not retried
    assert f"user {user_id}" in str(caught.value)
    assert "role" in str(caught.value)


async def test_non_retryable_statuses_fail_at_once() -> None:
    sim = make_sim(abilities={"read_only_users"})
    v2_id = next(
        i for i, s in sim.simulator.account.schedules.items() if s.get("type") != "schedule_v3"
    )
    async with client(sim) as pd:
        cases: list[tuple[Any, type[PagerDutyError], int]] = [
            (lambda: pd.get("/teams"), AbilityError, 402),
            (lambda: pd.schedule_v3("PNOSUCH"), NotFoundError, 404),
            (lambda: pd.schedule_v3(v2_id), BadRequestError, 400),
        ]
        for call, error, status in cases:
            before = pd.requests_made
            with pytest.raises(error) as caught:
                await call()
            assert pd.requests_made == before + 1, error
            assert caught.value.status_code == status
    async with client(sim, key="wrong-key-0000") as pd:
        with pytest.raises(AuthenticationError):
            await pd.get("/users")
        assert pd.requests_made == 1
    assert sim.clock.slept == []


async def test_concurrency_is_capped() -> None:
    sim = make_sim(latency_ms=5)
    async with client(sim, max_concurrency=2) as pd:
        refs = [r async for r in pd.schedule_v3_refs()]
        teams = [t async for t in pd.teams()]
        await asyncio.gather(
            *(pd.schedule_v3(r.id) for r in refs),
            *(pd.get(f"/teams/{t.id}/members") for t in teams),
        )
    assert sim.transport.max_in_flight == 2  # type: ignore[attr-defined]


async def test_clients_on_one_credential_share_a_budget() -> None:
    sim = make_sim(rate_limit=20)
    async with client(sim) as first, client(sim) as second:
        assert first.rate_limiter is second.rate_limiter
        await asyncio.gather(read_everything(first), read_everything(second))
        assert first.rate_limiter.rate_limited == 0


async def test_no_secret_in_any_error_or_log_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sim = make_sim(fault_rate=0.2, fault_kinds=("500", "cut", "429", "malformed"))
    secrets = [API_KEY, CLIENT_SECRET, "wrong-key-secret-77", "bogus-refresh-secret-88"]
    errors: list[str] = []

    async with client(sim) as pd:
        await read_everything(pd)
    for key in ("wrong-key-secret-77",):
        async with client(sim, key=key) as pd:
            try:
                await pd.account_info()
            except PagerDutyError as exc:
                errors.append(str(exc))
    sim.simulator.config.fault_rate = 0.0
    try:
        await exchange_code(
            CLIENT_ID, "wrong-client-secret-99", "code-1", "v" * 50, "http://127.0.0.1/cb",
            oauth_base_url=BASE, transport=sim.transport, clock=sim.clock,
        )
    except OAuthError as exc:
        errors.append(str(exc))
    secrets.append("wrong-client-secret-99")
    token = OAuthToken("bogus-access-secret-66", "bogus-refresh-secret-88", 0.0, "")
    auth = OAuthAuth(CLIENT_ID, CLIENT_SECRET, token, oauth_base_url=BASE)
    async with PagerDutyClient(auth, base_url=BASE, transport=sim.transport, clock=sim.clock) as pd:
        try:
            await pd.account_info()
        except PagerDutyError as exc:
            errors.append(str(exc))
    secrets.append("bogus-access-secret-66")
    assert len(errors) == 3
    logged = [r.getMessage() for r in caplog.records] + [
        str(r.exc_info[1]) for r in caplog.records if r.exc_info
    ]
    assert logged
    for text in errors + logged:
        for secret in secrets:
            assert secret not in text, (secret, text)
