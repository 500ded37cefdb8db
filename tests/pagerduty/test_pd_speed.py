"""Reading as fast as PagerDuty allows: pages side by side, the budget spent without waiting until
it runs out, and never past it."""

from __future__ import annotations

import math
from typing import Any

import httpx
from pd_helpers import API_KEY, BASE, Sim, make_sim

from pdsearch.pagerduty import ApiKeyAuth, PagerDutyClient
from pdsearch.pagerduty.ratelimit import DEFAULT_RESERVE
from pdsearch.simulator.account import Account
from pdsearch.simulator.errors import AccountError

USERS = 450


def big_account() -> Account:
    return Account.generate(5, 6, USERS, 12, 12, subdomain="acme", region="us")


class Timeline(httpx.AsyncBaseTransport):
    """Remembers when (on the test's clock) each request was answered, and with what status."""

    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.answers: list[tuple[float, str, int]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.sim.transport.handle_async_request(request)
        self.answers.append((self.sim.clock.monotonic(), request.url.path, response.status_code))
        return response


def client(
    sim: Sim, transport: httpx.AsyncBaseTransport | None = None, **kw: Any
) -> PagerDutyClient:
    return PagerDutyClient(
        ApiKeyAuth(API_KEY),
        base_url=BASE,
        transport=transport or sim.transport,
        clock=sim.clock,
        **kw,
    )


def user_pages(sim: Sim) -> list[httpx.URL]:
    return [u for u in map(httpx.URL, sim.urls) if u.path == "/users"]


async def test_pages_with_a_known_total_are_read_side_by_side() -> None:
    sim = make_sim(account=big_account(), latency_ms=5)
    async with client(sim, max_concurrency=4) as pd:
        ids = [u.id async for u in pd.users()]
    assert len(ids) == len(set(ids))
    assert set(ids) == set(sim.simulator.account.users)
    pages = user_pages(sim)
    assert len(pages) == math.ceil(USERS / 100)  # nothing read twice
    assert sorted(int(u.params["offset"]) for u in pages) == [0, 100, 200, 300, 400]
    # Only the first page asks for the total; it tells the other pages' offsets.
    assert [u.params.get("total") for u in pages] == ["true"] + [None] * (len(pages) - 1)
    assert sim.transport.max_in_flight == 4  # type: ignore[attr-defined]


async def test_v3_list_is_read_at_its_own_maximum_page() -> None:
    sim = make_sim(account=Account.generate(2, 3, 20, 240, 5, subdomain="acme", region="us"))
    async with client(sim) as pd:
        refs = [r async for r in pd.schedule_v3_refs()]
    v3 = [i for i, s in sim.simulator.account.schedules.items() if s.get("type") == "schedule_v3"]
    assert sorted(r.id for r in refs) == sorted(v3)
    listed = [httpx.URL(u) for u in sim.urls if httpx.URL(u).path == "/v3/schedules"]
    assert [u.params["limit"] for u in listed] == ["1000"]  # the list's maximum, not 100


class ShrinkingAccount(httpx.AsyncBaseTransport):
    """Deletes one of the first users (by name) as soon as the first page of users is answered:
    every later page shifts back by one, and a user falls between two pages."""

    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.deleted: str | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.sim.transport.handle_async_request(request)
        if request.url.path == "/users" and self.deleted is None:
            account = self.sim.simulator.account
            for user_id in account.list_ids("users"):
                try:
                    account.delete("users", user_id)
                except AccountError:
                    continue  # the owner, or a user something still needs
                self.deleted = user_id
                break
        return response


async def test_a_listing_that_changes_while_read_still_yields_every_object() -> None:
    sim = make_sim(account=big_account(), latency_ms=5)
    shrinking = ShrinkingAccount(sim)
    async with client(sim, shrinking) as pd:
        ids = [u.id async for u in pd.users()]
    assert shrinking.deleted is not None
    assert len(ids) == len(set(ids))  # de-duplicated by id
    assert set(sim.simulator.account.users) <= set(ids)  # no remaining user missed
    # The count fell short of the total, so the listing was read again, page by page.
    assert len(user_pages(sim)) > math.ceil(USERS / 100)


async def test_ample_budget_is_spent_without_waiting() -> None:
    sim = make_sim(account=big_account(), latency_ms=5, rate_limit=960)
    async with client(sim, max_concurrency=4) as pd:
        users = [u async for u in pd.users()]
        policies = [p async for p in pd.escalation_policies()]
        limiter = pd.rate_limiter
    assert len(users) == USERS
    assert policies
    # Far from the budget: no request was held back, not even briefly, and the pages went out
    # as many at a time as the concurrency cap allows.
    assert sim.clock.slept == []
    assert limiter.throttled == 0
    assert limiter.rate_limited == 0
    assert sim.transport.max_in_flight == 4  # type: ignore[attr-defined]


async def test_binding_budget_is_never_exceeded_and_waits_only_for_the_reset() -> None:
    budget = 25
    sim = make_sim(account=big_account(), latency_ms=2, rate_limit=budget)
    timeline = Timeline(sim)
    async with client(sim, timeline, max_concurrency=4) as pd:
        users = [u async for u in pd.users()]
        policies = [p async for p in pd.escalation_policies()]
        refs = [r async for r in pd.schedule_v3_refs()]
        v3 = [await pd.schedule_v3(r.id) for r in refs]
        limiter = pd.rate_limiter
    assert len(users) == USERS
    assert policies
    assert len(v3) == len(refs)
    statuses = [status for _, _, status in timeline.answers]
    assert 429 not in statuses
    assert limiter.rate_limited == 0
    # Each window (the simulator's: a minute from its first request) spent at most the budget
    # less the reserve kept for others on the same credential.
    windows: list[list[float]] = []
    for when, _, _ in timeline.answers:
        if not windows or when - windows[-1][0] >= 60:
            windows.append([when])
        else:
            windows[-1].append(when)
    assert all(len(w) <= budget - DEFAULT_RESERVE for w in windows)
    # It waited only when the budget ran out, and then for the reset, not longer.
    needed = math.ceil(len(statuses) / (budget - DEFAULT_RESERVE))
    assert len(windows) == needed
    assert sim.clock.monotonic() <= (needed - 1) * 60 + 2


async def test_subdomain_comes_from_listed_objects_without_probes() -> None:
    sim = make_sim()
    async with client(sim) as pd:
        teams = [t async for t in pd.teams()]
        made = pd.requests_made
        assert await pd.subdomain() == sim.subdomain
        assert pd.requests_made == made  # nothing asked for it
    assert teams
    paths = {httpx.URL(u).path for u in sim.urls}
    assert paths == {"/teams"}  # no /users/me, /abilities or /users?limit=1
    fresh = make_sim()
    async with client(fresh) as pd:
        assert await pd.subdomain() == fresh.subdomain
        assert pd.requests_made == 1  # nothing read yet: one object listed for it
