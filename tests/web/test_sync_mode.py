"""A sync's mode through HTTP and on the pages: ``POST /connectors/{id}/sync {"mode"}``, the job
JSON, the connector's ``incremental`` and the history table (issue 15)."""

from __future__ import annotations

from typing import Any

import httpx

TOKEN = "test-service-token-0123456789abcdef"  # conftest's SERVICE_TOKEN


async def _connector(client: httpx.AsyncClient, pd_sim: Any) -> str:
    resp = await client.post("/api/v1/connectors", json={
        "name": "Acme", "auth": {"type": "api_key", "api_key": pd_sim.api_key},
        "base_url": pd_sim.base_url,
    })
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


async def _sync(client: httpx.AsyncClient, cid: str, job_waiter: Any,
                body: dict[str, Any] | None) -> dict[str, Any]:
    resp = await client.post(f"/api/v1/connectors/{cid}/sync", json=body)
    assert resp.status_code == 202, resp.text
    job: dict[str, Any] = await job_waiter(client, resp.json()["job_id"])
    assert job["status"] == "succeeded", job
    return job


async def test_the_mode_asked_is_the_mode_run_and_shown(
    service: Any, api_settings: Any, pd_sim: Any, job_waiter: Any
) -> None:
    async with service(api_settings, pd_sim.transport) as (app, client):
        cid = await _connector(client, pd_sim)
        before = (await client.get(f"/api/v1/connectors/{cid}")).json()["incremental"]
        assert before == {"available": None, "reason": None, "cursor": None,
                          "last_record_at": None}

        first = await _sync(client, cid, job_waiter, None)  # no body: incremental if it can
        assert first["mode"] == "full"
        assert "no audit cursor" in first["progress"]["fallback"]
        connector = (await client.get(f"/api/v1/connectors/{cid}")).json()
        assert connector["incremental"]["available"] is True
        assert connector["incremental"]["cursor"].endswith("Z")

        second = await _sync(client, cid, job_waiter, {"mode": "incremental"})
        assert second["mode"] == "incremental"
        assert "fallback" not in second["progress"]
        assert second["requests"] <= 2
        third = await _sync(client, cid, job_waiter, {"mode": "full"})
        assert third["mode"] == "full"
        assert "fallback" not in third["progress"]
        assert third["counts"]["unchanged"] == first["counts"]["added"]

        bad = await client.post(f"/api/v1/connectors/{cid}/sync", json={"mode": "partial"})
        assert bad.status_code == 422
        history = (await client.get(f"/api/v1/connectors/{cid}/jobs")).json()["data"]
        assert [j["mode"] for j in history] == ["full", "incremental", "full"]

        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://pdsearch.test") as browser:
            signed = await browser.post("/signin", data={"token": TOKEN, "next": "/"})
            assert signed.status_code == 303
            rows = (await browser.get(f"/connectors/{cid}/history")).text
            assert "<th>Mode</th>" in rows
            assert "<td>Incremental</td>" in rows
            assert "(instead of incremental)" in rows  # the first sync's fallback
            page = (await browser.get(f"/connectors/{cid}/configuration")).text
            assert 'id="incremental-state">available: the next sync reads' in page
