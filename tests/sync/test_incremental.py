"""Incremental sync from audit records (issue 15): each write through the simulator's REST API,
then one incremental sync, which must change exactly what the write changed, within
2 + 2k requests for k changed objects."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from incremental_helpers import (
    docs,
    full,
    incremental,
    schedule_ids,
    targeted,
    untargeted_schedule,
    write,
)

from pdsearch.pagerduty.models import AuditRecord, Reference
from pdsearch.simulator.account import Account
from pdsearch.simulator.audit import record_time
from pdsearch.sync.pagerduty_account import AccountData
from pdsearch.sync.pagerduty_changes import plan
from pdsearch.sync.source import FullSyncNeeded


def _policy_body(name: str, target_id: str, target_type: str) -> dict[str, Any]:
    return {"escalation_policy": {
        "name": name, "num_loops": 0,
        "escalation_rules": [{"escalation_delay_in_minutes": 15,
                              "targets": [{"id": target_id, "type": target_type}]}],
    }}


async def test_nothing_changed_costs_one_look_at_the_audit_trail(sync_env: Any) -> None:
    await full(sync_env)
    before = docs(sync_env)
    job = await incremental(sync_env)
    assert job.requests <= 2
    assert job.counts == {"added": 0, "updated": 0, "deleted": 0, "unchanged": len(before),
                          "failed": 0}
    assert {i: d.content_hash for i, d in docs(sync_env).items()} == {
        i: d.content_hash for i, d in before.items()}
    again = await incremental(sync_env)  # the cursor moved; still nothing to read
    assert again.requests <= 2


async def test_a_policy_created_renamed_retargeted_and_deleted(sync_env: Any) -> None:
    account: Account = sync_env.sim.account
    await full(sync_env)
    first, second = [s for s in schedule_ids(account, v3=False) if s not in targeted(account)][:2]

    created = await write(sync_env, "POST", "/escalation_policies",
                          _policy_body("Harbour Watch", first, "schedule_reference"))
    policy_id = created["escalation_policy"]["id"]
    job = await incremental(sync_env)
    doc_id = f"escalation_policy:{policy_id}"
    found = docs(sync_env)
    assert found[doc_id].title == "Harbour Watch"
    assert account.schedules[first]["name"] in found[doc_id].content
    # The schedule's document names the policy that now pages it.
    assert "Harbour Watch" in found[f"schedule:{first}"].content
    assert job.counts["added"] == 1
    assert job.counts["updated"] == 1
    assert job.requests <= 2 + 2 * 2  # the policy, and the schedule it targets

    await write(sync_env, "PUT", f"/escalation_policies/{policy_id}",
                {"escalation_policy": {"name": "Lighthouse Watch"}})
    job = await incremental(sync_env)
    found = docs(sync_env)
    assert found[doc_id].title == "Lighthouse Watch"
    assert "Lighthouse Watch" in found[f"schedule:{first}"].content
    assert "Harbour Watch" not in found[f"schedule:{first}"].content
    assert job.requests <= 2 + 2 * 2

    body = _policy_body("Lighthouse Watch", second, "schedule_reference")
    await write(sync_env, "PUT", f"/escalation_policies/{policy_id}", body)
    job = await incremental(sync_env)
    found = docs(sync_env)
    assert account.schedules[second]["name"] in found[doc_id].content
    assert "Lighthouse Watch" in found[f"schedule:{second}"].content
    assert "Lighthouse Watch" not in found[f"schedule:{first}"].content
    assert job.requests <= 2 + 2 * 3  # the policy, the schedule it left, the one it joined

    await write(sync_env, "DELETE", f"/escalation_policies/{policy_id}")
    job = await incremental(sync_env)
    found = docs(sync_env)
    assert doc_id not in found
    assert "Lighthouse Watch" not in found[f"schedule:{second}"].content
    assert job.counts["deleted"] == 1
    assert job.requests <= 2 + 2 * 2


async def test_v2_and_v3_schedules_changed_and_deleted(sync_env: Any) -> None:
    account: Account = sync_env.sim.account
    await full(sync_env)
    for v3 in (False, True):
        schedule_id = untargeted_schedule(account, v3=v3)
        path = f"/v3/schedules/{schedule_id}" if v3 else f"/schedules/{schedule_id}"
        untouched = {i: d.content_hash for i, d in docs(sync_env).items()
                     if i != f"schedule:{schedule_id}"}
        await write(sync_env, "PUT", path, {"schedule": {"name": f"Night Ferry {v3}",
                                                         "description": "Across the bay"}})
        job = await incremental(sync_env)
        doc = docs(sync_env)[f"schedule:{schedule_id}"]
        assert doc.title == f"Night Ferry {v3}"
        assert "Across the bay" in doc.content
        assert job.counts["updated"] == 1
        assert job.counts["added"] == 0
        assert job.requests <= 2 + 2
        assert {i: d.content_hash for i, d in docs(sync_env).items()
                if i != f"schedule:{schedule_id}"} == untouched

        await write(sync_env, "DELETE", path)
        job = await incremental(sync_env)
        assert f"schedule:{schedule_id}" not in docs(sync_env)
        assert job.counts["deleted"] == 1
        assert job.requests <= 2 + 2


async def test_team_membership_changes_access(sync_env: Any) -> None:
    account: Account = sync_env.sim.account
    store, cid = sync_env.store, sync_env.connector_id
    await full(sync_env)
    team_id = sorted(account.teams)[0]
    members = {m["user_id"] for m in account.memberships.get(team_id, [])}
    user_id = next(u for u in sorted(account.users) if u not in members)
    email = account.users[user_id]["email"]
    assert team_id not in store.entities.for_user(email, cid)

    await write(sync_env, "PUT", f"/teams/{team_id}/users/{user_id}", {"role": "responder"})
    job = await incremental(sync_env)
    assert team_id in store.entities.for_user(email, cid)
    assert job.requests <= 2 + 2
    assert job.counts["added"] == job.counts["updated"] == job.counts["deleted"] == 0

    await write(sync_env, "DELETE", f"/teams/{team_id}/users/{user_id}")
    job = await incremental(sync_env)
    assert team_id not in store.entities.for_user(email, cid)
    assert job.requests <= 2 + 2


async def test_a_user_made_admin_and_demoted(sync_env: Any) -> None:
    account: Account = sync_env.sim.account
    store, cid = sync_env.store, sync_env.connector_id
    await full(sync_env)
    user_id = next(u for u, v in sorted(account.users.items()) if v.get("role") == "user")
    email = account.users[user_id]["email"]
    assert account.subdomain not in store.entities.for_user(email, cid)

    await write(sync_env, "PUT", f"/users/{user_id}", {"user": {"role": "admin"}})
    job = await incremental(sync_env)
    assert account.subdomain in store.entities.for_user(email, cid)
    assert job.requests <= 2 + 2

    await write(sync_env, "PUT", f"/users/{user_id}", {"user": {"role": "user"}})
    await incremental(sync_env)
    assert account.subdomain not in store.entities.for_user(email, cid)


async def test_a_user_renamed_shows_in_every_document_naming_them(sync_env: Any) -> None:
    account: Account = sync_env.sim.account
    await full(sync_env)
    before = docs(sync_env)
    # The user named in the most documents.
    counts = {u: sum(1 for d in before.values() if f"'{v['name']}'" in d.content)
              for u, v in account.users.items()}
    user_id = max(sorted(counts), key=lambda u: counts[u])
    old_name = account.users[user_id]["name"]
    naming = {i for i, d in before.items() if f"'{old_name}'" in d.content}
    assert len(naming) >= 2

    await write(sync_env, "PUT", f"/users/{user_id}",
                {"user": {"name": "Grace Harbourmaster", "email": "grace@harbour.example"}})
    job = await incremental(sync_env)
    after = docs(sync_env)
    for doc_id in naming:
        assert "'Grace Harbourmaster' <grace@harbour.example>" in after[doc_id].content
        assert f"'{old_name}'" not in after[doc_id].content
    assert job.counts["updated"] == len(naming)
    assert job.requests <= 2 + 2  # the user only: the documents come from what was kept
    changed = {i for i in after if after[i].content_hash != before[i].content_hash}
    assert changed == naming


async def test_a_canceled_incremental_sync_leaves_its_records_for_the_next(
    sync_env: Any,
) -> None:
    account: Account = sync_env.sim.account
    await full(sync_env)
    state_before = sync_env.store.sync_state.get(sync_env.connector_id)
    schedule_id = untargeted_schedule(account, v3=False)
    await write(sync_env, "PUT", f"/schedules/{schedule_id}", {"schedule": {"name": "Ebb"}})
    job_ids: list[str] = []

    def cancel_when_reading(p: Any) -> None:
        if p.phase == "changes" and p.total and not job_ids:
            job_ids.append(str(sync_env.service.running_job_id(sync_env.connector_id)))
            sync_env.service.cancel(job_ids[0])

    job = await sync_env.service.run(sync_env.connector_id, mode="incremental",
                                     on_progress=cancel_when_reading)

    assert job.status == "canceled"
    assert docs(sync_env)[f"schedule:{schedule_id}"].title != "Ebb"
    after = sync_env.store.sync_state.get(sync_env.connector_id)
    assert after.audit_cursor == state_before.audit_cursor  # the records stay to be read
    again = await incremental(sync_env)
    assert docs(sync_env)[f"schedule:{schedule_id}"].title == "Ebb"
    assert again.counts["updated"] == 1


async def test_a_record_of_an_unknown_action_reads_its_object_by_id(sync_env: Any) -> None:
    # A record whose action this version has never seen still names an object: it is read
    # again by id, never skipped. The schedule is renamed behind the audit trail's back, so
    # only that read can bring the new name.
    account: Account = sync_env.sim.account
    await full(sync_env)
    schedule_id = untargeted_schedule(account, v3=False)
    other = next(s for s in account.schedules
                 if s != schedule_id and account.schedules[s].get("type") != "schedule_v3")
    await write(sync_env, "PUT", f"/schedules/{other}", {"schedule": {"description": "Ferry"}})
    template = account.audit_records[len(account.audit_records) - 1]
    assert template["root_resource"]["id"] == other
    account.schedules[schedule_id]["name"] = "Quietly Renamed"
    odd = copy.deepcopy(template)
    odd["id"] = account.audit_records.new_id(record_time(template))
    odd["action"] = "archive"  # not create, update or delete
    odd["root_resource"] = {**template["root_resource"], "id": schedule_id,
                            "summary": "Quietly Renamed"}
    odd.pop("details", None)
    account.audit_records.add(odd)
    job = await incremental(sync_env)
    assert docs(sync_env)[f"schedule:{schedule_id}"].title == "Quietly Renamed"
    assert job.counts["updated"] == 2


def test_a_record_of_an_unknown_kind_asks_for_a_full_sync() -> None:
    # A kind this version cannot read by id (a new PagerDuty object) cannot be placed: the
    # incremental sync gives way to a full one, which reads everything, and says why.
    known = AuditRecord(id="R1", execution_time="2026-12-01T10:00:00Z", action="update",
                        root_resource=Reference(id="P1", type="escalation_policy_reference"))
    unknown = AuditRecord(id="R2", execution_time="2026-12-01T10:00:01Z", action="create",
                          root_resource=Reference(id="X1", type="status_page_reference"))
    assert plan([known], AccountData()).objects == {"escalation_policies": {"P1"}}
    with pytest.raises(FullSyncNeeded, match="status_page_reference"):
        plan([known, unknown], AccountData())
