"""The schedule routes: set, read, replace, remove, validation; a one-time schedule firing once;
an interval schedule surviving a restart of the service."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from pdsearch.config import Settings


def assert_error(resp: httpx.Response, status: int, code: str) -> str:
    assert resp.status_code == status, resp.text
    assert resp.json()["error"]["code"] == code
    return str(resp.json()["error"]["message"])


async def make_connector(client: httpx.AsyncClient, pd_sim: Any) -> str:
    resp = await client.post(
        "/api/v1/connectors",
        json={
            "name": "Acme",
            "auth": {"type": "api_key", "api_key": pd_sim.api_key},
            "base_url": pd_sim.base_url,
            "default_schedules": False,
        },
    )
    return str(resp.json()["id"])


def iso_z(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_set_read_replace_remove(
    service: Callable[..., Any], api_settings: Settings, pd_sim: Any
) -> None:
    async with service(api_settings, pd_sim.transport) as (_, client):
        cid = await make_connector(client, pd_sim)
        path = f"/api/v1/connectors/{cid}/schedule"
        assert "PUT" in assert_error(await client.get(path), 404, "not_found")

        before = datetime.now(UTC)
        resp = await client.put(path, json={"interval_minutes": 30})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["interval_minutes"] == 30
        assert body["cron"] is None
        assert body["run_at"] is None
        assert body["next_run_at"].endswith("Z")
        next_run = parse(body["next_run_at"])
        assert (
            before + timedelta(minutes=29) < next_run <= datetime.now(UTC) + timedelta(minutes=30)
        )
        assert (await client.get(path)).json() == body

        cron = await client.put(path, json={"cron": "0 3 * * *"})
        assert cron.status_code == 200, cron.text
        assert cron.json()["cron"] == "0 3 * * *"
        assert cron.json()["interval_minutes"] is None
        fires = parse(cron.json()["next_run_at"])
        assert (fires.hour, fires.minute) == (3, 0)

        berlin = await client.put(path, json={"cron": "0 3 * * *", "timezone": "Europe/Berlin"})
        assert berlin.status_code == 200, berlin.text
        assert berlin.json()["timezone"] == "Europe/Berlin"
        fires = parse(berlin.json()["next_run_at"])  # 03:00 in Berlin is 01:00 or 02:00 UTC
        assert (fires.hour, fires.minute) in ((1, 0), (2, 0))
        assert berlin.json()["last_run_at"] is None

        when = datetime.now(UTC) + timedelta(days=2)
        once = await client.put(path, json={"run_at": iso_z(when)})
        assert once.status_code == 200, once.text
        assert abs((parse(once.json()["next_run_at"]) - when).total_seconds()) < 1

        assert (await client.delete(path)).status_code == 204
        assert_error(await client.get(path), 404, "not_found")
        assert_error(await client.delete(path), 404, "not_found")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({}, "exactly one"),
        ({"interval_minutes": 5, "cron": "* * * * *"}, "exactly one"),
        ({"interval_minutes": 0}, "interval"),
        ({"interval_minutes": "often"}, "interval_minutes"),
        ({"cron": "every day"}, "cron"),
        ({"cron": "61 * * * *"}, "cron"),
        ({"run_at": "tomorrow"}, "run_at"),
        ({"run_at": "2001-01-01T00:00:00Z"}, "past"),
        ({"run_at": "2031-01-01T09:00:00"}, "time zone"),
        ({"every": 5}, "every"),
        ({"cron": "0 3 * * *", "timezone": "Mars/Olympus"}, "time zone"),
        ({"interval_minutes": 5, "timezone": "Europe/Berlin"}, "timezone"),
    ],
)
async def test_invalid_schedules_are_422_with_a_clear_message(
    service: Callable[..., Any],
    api_settings: Settings,
    pd_sim: Any,
    body: dict[str, Any],
    words: str,
) -> None:
    async with service(api_settings, pd_sim.transport) as (_, client):
        cid = await make_connector(client, pd_sim)
        resp = await client.put(f"/api/v1/connectors/{cid}/schedule", json=body)
        message = assert_error(resp, 422, "validation_error")
        assert words.lower() in message.lower(), message
        assert_error(await client.get(f"/api/v1/connectors/{cid}/schedule"), 404, "not_found")


async def test_one_time_schedule_fires_once(
    service: Callable[..., Any], api_settings: Settings, pd_sim: Any, job_waiter: Callable[..., Any]
) -> None:
    async with service(api_settings, pd_sim.transport) as (_, client):
        cid = await make_connector(client, pd_sim)
        when = datetime.now(UTC) + timedelta(seconds=2)
        resp = await client.put(f"/api/v1/connectors/{cid}/schedule", json={"run_at": iso_z(when)})
        assert resp.status_code == 200, resp.text

        jobs: list[dict[str, Any]] = []
        for _ in range(200):
            jobs = (await client.get(f"/api/v1/connectors/{cid}/jobs")).json()["data"]
            if jobs:
                break
            await asyncio.sleep(0.05)
        assert len(jobs) == 1, "the one-time schedule did not fire"
        job = await job_waiter(client, jobs[0]["id"])
        assert job["trigger"] == "scheduled"
        assert job["status"] == "succeeded"
        assert parse(job["created_at"]) >= when - timedelta(seconds=0.5)

        await asyncio.sleep(1.0)
        history = (await client.get(f"/api/v1/connectors/{cid}/jobs")).json()
        assert history["total"] == 1  # fired once, not again
        # A fired one-time schedule is done.
        assert_error(await client.get(f"/api/v1/connectors/{cid}/schedule"), 404, "not_found")


async def test_interval_schedule_survives_a_restart(
    service: Callable[..., Any], api_settings: Settings, pd_sim: Any
) -> None:
    async with service(api_settings, pd_sim.transport) as (_, client):
        cid = await make_connector(client, pd_sim)
        set_ = await client.put(f"/api/v1/connectors/{cid}/schedule", json={"interval_minutes": 15})
        planned = parse(set_.json()["next_run_at"])

    async with service(api_settings, pd_sim.transport) as (app, client):
        resp = await client.get(f"/api/v1/connectors/{cid}/schedule")
        assert resp.status_code == 200, resp.text
        assert resp.json()["interval_minutes"] == 15
        after = parse(resp.json()["next_run_at"])
        assert abs((after - planned).total_seconds()) < 2  # same rhythm as before the restart
        assert app.state.services.scheduler.running
        # Nothing was due, so nothing ran.
        assert (await client.get(f"/api/v1/connectors/{cid}/jobs")).json()["total"] == 0


async def test_missed_interval_run_fires_once_after_restart(
    service: Callable[..., Any], api_settings: Settings, pd_sim: Any, job_waiter: Callable[..., Any]
) -> None:
    """Runs missed while the service was down are coalesced into one at start."""
    from pdsearch.store import Store

    async with service(api_settings, pd_sim.transport) as (_, client):
        cid = await make_connector(client, pd_sim)
        await client.put(f"/api/v1/connectors/{cid}/schedule", json={"interval_minutes": 1})
    # The service was down for a while: the schedule last fired three and a half minutes ago,
    # so three runs were missed.
    store = Store.open(api_settings)
    try:
        store.schedules.record_fired(cid, at=datetime.now(UTC) - timedelta(minutes=3, seconds=30))
    finally:
        store.close()

    async with service(api_settings, pd_sim.transport) as (_, client):
        jobs: list[dict[str, Any]] = []
        for _ in range(100):
            jobs = (await client.get(f"/api/v1/connectors/{cid}/jobs")).json()["data"]
            if jobs:
                break
            await asyncio.sleep(0.05)
        assert len(jobs) == 1
        assert jobs[0]["trigger"] == "scheduled"
        await job_waiter(client, jobs[0]["id"])
        await asyncio.sleep(0.3)
        assert (await client.get(f"/api/v1/connectors/{cid}/jobs")).json()["total"] == 1


async def test_a_firing_during_a_running_sync_is_recorded_as_skipped(
    service: Callable[..., Any], api_settings: Settings, pd_sim: Any, job_waiter: Callable[..., Any]
) -> None:
    # The sync takes many seconds; the firing comes within 2 s (the scheduler turns each second).
    pd_sim.simulator.config.latency_ms = 1500
    async with service(api_settings, pd_sim.transport) as (_, client):
        cid = await make_connector(client, pd_sim)
        manual = (await client.post(f"/api/v1/connectors/{cid}/sync")).json()["job_id"]
        await job_waiter(client, manual, statuses=("running",))
        when = datetime.now(UTC) + timedelta(seconds=1)
        await client.put(f"/api/v1/connectors/{cid}/schedule", json={"run_at": iso_z(when)})
        skipped: list[dict[str, Any]] = []
        for _ in range(100):
            jobs = (await client.get(f"/api/v1/connectors/{cid}/jobs")).json()["data"]
            skipped = [j for j in jobs if j["trigger"] == "scheduled"]
            if skipped:
                break
            await asyncio.sleep(0.05)
        assert [j["status"] for j in skipped] == ["skipped"]
        assert "already running" in skipped[0]["error"]
        await client.post(f"/api/v1/jobs/{manual}/cancel")
        assert (await job_waiter(client, manual))["status"] == "canceled"
