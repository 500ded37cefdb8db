"""Schedules with a mode (issue 15, "Scheduling both"): one full and one incremental schedule per
connector, the defaults a new connector gets, and the mode a scheduled sync's job carries."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from pdsearch.connectors import default_schedule_specs


async def make_connector(client: httpx.AsyncClient, pd_sim: Any, **extra: Any) -> str:
    resp = await client.post("/api/v1/connectors", json={
        "name": "Acme", "auth": {"type": "api_key", "api_key": pd_sim.api_key},
        "base_url": pd_sim.base_url, **extra,
    })
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


async def test_a_new_connector_gets_the_default_schedules(
    service: Callable[..., Any], api_settings: Any, pd_sim: Any
) -> None:
    async with service(api_settings, pd_sim.transport) as (_, client):
        cid = await make_connector(client, pd_sim)
        listed = (await client.get(f"/api/v1/connectors/{cid}/schedules")).json()["data"]
        assert [s["mode"] for s in listed] == ["full", "incremental"]
        full, incremental = listed
        assert incremental["interval_minutes"] == 5
        minute, hour, *rest = full["cron"].split()
        assert rest == ["*", "*", "*"]
        assert 1 <= int(hour) <= 4
        assert 0 <= int(minute) <= 59
        assert full["cron"] == default_schedule_specs(cid)["full"]["cron"]
        assert full["next_run_at"].endswith(f"T0{hour}:{int(minute):02d}:00Z")
        # GET without a mode is the full schedule, as before modes existed.
        assert (await client.get(f"/api/v1/connectors/{cid}/schedule")).json() == full
        inc = await client.get(f"/api/v1/connectors/{cid}/schedule", params={"mode": "incremental"})
        assert inc.json() == incremental

        bare = await make_connector(client, pd_sim, name="Bare", default_schedules=False)
        assert (await client.get(f"/api/v1/connectors/{bare}/schedules")).json() == {"data": []}


def test_the_daily_full_sync_hour_is_spread_between_one_and_five() -> None:
    hours = {default_schedule_specs(f"connector-{i}")["full"]["cron"].split()[1]
             for i in range(200)}
    assert hours == {"1", "2", "3", "4"}
    assert default_schedule_specs("same") == default_schedule_specs("same")


async def test_one_schedule_per_mode(
    service: Callable[..., Any], api_settings: Any, pd_sim: Any
) -> None:
    async with service(api_settings, pd_sim.transport) as (_, client):
        cid = await make_connector(client, pd_sim, default_schedules=False)
        path = f"/api/v1/connectors/{cid}/schedule"
        full = await client.put(path, json={"cron": "0 2 * * *"})
        assert full.status_code == 200
        assert full.json()["mode"] == "full"
        inc = await client.put(path, json={"interval_minutes": 10, "mode": "incremental"})
        assert inc.status_code == 200, inc.text
        assert inc.json()["mode"] == "incremental"
        assert inc.json()["interval_minutes"] == 10
        # Replacing the incremental schedule leaves the full one as it was.
        await client.put(path, json={"interval_minutes": 15, "mode": "incremental"})
        assert (await client.get(path)).json()["cron"] == "0 2 * * *"
        removed = await client.delete(path, params={"mode": "incremental"})
        assert removed.status_code == 204
        gone = await client.get(path, params={"mode": "incremental"})
        assert gone.status_code == 404
        assert "incremental" in gone.json()["error"]["message"]
        assert (await client.get(path)).status_code == 200
        bad = await client.put(path, json={"interval_minutes": 10, "mode": "oncall"})
        assert bad.status_code == 422
        assert bad.json()["error"]["code"] == "validation_error"
        bad_query = await client.get(path, params={"mode": "sometimes"})
        assert bad_query.status_code == 422


async def test_a_scheduled_incremental_sync_is_recorded_as_incremental(
    service: Callable[..., Any], api_settings: Any, pd_sim: Any,
    job_waiter: Callable[..., Any],
) -> None:
    async with service(api_settings, pd_sim.transport) as (_, client):
        cid = await make_connector(client, pd_sim, default_schedules=False)

        async def scheduled_job(seen: int) -> dict[str, Any]:
            """Schedule an incremental run a second from now; the finished job it made."""
            when = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
            resp = await client.put(f"/api/v1/connectors/{cid}/schedule",
                                    json={"run_at": when, "mode": "incremental"})
            assert resp.status_code == 200, resp.text
            jobs: list[dict[str, Any]] = []
            for _ in range(200):
                jobs = (await client.get(f"/api/v1/connectors/{cid}/jobs")).json()["data"]
                if len(jobs) > seen:
                    break
                await asyncio.sleep(0.05)
            assert len(jobs) == seen + 1
            assert jobs[0]["trigger"] == "scheduled"
            await job_waiter(client, jobs[0]["id"])
            job: dict[str, Any] = (await client.get(f"/api/v1/jobs/{jobs[0]['id']}")).json()
            return job

        # The first has no audit cursor yet: it runs as a full sync and says why.
        first = await scheduled_job(0)
        assert first["mode"] == "full"
        assert first["progress"].get("fallback")
        # The next one reads the audit records since the first: incremental, as scheduled.
        second = await scheduled_job(1)
        assert second["mode"] == "incremental"
        assert second["status"] == "succeeded", second
