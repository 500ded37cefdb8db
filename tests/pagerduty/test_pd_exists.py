"""Checking by id that an object still exists, as the sync does before deleting its document."""

from __future__ import annotations

from pd_helpers import API_KEY, BASE, make_sim

from pdsearch.pagerduty import ApiKeyAuth, PagerDutyClient


async def test_policies_and_both_kinds_of_schedule_exist_until_deleted() -> None:
    sim = make_sim()
    account = sim.simulator.account
    policy_id = next(iter(account.escalation_policies))
    v2_id = next(i for i, s in account.schedules.items() if s.get("type") != "schedule_v3")
    v3_id = next(i for i, s in account.schedules.items() if s.get("type") == "schedule_v3")
    async with PagerDutyClient(
        ApiKeyAuth(API_KEY), base_url=BASE, transport=sim.transport, clock=sim.clock
    ) as client:
        assert await client.escalation_policy_exists(policy_id)
        assert await client.schedule_exists(v2_id)
        assert await client.schedule_exists(v3_id)  # /schedules says 404, /v3/schedules has it
        assert not await client.escalation_policy_exists("PNOSUCH")
        assert not await client.schedule_exists("PNOSUCH")
        assert not await client.schedule_exists("a/../../users")  # an id is never a path
