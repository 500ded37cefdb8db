"""Full sync against the simulator: documents, deletions, updates, failures (issue 4)."""

from __future__ import annotations

import asyncio
import math
from functools import partial
from typing import Any

import pytest
from sync_helpers import deletable_policy, isolated_schedule

from pdsearch.index.base import Grant
from pdsearch.pagerduty.timing import RetryPolicy
from pdsearch.simulator.account import Account
from pdsearch.simulator.app import create_app
from pdsearch.simulator.config import SimulatorConfig
from pdsearch.sync.connection import check_connection, client_for
from pdsearch.sync.engine import full_sync
from pdsearch.sync.pagerduty_source import PagerDutySource
from pdsearch.sync.progress import Progress
from pdsearch.sync.sink import ConnectorSink


def _objects(account: Account) -> dict[str, dict[str, Any]]:
    """Document id → the object as PagerDuty renders it, for every policy and schedule."""
    out: dict[str, dict[str, Any]] = {}
    for pid in account.escalation_policies:
        out[f"escalation_policy:{pid}"] = account.render_policy(pid, ["teams"])
    for sid, sched in account.schedules.items():
        if sched.get("type") == "schedule_v3":
            out[f"schedule:{sid}"] = account.render_schedule_v3(sid)
        else:
            out[f"schedule:{sid}"] = account.render_schedule(sid)
    return out


def _docs(env: Any) -> dict[str, Any]:
    docs, total = env.index.list(env.connector_id, 0, 100_000)
    assert total == len(docs)
    return {d.id: d for d in docs}


async def test_full_sync_yields_one_document_per_policy_and_schedule(sync_env: Any) -> None:
    account = sync_env.sim.account
    job = await sync_env.service.run(sync_env.connector_id, mode="full")

    assert job.status == "succeeded", job.error
    expected = _objects(account)
    v3 = [i for i, o in expected.items() if o.get("type") == "schedule_v3"]
    assert v3, "the account should hold shift-based schedules"
    docs = _docs(sync_env)
    assert set(docs) == set(expected)
    assert job.counts == {"added": len(expected), "updated": 0, "deleted": 0, "unchanged": 0,
                          "failed": 0}
    for doc_id, obj in expected.items():
        doc = docs[doc_id]
        assert doc.title == obj["name"]
        assert doc.url == obj["html_url"]
        assert doc.type == doc_id.split(":")[0]
        assert doc.source == sync_env.connector_id
        team_ids = [t["id"] for t in obj.get("teams") or []]
        assert doc.sys_racl[0] == account.subdomain
        assert sorted(doc.sys_racl[1:]) == sorted(team_ids)
        # Content holds what people search for, with names resolved rather than ids.
        for team in obj.get("teams") or []:
            assert account.teams[team["id"]]["name"] in doc.content
        if obj.get("description"):
            assert obj["description"] in doc.content
        if doc.type == "schedule":
            assert obj["time_zone"] in doc.content
        else:
            levels = len(obj["escalation_rules"])
            assert f"{levels} level" in doc.content
    # Identity came along: the account entity and one per team.
    records, _ = sync_env.store.entities.list(sync_env.connector_id, limit=1000)
    assert {r.entity_id for r in records} == {account.subdomain, *account.teams}
    admins = {u["email"].lower() for u in account.users.values()
              if u.get("role") in ("owner", "admin")}
    account_entity = next(r for r in records if r.entity_id == account.subdomain)
    assert set(account_entity.user_ids) == admins
    assert job.requests > 0
    assert job.finished_at is not None
    assert job.progress["swept"] is True
    assert sync_env.connector.subdomain == account.subdomain


async def test_deleted_objects_are_swept_and_counted(sync_env: Any) -> None:
    account = sync_env.sim.account
    await sync_env.service.run(sync_env.connector_id, mode="full")
    policy_id = deletable_policy(account)
    schedule_id = isolated_schedule(account)
    async with sync_env.pd() as pd:
        assert (await pd.delete(f"/escalation_policies/{policy_id}")).status_code == 204
        assert (await pd.delete(f"/schedules/{schedule_id}")).status_code == 204

    job = await sync_env.service.run(sync_env.connector_id, mode="full")

    assert job.status == "succeeded", job.error
    assert job.counts["deleted"] == 2
    assert job.counts["added"] == 0
    docs = _docs(sync_env)
    assert f"escalation_policy:{policy_id}" not in docs
    assert f"schedule:{schedule_id}" not in docs
    assert set(docs) == set(_objects(account))


