"""``GET /api/v1/oncall`` and the ``oncall`` of search results, after a real sync of the
simulator; the periodic refresh as a job of mode ``oncall`` in the history."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from pdsearch.config import Settings
from pdsearch.store import Store

Service = Callable[..., Any]
Waiter = Callable[[httpx.AsyncClient, str], Awaitable[dict[str, Any]]]
Synced = tuple[httpx.AsyncClient, str]


def _admin(pd_sim: Any) -> str:
    users = pd_sim.simulator.account.users.values()
    return str(next(u["email"] for u in users if u.get("role") in ("owner", "admin")))


async def _sim_now(pd_sim: Any, at: str) -> dict[str, set[tuple[int, str, str | None]]]:
    """The simulator's on-calls at the instant ``at``, by policy."""
    found: dict[str, set[tuple[int, str, str | None]]] = {
        pid: set() for pid in pd_sim.simulator.account.escalation_policies
    }
    async with httpx.AsyncClient(
        transport=pd_sim.transport,
        base_url=pd_sim.base_url,
        headers={"Authorization": f"Token token={pd_sim.api_key}"},
    ) as pd:
        rows: list[dict[str, Any]] = []
        while True:
            params: dict[str, str | int] = {
                "since": at, "until": at, "limit": 100, "offset": len(rows)
            }
            page = (await pd.get("/oncalls", params=params)).json()
            rows += page["oncalls"]
            if not page["more"]:
                break
    for o in rows:
        schedule = o["schedule"]["id"] if o["schedule"] else None
        found[o["escalation_policy"]["id"]].add((o["escalation_level"], o["user"]["id"], schedule))
    return found


def _policies_now(data: list[dict[str, Any]]) -> dict[str, set[tuple[int, str, str | None]]]:
    return {
        d["id"].split(":", 1)[1]: {
            (e["level"], e["user"]["id"], e["schedule_id"]) for e in d["oncall"]["now"]
        }
        for d in data
        if d["type"] == "escalation_policy"
    }


