"""On-call refreshes against the simulator: pdsearch's "now" equals the simulator's ``/oncalls``
for every policy and schedule; overrides show after one refresh; ``at`` days ahead; access;
how a refresh and a sync share a connector."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from pdsearch.oncall import OutsideWindowError, who_is_on_call
from pdsearch.sync.oncall import OnCallRefresher

T = datetime(2026, 12, 7, 10, 17, tzinfo=UTC)  # a Monday morning
Now = tuple[int | None, str, str | None]  # (level, user id, schedule id)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _admin(env: Any) -> str:
    users = env.sim.account.users.values()
    return str(next(u["email"] for u in users if u["role"] in ("owner", "admin")))


async def _synced(env: Any, at: datetime = T) -> OnCallRefresher:
    env.sim.clock = lambda: at.timestamp()
    refresher = OnCallRefresher(env.store, env.index, transport=env.transport, clock=lambda: at)
    env.service.oncall = refresher
    job = await env.service.run(env.connector_id)
    assert job.status == "succeeded", job.error
    return refresher


async def _sim_oncalls(env: Any, at: datetime) -> list[dict[str, Any]]:
    """Every on-call at the instant ``at``, as the simulator lists them."""
    rows: list[dict[str, Any]] = []
    async with env.pd() as pd:
        offset = 0
        while True:
            params = {"since": _iso(at), "until": _iso(at), "limit": 100, "offset": offset}
            body = (await pd.get("/oncalls", params=params)).json()
            rows += body["oncalls"]
            if not body["more"]:
                return rows
            offset += 100


async def _rendered_now(
    pd: httpx.AsyncClient, schedule_id: str, v3: bool, at: datetime
) -> set[str]:
    window = {"since": _iso(at), "until": _iso(at + timedelta(seconds=1))}
    if v3:
        got = await pd.get(
            f"/v3/schedules/{schedule_id}", params={**window, "include[]": "final_schedule"}
        )
        items = got.json()["schedule"]["final_schedule"]["computed_shift_assignments"]
        return {i["member"]["user_id"] for i in items if i["member"].get("user_id")}
    got = await pd.get(f"/schedules/{schedule_id}", params=window)
    entries = got.json()["schedule"]["final_schedule"]["rendered_schedule_entries"]
    return {e["user"]["id"] for e in entries}


def _ours(env: Any, at: datetime | None = None, user: str | None = None) -> dict[str, Any]:
    found = who_is_on_call(env.index, env.store, user or _admin(env), "", at or T, limit=100)
    assert found.total == len(found.results)  # the whole small account on one page
    return {r.hit.id: r.oncall for r in found.results}


def _now(answer: dict[str, Any]) -> set[Now]:
    return {(e["level"], e["user"]["id"], e["schedule_id"]) for e in answer["now"]}


async def _check_against_simulator(env: Any, at: datetime, ours: dict[str, Any]) -> None:
    account = env.sim.account
    rows = await _sim_oncalls(env, at)
    assert rows, "the account has on-calls"
    expected_policies: dict[str, set[Now]] = {pid: set() for pid in account.escalation_policies}
    used: dict[str, set[str]] = {}
    for o in rows:
        sid = o["schedule"]["id"] if o["schedule"] else None
        expected_policies[o["escalation_policy"]["id"]].add(
            (o["escalation_level"], o["user"]["id"], sid)
        )
        if sid:
            used.setdefault(sid, set()).add(o["user"]["id"])
    for pid, expected in expected_policies.items():
        assert _now(ours[f"escalation_policy:{pid}"]) == expected, pid
    async with env.pd() as pd:
        for sid, schedule in account.schedules.items():
            answer = ours[f"schedule:{sid}"]
            assert answer is not None, sid
            now = {e["user"]["id"] for e in answer["now"]}
            if sid in used:  # what /oncalls says of it
                assert now == used[sid], sid
            v3 = schedule.get("type") == "schedule_v3"
            assert now == await _rendered_now(pd, sid, v3, at), sid
            for e in answer["now"]:
                assert e["start"] <= _iso(at) < e["end"]
                assert e["user"]["email"] == account.users[e["user"]["id"]]["email"]


async def test_now_equals_the_simulators_oncalls_for_every_policy_and_schedule(
    sync_env: Any,
) -> None:
    sync_env.sim.clock = lambda: T.timestamp()
    before = sync_env.sim.request_count
    await _synced(sync_env)
    # The sync refreshed who is on call inside its own job, its requests counted there.
    jobs, _ = sync_env.store.jobs.list(sync_env.connector_id)
    assert [(j.mode, j.status) for j in jobs] == [("full", "succeeded")]
    assert "oncall_error" not in jobs[0].progress
    assert jobs[0].requests == sync_env.sim.request_count - before
    window = sync_env.store.oncall.window(sync_env.connector_id)
    assert window is not None
    assert window.since == T
    assert window.until == T + timedelta(days=7)
    assert 0 < window.requests < jobs[0].requests
    ours = _ours(sync_env)
    await _check_against_simulator(sync_env, T, ours)
    # Schedules have someone next, after the current shift.
    nexts = [a["next"] for k, a in ours.items() if k.startswith("schedule:") and a["now"]]
    assert any(nexts)
    for nxt in filter(None, nexts):
        assert all(e["start"] > _iso(T) for e in nxt)


async def test_at_a_few_days_ahead_and_outside_the_window(sync_env: Any) -> None:
    await _synced(sync_env)
    ahead = T + timedelta(days=3, hours=7, minutes=41)
    await _check_against_simulator(sync_env, ahead, _ours(sync_env, ahead))
    with pytest.raises(OutsideWindowError, match="outside the stored on-call window"):
        _ours(sync_env, T + timedelta(days=8))
    with pytest.raises(OutsideWindowError):
        _ours(sync_env, T - timedelta(minutes=1))


async def test_an_override_shows_after_one_refresh(sync_env: Any) -> None:
    refresher = await _synced(sync_env)
    account = sync_env.sim.account
    rows = await _sim_oncalls(sync_env, T)
    row = next(o for o in rows if o["schedule"] and o["escalation_level"] == 1)
    sid, pid, was = row["schedule"]["id"], row["escalation_policy"]["id"], row["user"]["id"]
    stand_in = next(u for u in sorted(account.users) if u != was)
    override = {
        "start": _iso(T - timedelta(hours=1)),
        "end": _iso(T + timedelta(hours=2)),
        "user": {"id": stand_in, "type": "user_reference"},
    }
    async with sync_env.pd() as pd:
        made = await pd.post(f"/schedules/{sid}/overrides", json={"overrides": [override]})
        assert made.status_code == 201, made.text
    before = _ours(sync_env)
    assert stand_in not in {e["user"]["id"] for e in before[f"schedule:{sid}"]["now"]}
    # The next refresh, a few minutes later, reads what the audit trail says changed.
    later = T + timedelta(minutes=3)
    sync_env.sim.clock = lambda: later.timestamp()
    refresher.clock = lambda: later
    sync_env.sim.reset_counters()
    job = await refresher.refresh(sync_env.connector_id)
    assert job is not None
    assert job.status == "succeeded"
    assert job.mode == "oncall"
    assert job.progress["read"] == "changes"
    # The audit records, the policies through that schedule (one /oncalls piece), no more.
    assert job.requests == sync_env.sim.request_count <= 4
    after = _ours(sync_env, later)
    assert {e["user"]["id"] for e in after[f"schedule:{sid}"]["now"]} == {stand_in}
    assert (1, stand_in, sid) in _now(after[f"escalation_policy:{pid}"])
    await _check_against_simulator(sync_env, later, after)
    # Days later the whole window is read again, and still agrees.
    days = T + timedelta(days=1, minutes=1)
    sync_env.sim.clock = lambda: days.timestamp()
    refresher.clock = lambda: days
    job = await refresher.refresh(sync_env.connector_id)
    assert job is not None
    assert job.progress["read"] == "full"
    await _check_against_simulator(sync_env, days, _ours(sync_env, days))


async def test_a_credential_without_oncalls_read_gets_the_same_answers(sync_env: Any) -> None:
    # A scoped OAuth app granted what the connector asks for, but not oncalls.read: /oncalls
    # answers 403, and who is on call is composed from the policies' rules and the schedules.
    from pdsearch.pagerduty.oauth import DEFAULT_SCOPES, OPTIONAL_SCOPES

    tokens = sync_env.sim.tokens
    scoped = "scoped-app-token"
    tokens.api_keys[scoped] = dataclasses.replace(
        tokens.api_keys[sync_env.sim.api_key], bucket="key:scoped",
        scopes=frozenset({*DEFAULT_SCOPES, *OPTIONAL_SCOPES, "services.read"}))
    sync_env.store.connectors.set_credentials(sync_env.connector_id, {"api_key": scoped})
    async with sync_env.pd() as pd:
        refused = await pd.get("/oncalls", headers={"Authorization": f"Token token={scoped}"})
        assert refused.status_code == 403
    refresher = await _synced(sync_env)
    jobs, _ = sync_env.store.jobs.list(sync_env.connector_id)
    assert "oncall_error" not in jobs[0].progress
    ours = _ours(sync_env)
    assert any(a["now"] for k, a in ours.items() if k.startswith("escalation_policy:"))
    await _check_against_simulator(sync_env, T, ours)  # the test's own key may read /oncalls
    # An override, then a refresh of what changed: the changed schedule's policies by id.
    rows = await _sim_oncalls(sync_env, T)
    row = next(o for o in rows if o["schedule"] and o["escalation_level"] == 1)
    sid, pid, was = row["schedule"]["id"], row["escalation_policy"]["id"], row["user"]["id"]
    stand_in = next(u for u in sorted(sync_env.sim.account.users) if u != was)
    override = {"start": _iso(T - timedelta(hours=1)), "end": _iso(T + timedelta(hours=2)),
                "user": {"id": stand_in, "type": "user_reference"}}
    async with sync_env.pd() as pd:
        made = await pd.post(f"/schedules/{sid}/overrides", json={"overrides": [override]})
        assert made.status_code == 201, made.text
    later = T + timedelta(minutes=3)
    sync_env.sim.clock = lambda: later.timestamp()
    refresher.clock = lambda: later
    job = await refresher.refresh(sync_env.connector_id)
    assert job is not None
    assert (job.status, job.progress["read"]) == ("succeeded", "changes"), job.error
    after = _ours(sync_env, later)
    assert (1, stand_in, sid) in _now(after[f"escalation_policy:{pid}"])
    await _check_against_simulator(sync_env, later, after)


async def test_nobody_learns_oncall_for_what_they_may_not_see(sync_env: Any) -> None:
    await _synced(sync_env)
    account = sync_env.sim.account
    everything = _ours(sync_env)
    outsider = "nobody@elsewhere.example"
    found = who_is_on_call(sync_env.index, sync_env.store, outsider, "who is on call?", T)
    assert (found.total, found.results) == (0, [])
    # A member of one team: only documents of that team (or none), and totals to match.
    team_id, members = next(iter(sorted(account.memberships.items())))
    member = next(
        account.users[m["user_id"]]["email"] for m in members
        if account.users[m["user_id"]]["role"] not in ("owner", "admin")
    )
    mine = who_is_on_call(sync_env.index, sync_env.store, member, "", T, limit=100)
    visible = {r.hit.id for r in mine.results}
    assert mine.total == len(visible) < len(everything)
    for r in mine.results:
        doc = sync_env.index.get(sync_env.connector_id, r.hit.id)
        granted = sync_env.store.entities.for_user(member, sync_env.connector_id)
        assert team_id in granted
        assert any(e in doc.sys_racl for e in granted)
        assert r.oncall == everything[r.hit.id]
    # Asking by the name of a policy they may not see finds nothing.
    hidden = next(k for k in everything if k not in visible and k.startswith("escalation"))
    title = sync_env.index.get(sync_env.connector_id, hidden).title
    asked = who_is_on_call(sync_env.index, sync_env.store, member, f"who is on call for {title}",
                           T, limit=100)
    assert hidden not in {r.hit.id for r in asked.results}
    assert asked.total == len(asked.results)


async def test_a_refresh_and_a_sync_share_the_connector(sync_env: Any) -> None:
    refresher = await _synced(sync_env)
    cid = sync_env.connector_id
    assert not refresher.due(cid, T + timedelta(minutes=9))
    assert refresher.due(cid, T + timedelta(minutes=10))
    # The window running short (a day of it gone) makes a refresh due even with a long
    # interval: the whole window is read again.
    lazy = OnCallRefresher(sync_env.store, sync_env.index, interval_minutes=30 * 1440)
    assert not lazy.due(cid, T + timedelta(hours=23))
    assert lazy.due(cid, T + timedelta(days=1, minutes=1))
    off = OnCallRefresher(sync_env.store, sync_env.index, interval_minutes=0)
    assert not off.due(cid, T + timedelta(days=6))
    # A refresh that finds a job of the connector running is skipped, with no record.
    busy = sync_env.store.jobs.create(cid, "manual", status="running")
    count = sync_env.store.jobs.list(cid)[1]
    assert await refresher.refresh(cid) is None
    assert await refresher.refresh_due() == []
    assert sync_env.store.jobs.list(cid)[1] == count
    sync_env.store.jobs.update(busy.id, status="succeeded")
    # refresh_due refreshes what is due, as a scheduled job.
    refresher.clock = lambda: T + timedelta(minutes=11)
    sync_env.sim.clock = lambda: (T + timedelta(minutes=11)).timestamp()
    ran = await refresher.refresh_due()
    assert [(j.mode, j.trigger, j.status) for j in ran] == [("oncall", "scheduled", "succeeded")]
    # Nothing changed in PagerDuty: one request (the audit trail), the window kept.
    assert ran[0].progress["read"] == "changes"
    assert ran[0].requests == 1
    window = sync_env.store.oncall.window(cid)
    assert window is not None
    assert window.since == T
    assert window.refreshed_at == T + timedelta(minutes=11)
    assert window.requests == 1
    assert not refresher.due(cid, T + timedelta(minutes=12))


async def test_a_failed_refresh_is_recorded_and_keeps_the_old_data(sync_env: Any) -> None:
    refresher = await _synced(sync_env)
    cid = sync_env.connector_id
    before = sync_env.store.oncall.shifts(cid)
    sync_env.sim.revoke_api_key()
    job = await refresher.refresh(cid)
    assert job is not None
    assert job.status == "failed"
    assert job.mode == "oncall"
    assert job.error is not None
    assert "on-call refresh failed" in job.error
    assert sync_env.sim.api_key not in job.error
    assert sync_env.store.oncall.shifts(cid) == before


async def test_without_an_audit_trail_every_refresh_reads_the_window(
    sync_env_factory: Any,
) -> None:
    from pdsearch.simulator.app import create_app
    from pdsearch.simulator.config import SimulatorConfig
    from pdsearch.simulator.server import build_account

    config = SimulatorConfig.for_scale("small", api_key="no-audit-key", audit_trail=False)
    sim = create_app(build_account(config), config).state.simulator
    env = sync_env_factory(sim)
    refresher = await _synced(env)
    later = T + timedelta(minutes=11)
    env.sim.clock = lambda: later.timestamp()
    refresher.clock = lambda: later
    job = await refresher.refresh(env.connector_id)
    assert job is not None
    assert job.status == "succeeded"
    assert job.progress["read"] == "full"
    assert job.requests > 10
    window = env.store.oncall.window(env.connector_id)
    assert window is not None
    assert window.since == later
    await _check_against_simulator(env, later, _ours(env, later))


async def test_a_sync_asked_for_during_a_refresh_waits_for_it(sync_env: Any) -> None:
    import asyncio

    await _synced(sync_env)
    cid = sync_env.connector_id
    refreshing = sync_env.store.jobs.create(cid, "scheduled", status="running", mode="oncall")
    started = asyncio.create_task(sync_env.service.start(cid))
    await asyncio.sleep(0.3)
    assert not started.done()  # waiting, not refused
    sync_env.store.jobs.update(refreshing.id, status="succeeded")
    job_id = await asyncio.wait_for(started, 5)
    for _ in range(400):
        if sync_env.store.jobs.get(job_id).finished:
            break
        await asyncio.sleep(0.05)
    assert sync_env.store.jobs.get(job_id).status == "succeeded"


async def test_a_later_sync_reads_only_what_changed(sync_env: Any) -> None:
    await _synced(sync_env)
    cid = sync_env.connector_id
    first = sync_env.store.oncall.window(cid)
    assert first is not None
    later = T + timedelta(minutes=30)
    sync_env.sim.clock = lambda: later.timestamp()
    assert sync_env.service.oncall is not None
    sync_env.service.oncall.clock = lambda: later
    job = await sync_env.service.run(cid)
    assert job.status == "succeeded"
    assert "oncall_error" not in job.progress
    window = sync_env.store.oncall.window(cid)
    assert window is not None
    assert window.since == first.since
    assert window.refreshed_at == later
    assert window.requests == 1
    await _check_against_simulator(sync_env, later, _ours(sync_env, later))


async def test_a_schedule_created_between_refreshes_is_read_once_indexed(sync_env: Any) -> None:
    refresher = await _synced(sync_env)
    cid = sync_env.connector_id
    users = sorted(sync_env.sim.account.users)[:2]
    start = "2026-12-01T00:00:00Z"
    body = {"schedule": {
        "type": "schedule", "name": "Brand new rota", "time_zone": "UTC",
        "schedule_layers": [{
            "name": "Layer", "start": start, "rotation_virtual_start": start,
            "rotation_turn_length_seconds": 86400,
            "users": [{"user": {"id": u, "type": "user_reference"}} for u in users],
        }],
    }}

    def at(minutes: int) -> datetime:
        moment = T + timedelta(minutes=minutes)
        sync_env.sim.clock = lambda: moment.timestamp()
        refresher.clock = lambda: moment
        return moment

    at(1)
    async with sync_env.pd() as pd:
        made = await pd.post("/schedules", json=body)
        assert made.status_code == 201, made.text
    new_id = made.json()["schedule"]["id"]
    at(10)  # a refresh sees the creation, but the schedule is not indexed yet
    assert (await refresher.refresh(cid)) is not None
    later = at(30)  # the next sync indexes it; the audit record is behind the last refresh
    job = await sync_env.service.run(cid)
    assert job.status == "succeeded"
    ours = _ours(sync_env, later)
    answer = ours[f"schedule:{new_id}"]
    assert answer is not None, answer
    assert answer["now"], answer
    async with sync_env.pd() as pd:
        expected = await _rendered_now(pd, new_id, False, later)
    assert {e["user"]["id"] for e in answer["now"]} == expected