async def test_rename_updates_one_and_leaves_the_rest_unchanged(sync_env: Any) -> None:
    account = sync_env.sim.account
    first = await sync_env.service.run(sync_env.connector_id, mode="full")
    schedule_id = isolated_schedule(account)
    async with sync_env.pd() as pd:
        resp = await pd.put(f"/schedules/{schedule_id}",
                            json={"schedule": {"name": "Lighthouse Keepers"}})
        assert resp.status_code == 200, resp.text

    job = await sync_env.service.run(sync_env.connector_id, mode="full")

    total = first.counts["added"]
    assert job.counts == {"added": 0, "updated": 1, "deleted": 0, "unchanged": total - 1,
                          "failed": 0}
    doc = sync_env.index.get(sync_env.connector_id, f"schedule:{schedule_id}")
    assert doc is not None
    assert doc.title == "Lighthouse Keepers"
    found = sync_env.index.search("lighthouse", {Grant(sync_env.connector_id, account.subdomain)})
    assert [h.id for h in found.hits] == [f"schedule:{schedule_id}"]


async def test_a_sync_failing_midway_deletes_nothing(sync_env: Any) -> None:
    """The key is revoked once identity is read: the content listings fail with 401."""
    account = sync_env.sim.account
    await sync_env.service.run(sync_env.connector_id, mode="full")
    before = _docs(sync_env)
    policy_id = deletable_policy(account)
    async with sync_env.pd() as pd:
        await pd.delete(f"/escalation_policies/{policy_id}")

    def revoke_when_reading_content(p: Progress) -> None:
        if p.phase == "policies":
            sync_env.sim.revoke_api_key()

    job = await sync_env.service.run(
        sync_env.connector_id, on_progress=revoke_when_reading_content, mode="full"
    )

    assert job.status == "failed"
    assert job.error
    assert "401" in job.error
    assert "Nothing was deleted" in job.error
    # Identity was read before the failure, and is kept: it is complete on its own.
    assert sync_env.store.entities.list(sync_env.connector_id)[1] > 0
    assert job.counts["deleted"] == 0
    assert set(_docs(sync_env)) == set(before)  # the deleted policy is still there
    assert sync_env.sim.api_key not in job.error
    connector = sync_env.connector
    assert connector.status == "error"
    assert connector.last_error
    assert sync_env.sim.api_key not in connector.last_error


async def test_a_listing_failing_past_retries_fails_the_job(sim: Any, sync_env_factory: Any
                                                           ) -> None:
    fast = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.02)
    env = sync_env_factory(sim, client_factory=partial(client_for, retry=fast))
    await env.service.run(env.connector_id, mode="full")
    schedule_id = isolated_schedule(sim.account)
    async with env.pd() as pd:
        await pd.delete(f"/schedules/{schedule_id}")
    before = set(_docs(env))

    def break_listings(p: Progress) -> None:
        if p.phase == "policies":
            sim.config.fault_rate = 1.0
            sim.config.fault_kinds = ["503"]

    job = await env.service.run(env.connector_id, mode="full", on_progress=break_listings)

    assert job.status == "failed"
    assert job.error
    assert "Listing" in job.error
    assert "failed" in job.error
    assert "Nothing was deleted" in job.error
    assert set(_docs(env)) == before
    assert f"schedule:{schedule_id}" in before
    sim.config.fault_rate = 0.0
    again = await env.service.run(env.connector_id, mode="full")
    assert again.status == "succeeded"
    assert again.counts["deleted"] == 1


async def test_an_object_that_cannot_be_mapped_is_recorded_and_kept(sync_env: Any) -> None:
    account = sync_env.sim.account
    await sync_env.service.run(sync_env.connector_id, mode="full")
    v3_id = next(i for i, s in sorted(account.schedules.items())
                 if s.get("type") == "schedule_v3")
    # A recurrence rule PagerDuty would never send, planted behind the simulator's validation.
    for rotation in account.schedules[v3_id]["rotations"]:
        for event in rotation["events"]:
            event["recurrence"] = ["RRULE:FREQ=SOMETIMES;INTERVAL=banana"]
    account.touch()

    job = await sync_env.service.run(sync_env.connector_id, mode="full")

    assert job.status == "succeeded", job.error
    assert job.counts["failed"] == 1
    assert job.failures[0]["id"] == f"schedule:{v3_id}"
    assert job.failures[0]["reason"]
    assert job.counts["deleted"] == 0
    # The last good version stays searchable rather than vanishing.
    assert sync_env.index.get(sync_env.connector_id, f"schedule:{v3_id}") is not None


