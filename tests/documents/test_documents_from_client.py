"""The client's models, read from the simulator over HTTP, map to documents without loss."""

from __future__ import annotations

from typing import Any

import httpx

from pdsearch.documents import build_context, derive_entities, policy_document, schedule_document
from pdsearch.pagerduty.auth import ApiKeyAuth
from pdsearch.pagerduty.client import PagerDutyClient


async def test_simulated_account_read_by_the_client_maps_completely(sim: Any) -> None:
    account = sim.account
    async with PagerDutyClient(
        ApiKeyAuth(sim.api_key), base_url="http://127.0.0.1:9",
        transport=httpx.ASGITransport(app=sim.app),
    ) as client:
        users = [u async for u in client.users()]
        teams = [t async for t in client.teams()]
        policies = [p async for p in client.escalation_policies()]
        schedules = [s async for s in client.schedules()]
        v3 = [await client.schedule_v3(r.id) async for r in client.schedule_v3_refs()]

    ctx = build_context(account.subdomain, users, teams, schedules, v3, policies)
    docs = [policy_document(p, ctx, "pd") for p in policies]
    docs += [schedule_document(s, ctx, "pd") for s in schedules]
    docs += [schedule_document(s, ctx, "pd") for s in v3]
    expected = {f"escalation_policy:{i}" for i in account.list_ids("escalation_policies")}
    expected |= {f"schedule:{i}" for i in account.list_ids("schedules")}
    expected |= {f"schedule:{i}" for i in account.list_ids("schedules_v3")}
    assert {d.id for d in docs} == expected
    assert v3, "the small simulated account should hold shift-based schedules"

    names = {u.id: u.name for u in users}
    for doc in docs:
        assert doc.sys_racl[0] == account.subdomain
        assert doc.url.startswith(account.web_url)
        obj = account.get("escalation_policies", doc.id.split(":")[1]) \
            if doc.type == "escalation_policy" else account.schedules[doc.id.split(":")[1]]
        assert doc.title == obj["name"]
        assert list(doc.sys_racl[1:]) == [t["id"] for t in obj.get("teams") or []]
        # No bare user id survives where the account knows the user's name.
        for user_id, name in names.items():
            if user_id in doc.content:
                raise AssertionError(f"{doc.id} shows user id {user_id} instead of {name!r}")

    entities = derive_entities(account.subdomain, users, teams)
    assert [e.entity_id for e in entities] == [account.subdomain, *(t.id for t in teams)]
