"""Paging: whole listings past PagerDuty's 10,000 cap, the cap that cannot be split, cursors."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from clock import FakeClock
from pd_helpers import API_KEY, BASE, Sim, make_sim

from pdsearch.pagerduty import ApiKeyAuth, PagerDutyClient, PagingLimitError
from pdsearch.simulator.account import Account


def client(sim: Sim, **kwargs: Any) -> PagerDutyClient:
    return PagerDutyClient(
        ApiKeyAuth(API_KEY), base_url=BASE, transport=sim.transport, clock=sim.clock, **kwargs
    )


def refused_past_cap(sim: Sim) -> list[str]:
    """Requests the simulator would refuse with code 2002 (none may be sent)."""
    bad = []
    for url in sim.urls:
        query = httpx.URL(url).params
        if int(query.get("offset", 0)) + int(query.get("limit", 25)) > 10_000:
            bad.append(url)
    return bad


async def test_small_listings_are_read_whole_with_includes() -> None:
    sim = make_sim()
    account = sim.simulator.account
    async with client(sim) as pd:
        users = [u async for u in pd.users()]
        schedules = [s async for s in pd.schedules()]
        policies = [p async for p in pd.escalation_policies()]
    assert {u.id for u in users} == set(account.users)
    assert any(u.teams for u in users)  # include[]=teams
    assert all(s.schedule_layers for s in schedules)  # include[]=schedule_layers
    assert any(p.teams for p in policies)
    assert any(p.services for p in policies)
    listed = [httpx.URL(u) for u in sim.urls]
    assert all(u.params.get("limit") == "100" for u in listed)
    policy_includes = {
        tuple(u.params.get_list("include[]")) for u in listed if u.path == "/escalation_policies"
    }
    assert policy_includes == {("teams", "services", "targets")}


@pytest.mark.slow
async def test_12000_users_read_completely_despite_the_cap() -> None:
    account = Account.generate(3, 5, 12_000, 3, 3, subdomain="acme", region="us")
    sim = make_sim(account=account)
    async with client(sim) as pd:
        users = [u async for u in pd.users()]
        made = pd.requests_made
    ids = [u.id for u in users]
    assert len(ids) == len(set(ids))  # each exactly once
    assert set(ids) == set(account.users)
    assert refused_past_cap(sim) == []
    assert made < 1_000


async def test_listing_no_filter_can_split_fails_clearly() -> None:
    account = Account.generate(5, 10_050, 5, 1, 1, subdomain="acme", region="us")
    for team in account.teams.values():
        team["name"] = "Platform"  # no name query can tell them apart; /teams has no team filter
    sim = make_sim(account=account)
    seen = 0
    async with client(sim) as pd:
        with pytest.raises(PagingLimitError) as caught:  # noqa: PT012 - the error comes mid-iteration
            async for _ in pd.teams():
                seen += 1
    message = str(caught.value)
    assert "10,000" in message
    assert "/teams" in message
    assert "could not be read completely" in message
    assert seen < 10_050
    assert refused_past_cap(sim) == []


def paged_transport(items: list[dict[str, Any]], page_size: int, key: str) -> httpx.MockTransport:
    """A server that returns fewer items than asked for (as PagerDuty may)."""

    def handle(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params.get("offset", 0))
        page = items[offset : offset + page_size]
        more = offset + page_size < len(items)
        body = {key: page, "offset": offset, "limit": page_size, "more": more}
        return httpx.Response(200, content=json.dumps(body).encode())

    return httpx.MockTransport(handle)


async def test_next_offset_follows_what_arrived() -> None:
    items = [{"id": f"P{i:05d}", "type": "team", "name": f"Team {i}"} for i in range(250)]
    offsets: list[int] = []
    inner = paged_transport(items, 60, "teams")

    def record(request: httpx.Request) -> httpx.Response:
        offsets.append(int(request.url.params.get("offset", 0)))
        resp = inner.handler(request)
        assert isinstance(resp, httpx.Response)  # paged_transport's handler is synchronous
        return resp

    async with PagerDutyClient(
        ApiKeyAuth(API_KEY), base_url=BASE, transport=httpx.MockTransport(record), clock=FakeClock()
    ) as pd:
        teams = [t async for t in pd.teams()]
    assert [t.id for t in teams] == [i["id"] for i in items]
    assert offsets == [0, 60, 120, 180, 240]


async def test_audit_records_follow_the_cursor() -> None:
    sim = make_sim()
    account = sim.simulator.account
    team_ids = sorted(account.teams)
    for i in range(130):
        account.update("teams", team_ids[i % len(team_ids)], {"description": f"rev {i}"})
    now = sim.simulator.now()  # records are stamped with the simulator's clock
    since = (now - timedelta(days=1)).isoformat()
    until = (now + timedelta(days=1)).isoformat()
    async with client(sim) as pd:
        records = [r async for r in pd.audit_records(since=since, until=until)]
    assert len(records) == len({r.id for r in records}) >= 130
    assert sum(1 for u in sim.urls if "cursor=" in u) >= 1