async def test_who_is_on_call_now_and_ahead(synced: Synced, pd_sim: Any) -> None:
    client, cid = synced
    admin = _admin(pd_sim)
    total = (await client.get(f"/api/v1/connectors/{cid}/documents")).json()["total"]
    got = await client.get(
        "/api/v1/oncall", params={"user": admin, "query": "Who is on call?", "limit": 100}
    )
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["total"] == total == len(body["data"])
    assert all(d["oncall"] is not None for d in body["data"])
    assert set(body["data"][0]) == {"id", "connector_id", "type", "title", "url", "oncall"}
    assert _policies_now(body["data"]) == await _sim_now(pd_sim, body["at"])

    # Search results carry the same answers.
    found = await client.post("/api/v1/search", json={"query": "", "user": admin, "limit": 100})
    by_id = {d["id"]: d["oncall"] for d in body["data"]}
    for hit in found.json()["results"]:
        assert hit["oncall"]["now"] == by_id[hit["id"]]["now"]

    ahead = (datetime.now(UTC) + timedelta(days=3, hours=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    later = await client.get("/api/v1/oncall", params={"user": admin, "at": ahead, "limit": 100})
    assert later.status_code == 200, later.text
    assert later.json()["at"] == ahead
    assert _policies_now(later.json()["data"]) == await _sim_now(pd_sim, ahead)


async def test_bad_times_and_outsiders(synced: Synced, pd_sim: Any) -> None:
    client, _ = synced
    admin = _admin(pd_sim)
    far = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    outside = await client.get("/api/v1/oncall", params={"user": admin, "at": far})
    assert outside.status_code == 422
    assert outside.json()["error"]["code"] == "outside_oncall_window"
    assert "outside the stored on-call window" in outside.json()["error"]["message"]
    naive = await client.get("/api/v1/oncall", params={"user": admin, "at": "2026-12-05T10:00"})
    assert naive.json()["error"]["code"] == "invalid_time"
    garbage = await client.get("/api/v1/oncall", params={"user": admin, "at": "tomorrow"})
    assert garbage.json()["error"]["code"] == "validation_error"
    # An outsider learns nothing, not even a total, and no window either.
    for params in ({}, {"query": "who is on call for payments"}, {"at": far}):
        nobody = await client.get(
            "/api/v1/oncall", params={"user": "stranger@elsewhere.example", **params}
        )
        assert nobody.status_code == 200, nobody.text
        assert (nobody.json()["total"], nobody.json()["data"]) == (0, [])


async def test_the_periodic_refresh_is_a_job_in_the_history(
    service: Service, api_settings: Settings, pd_sim: Any, job_waiter: Waiter
) -> None:
    # A first service syncs and stops (a running one would keep the scheduler's lease: only
    # the leader refreshes).
    async with service(api_settings, pd_sim.transport) as (_, client):
        resp = await client.post("/api/v1/connectors", json={
            "name": "Acme", "auth": {"type": "api_key", "api_key": pd_sim.api_key},
            "base_url": pd_sim.base_url, "default_schedules": False,
        })
        cid = resp.json()["id"]
        job_id = (await client.post(f"/api/v1/connectors/{cid}/sync")).json()["job_id"]
        assert (await job_waiter(client, job_id))["status"] == "succeeded"
        jobs = (await client.get(f"/api/v1/connectors/{cid}/jobs")).json()["data"]
    assert [j["mode"] for j in jobs] == ["full"]  # the sync refreshed inside its own job
    # Make the stored data old, as after a service that was down: the next service refreshes
    # at its first check, as a scheduled job of mode oncall.
    store = Store.open(api_settings)
    try:
        window = store.oncall.window(cid)
        assert window is not None
        old = window.refreshed_at - timedelta(hours=1)
        store.oncall.replace(cid, store.oncall.shifts(cid), window.since, window.until,
                             refreshed_at=old)
    finally:
        store.close()
    async with service(api_settings, pd_sim.transport, oncall_check_seconds=0.2) as (_, again):
        for _ in range(200):
            jobs = (await again.get(f"/api/v1/connectors/{cid}/jobs")).json()["data"]
            if jobs[0]["mode"] == "oncall" and jobs[0]["status"] != "running":
                break
            await asyncio.sleep(0.05)
        refresh = jobs[0]
        assert (refresh["mode"], refresh["trigger"], refresh["status"]) == (
            "oncall", "scheduled", "succeeded"
        )
        # Nothing changed in PagerDuty: the audit trail alone was read.
        assert (refresh["requests"], refresh["progress"]["read"]) == (1, "changes")


async def test_a_question_finds_the_teams_documents_first(synced: Synced, pd_sim: Any) -> None:
    client, _ = synced
    admin = _admin(pd_sim)
    team = sorted(t["name"] for t in pd_sim.simulator.account.teams.values())[0]
    word = team.split()[0]
    for question in (f"who is on call for {word}", f"Who do I page for {word}?"):
        found = await client.post("/api/v1/search", json={"query": question, "user": admin})
        results = found.json()["results"]
        assert results, question  # every word of the question itself would have matched nothing
        assert word.lower() in results[0]["title"].lower(), (question, results[0]["title"])
        assert results[0]["oncall"] is not None


async def test_who_is_on_call_understands_other_words(synced: Synced, pd_sim: Any) -> None:
    """GET /api/v1/oncall finds by meaning as the search does: a question sharing no word with
    the Payments team's documents answers for them first."""
    client, _ = synced
    admin = _admin(pd_sim)
    teams = {t["name"]: t["id"] for t in pd_sim.simulator.account.teams.values()}
    got = await client.get("/api/v1/oncall", params={
        "user": admin, "query": "who do I call when transactions get declined at the till",
        "limit": 3})
    assert got.status_code == 200, got.text
    data = got.json()["data"]
    assert data, "a question in other words found nothing"
    top = (await client.get(f"/api/v1/documents/{data[0]['id']}")).json()
    assert teams["Payments"] in top["sys_racl"], data[0]["title"]
    assert data[0]["oncall"] is not None


async def test_the_history_shows_a_refresh_as_one(
    service: Service, api_settings: Settings, pd_sim: Any, job_waiter: Waiter
) -> None:
    import test_pages as pg

    async with service(api_settings, pd_sim.transport) as (app, api), pg.browser_like(app) as c:
        pages = pg.Pages(app, c, api)
        cid = await pg.synced(pages, pd_sim, job_waiter)
        refresh = await app.state.services.sync.oncall.refresh(cid)
        assert refresh is not None
        assert refresh.status == "succeeded"
        await pages.sign_in()
        history = (await pages.http.get(f"/connectors/{cid}/history")).text
        assert history.count("on-call refresh") == 1
        assert f'data-job="{refresh.id}"' in history
