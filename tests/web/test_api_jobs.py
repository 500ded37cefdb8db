"""Sync jobs through HTTP: start, progress, history, 409 while running, cancel, crash, shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from pdsearch.config import Settings
from pdsearch.store import Store


def api_key_body(pd_sim: Any, name: str = "Acme") -> dict[str, Any]:
    return {
        "name": name,
        "auth": {"type": "api_key", "api_key": pd_sim.api_key},
        "base_url": pd_sim.base_url,
    }


async def make_connector(client: httpx.AsyncClient, pd_sim: Any, name: str = "Acme") -> str:
    resp = await client.post("/api/v1/connectors", json=api_key_body(pd_sim, name))
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def assert_error(resp: httpx.Response, status: int, code: str) -> str:
    assert resp.status_code == status, resp.text
    assert resp.json()["error"]["code"] == code
    return str(resp.json()["error"]["message"])


async def test_sync_runs_in_the_background_and_is_recorded(
    service: Callable[..., Any], api_settings: Settings, pd_sim: Any, job_waiter: Callable[..., Any]
) -> None:
    async with service(api_settings, pd_sim.transport) as (_, client):
        cid = await make_connector(client, pd_sim)
        resp = await client.post(f"/api/v1/connectors/{cid}/sync")
        assert resp.status_code == 202, resp.text
        assert set(resp.json()) == {"job_id"}
        job_id = resp.json()["job_id"]
        assert resp.headers["location"] == f"/api/v1/jobs/{job_id}"

        job = await job_waiter(client, job_id)
        assert job["status"] == "succeeded", job
        assert job["trigger"] == "manual"
        assert job["connector_id"] == cid
        assert set(job["counts"]) == {"added", "updated", "deleted", "unchanged", "failed"}
        assert job["counts"]["added"] > 0
        assert job["requests"] > 0
        assert job["error"] is None
        assert job["started_at"].endswith("Z")
        assert job["finished_at"].endswith("Z")
        assert job["started_at"] <= job["finished_at"]
        assert isinstance(job["progress"], dict)

        second = (await client.post(f"/api/v1/connectors/{cid}/sync")).json()["job_id"]
        again = await job_waiter(client, second)
        assert again["status"] == "succeeded"
        assert again["counts"]["added"] == 0
        assert again["counts"]["unchanged"] == job["counts"]["added"]

        history = await client.get(f"/api/v1/connectors/{cid}/jobs")
        assert history.status_code == 200
        assert history.json()["total"] == 2
        assert [j["id"] for j in history.json()["data"]] == [second, job_id]
        page = await client.get(f"/api/v1/connectors/{cid}/jobs", params={"skip": 1, "limit": 1})
        assert [j["id"] for j in page.json()["data"]] == [job_id]
        assert page.json()["total"] == 2


async def test_second_sync_is_409_while_one_runs_and_cancel_stops_it(
    service: Callable[..., Any], api_settings: Settings, pd_sim: Any, job_waiter: Callable[..., Any]
) -> None:
    pd_sim.simulator.config.latency_ms = 300  # long enough to act while it runs
    async with service(api_settings, pd_sim.transport) as (_, client):
        cid = await make_connector(client, pd_sim)
        job_id = (await client.post(f"/api/v1/connectors/{cid}/sync")).json()["job_id"]
        busy = await client.post(f"/api/v1/connectors/{cid}/sync")
        assert job_id in assert_error(busy, 409, "sync_running")

        running = await job_waiter(client, job_id, statuses=("running",))
        assert running["started_at"] is not None
        assert running["finished_at"] is None
        assert "phase" in running["progress"]

        resp = await client.post(f"/api/v1/jobs/{job_id}/cancel")
        assert resp.status_code == 202, resp.text
        assert resp.json()["id"] == job_id
        job = await job_waiter(client, job_id)
        assert job["status"] == "canceled"
        assert job["error"]
        assert job["finished_at"] is not None

        again = await client.post(f"/api/v1/jobs/{job_id}/cancel")
        assert "canceled" in assert_error(again, 409, "job_finished")

        pd_sim.simulator.config.latency_ms = 0
        next_job = (await client.post(f"/api/v1/connectors/{cid}/sync")).json()["job_id"]
        assert (await job_waiter(client, next_job))["status"] == "succeeded"


async def test_failed_sync_says_why(
    service: Callable[..., Any], api_settings: Settings, pd_sim: Any, job_waiter: Callable[..., Any]
) -> None:
    async with service(api_settings, pd_sim.transport) as (_, client):
        resp = await client.post(
            "/api/v1/connectors",
            json={**api_key_body(pd_sim), "auth": {"type": "api_key", "api_key": "bad-key-123"}},
        )
        cid = resp.json()["id"]
        job_id = (await client.post(f"/api/v1/connectors/{cid}/sync")).json()["job_id"]
        job = await job_waiter(client, job_id)
        assert job["status"] == "failed"
        assert "401" in job["error"]
        assert "bad-key-123" not in job["error"]


async def test_oauth_connector_must_be_authorized_before_sync(
    service: Callable[..., Any], api_settings: Settings, pd_sim: Any
) -> None:
    async with service(api_settings, pd_sim.transport) as (_, client):
        resp = await client.post(
            "/api/v1/connectors",
            json={"name": "O", "auth": {"type": "oauth2", "client_id": "c", "client_secret": "s"}},
        )
        cid = resp.json()["id"]
        busy = await client.post(f"/api/v1/connectors/{cid}/sync")
        assert "authoriz" in assert_error(busy, 409, "oauth_authorization_required")


async def test_job_left_running_by_a_crash_is_failed_at_start(
    service: Callable[..., Any], api_settings: Settings, pd_sim: Any
) -> None:
    async with service(api_settings, pd_sim.transport) as (_, client):
        cid = await make_connector(client, pd_sim)
    # The "crash": a job record left running, as a killed process leaves it.
    store = Store.open(api_settings)
    try:
        orphan = store.jobs.create(cid, "manual", status="running")
    finally:
        store.close()
    async with service(api_settings, pd_sim.transport) as (_, client):
        job = (await client.get(f"/api/v1/jobs/{orphan.id}")).json()
        assert job["status"] == "failed"
        assert job["error"]
        assert job["finished_at"] is not None
        # ... and it does not block a new sync.
        assert (await client.post(f"/api/v1/connectors/{cid}/sync")).status_code == 202


async def test_shutdown_cancels_a_running_sync_and_records_it(
    service: Callable[..., Any], api_settings: Settings, pd_sim: Any, job_waiter: Callable[..., Any]
) -> None:
    pd_sim.simulator.config.latency_ms = 300
    async with service(api_settings, pd_sim.transport) as (_, client):
        cid = await make_connector(client, pd_sim)
        job_id = (await client.post(f"/api/v1/connectors/{cid}/sync")).json()["job_id"]
        await job_waiter(client, job_id, statuses=("running",))
    # The app's lifespan ended while the sync ran: it must be recorded as canceled.
    pd_sim.simulator.config.latency_ms = 0
    async with service(api_settings, pd_sim.transport) as (_, client):
        job = (await client.get(f"/api/v1/jobs/{job_id}")).json()
        assert job["status"] == "canceled", job
        assert "stopped" in job["error"]


async def test_unknown_job_is_404(
    service: Callable[..., Any], api_settings: Settings, pd_sim: Any
) -> None:
    async with service(api_settings, pd_sim.transport) as (_, client):
        assert_error(await client.get("/api/v1/jobs/nope"), 404, "not_found")
        assert_error(await client.post("/api/v1/jobs/nope/cancel"), 404, "not_found")
        await asyncio.sleep(0)