async def test_a_full_sync_makes_no_more_requests_than_the_listings_need(
    sync_env_factory: Any,
) -> None:
    config = SimulatorConfig.for_scale("small", rate_limit=0)
    account = Account.generate(7, teams=6, users=230, schedules=24, policies=130,
                               subdomain="bigco")
    sim = create_app(account, config).state.simulator
    env = sync_env_factory(sim)
    await check_connection(env.connector, env.store.connectors, transport=env.transport)
    sim.reset_counters()

    job = await env.service.run(env.connector_id, mode="full")

    assert job.status == "succeeded", job.error
    v3 = sum(1 for s in account.schedules.values() if s.get("type") == "schedule_v3")
    v2 = len(account.schedules) - v3

    def pages(n: int) -> int:
        return max(1, math.ceil(n / 100))

    expected = (
        pages(len(account.teams))
        + pages(len(account.users))
        + pages(len(account.escalation_policies))
        + pages(v2)
        + pages(v3)
        + v3
        + pages(len(account.services))
    )
    expected += 1  # one look at the audit trail: where the next incremental sync starts
    assert sim.request_count == job.requests
    assert job.requests <= expected, dict(sim.requests_by_path)
    assert sum(n for p, n in sim.requests_by_path.items() if p.startswith("/teams/")) == 0
    assert sim.requests_by_path["/users"] == pages(len(account.users))


async def test_a_cancel_between_batches_leaves_whole_batches(
    sync_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pdsearch.sync.engine.BATCH_SIZE", 7)
    cancel = asyncio.Event()

    def cancel_after_two_batches(p: Progress) -> None:
        if p.phase == "indexing" and p.counts.added >= 14:
            cancel.set()

    connector = sync_env.connector
    async with client_for(connector, sync_env.store.connectors,
                          transport=sync_env.transport) as client:
        source = PagerDutySource(client, connector.id, connector.subdomain)
        sink = ConnectorSink(sync_env.index, sync_env.store.connectors, sync_env.store.entities,
                             connector.id, connector.subdomain)
        result = await full_sync(source, sink, cancel=cancel,
                                 on_progress=cancel_after_two_batches, progress_interval=0)

    assert result.status == "canceled"
    assert not result.swept
    assert result.counts.added == 14
    assert sync_env.index.count(sync_env.connector_id) == 14
    assert result.error
    assert "Nothing was deleted" in result.error


async def test_an_account_without_the_teams_ability_still_syncs(sync_env: Any) -> None:
    sync_env.sim.abilities.remove("teams")  # /teams answers 402, as on plans without teams

    job = await sync_env.service.run(sync_env.connector_id, mode="full")

    assert job.status == "succeeded", job.error
    assert job.counts["added"] == len(_objects(sync_env.sim.account))
    records, _ = sync_env.store.entities.list(sync_env.connector_id, limit=1000)
    assert sync_env.sim.account.subdomain in {r.entity_id for r in records}


async def test_a_flaky_pagerduty_is_retried_and_the_sync_completes(
    sim: Any, sync_env_factory: Any
) -> None:
    patient = RetryPolicy(max_attempts=10, base_delay=0.001, max_delay=0.005)
    env = sync_env_factory(sim, client_factory=partial(client_for, retry=patient))
    first = await env.service.run(env.connector_id, mode="full")
    # The requests a steady-state sync needs:
    clean = await env.service.run(env.connector_id, mode="full")
    policy_id = deletable_policy(sim.account)
    async with env.pd() as pd:
        await pd.delete(f"/escalation_policies/{policy_id}")
    sim.config.fault_rate = 0.3
    sim.config.fault_kinds = ["500", "502", "503", "cut", "malformed"]

    job = await env.service.run(env.connector_id, mode="full")

    assert job.status == "succeeded", job.error
    assert job.counts["deleted"] == 1
    assert job.counts["added"] == 0
    assert job.counts["unchanged"] + job.counts["updated"] == first.counts["added"] - 1
    assert set(_docs(env)) == set(_objects(sim.account))
    assert job.requests > clean.requests  # the retries were made, and counted
