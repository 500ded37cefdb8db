"""Reading objects by id and the audit trail, as an incremental sync does (issue 15)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pd_helpers import API_KEY, BASE, Sim, make_sim

from pdsearch.pagerduty import AbilityError, ApiKeyAuth, NotFoundError, PagerDutyClient
from pdsearch.simulator.constants import DEFAULT_ABILITIES


def _client(sim: Sim) -> PagerDutyClient:
    return PagerDutyClient(ApiKeyAuth(API_KEY), base_url=BASE, transport=sim.transport,
                           clock=sim.clock)


async def test_objects_by_id_equal_what_the_listings_give() -> None:
    """An object read by id must map to the same document as the listed one, or incremental
    and full syncs would disagree."""
    sim = make_sim()
    async with _client(sim) as pd:
        policies = {p.id: p async for p in pd.escalation_policies()}
        schedules = {s.id: s async for s in pd.schedules()}
        users = {u.id: u async for u in pd.users()}
        teams = {t.id: t async for t in pd.teams()}
        for policy_id in list(policies)[:5]:
            assert await pd.escalation_policy(policy_id) == policies[policy_id]
        for schedule_id in list(schedules)[:5]:
            assert await pd.schedule(schedule_id) == schedules[schedule_id]
        for user_id in list(users)[:5]:
            assert await pd.user(user_id) == users[user_id]
        for team_id in list(teams)[:5]:
            assert await pd.team(team_id) == teams[team_id]
        v3_ids = [r.id async for r in pd.schedule_v3_refs()]
        v3_id = v3_ids[0]
        with pytest.raises(NotFoundError):
            await pd.schedule(v3_id)  # a shift-based id is not found among layer-based ones
        with pytest.raises(NotFoundError):
            await pd.escalation_policy("PNOSUCH")


async def test_audit_page_names_the_changed_object() -> None:
    sim = make_sim()
    account = sim.simulator.account
    team_id = sorted(account.teams)[0]
    account.update("teams", team_id, {"name": "Lighthouse"})
    sim.clock.advance(1)  # ``until`` (now, by default) is exclusive
    async with _client(sim) as pd:
        newest = await pd.audit_page(limit=1)
    assert len(newest) == 1
    record = newest[0]
    assert record.root_resource is not None
    assert (record.root_resource.id, record.root_resource.type) == (team_id, "team_reference")
    assert record.action == "update"
    assert record.details is not None
    assert [(f.name, f.value) for f in record.details.fields] == [("name", "Lighthouse")]


async def test_an_account_without_the_audit_trail_gets_402() -> None:
    sim = make_sim(abilities=set(DEFAULT_ABILITIES) - {"audit_trail"})
    async with _client(sim) as pd:
        with pytest.raises(AbilityError):
            await pd.audit_page()


async def test_audit_spans_over_31_days_are_refused_before_asking() -> None:
    sim = make_sim()
    now = sim.simulator.now()
    async with _client(sim) as pd:
        with pytest.raises(ValueError, match="31 days"):
            _ = [r async for r in pd.audit_records(
                since=(now - timedelta(days=32)).isoformat(), until=now.isoformat())]
    assert sim.urls == []
