"""When an incremental sync cannot run, a full one does, and the job says why (issue 15)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from incremental_helpers import docs, full, incremental, untargeted_schedule, write

from pdsearch.simulator.app import create_app
from pdsearch.simulator.config import SimulatorConfig
from pdsearch.simulator.server import build_account
from pdsearch.store import Cursor


async def test_the_first_sync_is_full_because_there_is_no_cursor(sync_env: Any) -> None:
    job = await sync_env.service.run(sync_env.connector_id)  # no mode: incremental if it can
    assert job.status == "succeeded", job.error
    assert job.mode == "full"
    assert "no audit cursor" in job.progress["fallback"]
    assert job.to_dict()["progress"]["fallback"] == job.progress["fallback"]
    state = sync_env.store.sync_state.get(sync_env.connector_id)
    assert state.incremental_available is True
    assert state.audit_cursor is not None
    # From then on, the default is incremental.
    again = await sync_env.service.run(sync_env.connector_id)
    assert (again.status, again.mode) == ("succeeded", "incremental")
    assert "fallback" not in again.progress


async def test_an_account_without_the_audit_trail_falls_back_and_says_why(
    sync_env_factory: Any,
) -> None:
    config = SimulatorConfig.for_scale("small", api_key="no-audit-key-0123456789",
                                       audit_trail=False)
    sim = create_app(build_account(config), config).state.simulator
    env = sync_env_factory(sim)
    first = await env.service.run(env.connector_id, mode="full")
    assert first.status == "succeeded", first.error
    state = env.store.sync_state.get(env.connector_id)
    assert state.incremental_available is False
    assert state.incremental_reason is not None
    assert "Audit Trail" in state.incremental_reason
    assert state.audit_cursor is None

    job = await env.service.run(env.connector_id, mode="incremental")
    assert (job.status, job.mode) == ("succeeded", "full")
    assert "Audit Trail feature (402)" in job.progress["fallback"]
    # Asked for nothing in particular, it no longer tries: incremental is unavailable.
    default = await env.service.run(env.connector_id)
    assert (default.status, default.mode) == ("succeeded", "full")
    assert "fallback" not in default.progress


@pytest.mark.parametrize(("days", "words"), [(40, "31 days"), (400, "12 months")])
async def test_a_cursor_too_old_gets_a_full_sync(sync_env: Any, days: int, words: str) -> None:
    account = sync_env.sim.account
    await full(sync_env)
    store, cid = sync_env.store, sync_env.connector_id
    old = datetime.now(UTC) - timedelta(days=days)
    store.sync_state.save_changes(cid, {}, [], Cursor(old))
    schedule_id = untargeted_schedule(account, v3=False)
    await write(sync_env, "PUT", f"/schedules/{schedule_id}",
                {"schedule": {"name": "Tide Tables"}})

    job = await sync_env.service.run(cid, mode="incremental")

    assert (job.status, job.mode) == ("succeeded", "full")
    assert words in job.progress["fallback"]
    assert docs(sync_env)[f"schedule:{schedule_id}"].title == "Tide Tables"
    state = store.sync_state.get(cid)
    assert state.audit_cursor is not None
    assert state.audit_cursor > old
    await incremental(sync_env)  # the full sync left a fresh cursor


async def test_an_unknown_mode_is_refused(sync_env: Any) -> None:
    with pytest.raises(ValueError, match="mode must be one of"):
        await sync_env.service.run(sync_env.connector_id, mode="partial")


async def test_a_plan_that_lost_an_ability_gets_a_full_sync(sync_env: Any) -> None:
    """A team changed, then the account lost the teams ability (402 on /teams/{id})."""
    account = sync_env.sim.account
    await full(sync_env)
    team_id = sorted(account.teams)[0]
    await write(sync_env, "PUT", f"/teams/{team_id}", {"team": {"name": "Harbour Pilots"}})
    sync_env.sim.abilities.remove("teams")
    sync_env.sim.clear_cache()

    job = await sync_env.service.run(sync_env.connector_id, mode="incremental")

    assert (job.status, job.mode) == ("succeeded", "full"), job.error
    assert "ability" in job.progress["fallback"]


async def test_a_key_that_may_not_read_the_audit_trail_gets_full_syncs(sync_env: Any) -> None:
    """A plain user's key: PagerDuty answers 403 to /audit/records."""
    account = sync_env.sim.account
    user_id = next(u for u, v in sorted(account.users.items()) if v.get("role") == "user")
    key = "user-level-key-0123456789"
    sync_env.sim.add_api_key(key, user_id)
    sync_env.store.connectors.set_credentials(sync_env.connector_id, {"api_key": key})

    job = await sync_env.service.run(sync_env.connector_id)

    assert (job.status, job.mode) == ("succeeded", "full"), job.error
    state = sync_env.store.sync_state.get(sync_env.connector_id)
    assert state.incremental_available is False
    assert state.incremental_reason is not None
    assert "403" in state.incremental_reason
    again = await sync_env.service.run(sync_env.connector_id, mode="incremental")
    assert again.mode == "full"
    assert "403" in again.progress["fallback"]


async def test_an_account_without_teams_gets_full_syncs(sync_env: Any) -> None:
    """No audit record says when the teams ability comes back: no cursor is left."""
    sync_env.sim.abilities.remove("teams")
    sync_env.sim.clear_cache()
    job = await sync_env.service.run(sync_env.connector_id)
    assert (job.status, job.mode) == ("succeeded", "full"), job.error
    state = sync_env.store.sync_state.get(sync_env.connector_id)
    assert state.incremental_available is False
    assert state.audit_cursor is None
    assert state.incremental_reason is not None
    assert "teams ability" in state.incremental_reason

    sync_env.sim.abilities.append("teams")  # the plan changed back, silently
    sync_env.sim.clear_cache()
    again = await sync_env.service.run(sync_env.connector_id)  # full: it reads the teams
    assert (again.status, again.mode) == ("succeeded", "full")
    records, _ = sync_env.store.entities.list(sync_env.connector_id, limit=1000)
    assert set(sync_env.sim.account.teams) <= {r.entity_id for r in records}
    assert sync_env.store.sync_state.get(sync_env.connector_id).incremental_available is True
    await incremental(sync_env)
