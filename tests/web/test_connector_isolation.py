"""Every connector on its own (issue 11), through the REST API.

Two connectors to one PagerDuty account each keep all their documents, whichever syncs first,
and removing one leaves the other untouched. Two connectors to two accounts that share a
subdomain never show one account's documents to the other's team members.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

OTHER_BASE_URL = "http://127.0.0.2:9"  # a second loopback host: the second simulator


class ByHost(httpx.AsyncBaseTransport):
    """Routes each request to the simulator of its host (the service has one transport)."""

    def __init__(self, routes: dict[str, httpx.AsyncBaseTransport]) -> None:
        self.routes = routes

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.routes[request.url.host].handle_async_request(request)


async def add_connector(client: httpx.AsyncClient, name: str, api_key: str, base_url: str) -> str:
    resp = await client.post(
        "/api/v1/connectors",
        json={"name": name, "auth": {"type": "api_key", "api_key": api_key},
              "base_url": base_url},
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


async def sync(client: httpx.AsyncClient, cid: str, job_waiter: Callable[..., Any]) -> None:
    job_id = (await client.post(f"/api/v1/connectors/{cid}/sync")).json()["job_id"]
    job = await job_waiter(client, job_id)
    assert job["status"] == "succeeded", job


async def documents(client: httpx.AsyncClient, cid: str) -> dict[str, dict[str, Any]]:
    resp = await client.get(f"/api/v1/connectors/{cid}/documents", params={"limit": 500})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["total"] == len(body["data"])
    return {d["id"]: d for d in body["data"]}


async def search(client: httpx.AsyncClient, query: str, user: str) -> list[tuple[str, str]]:
    resp = await client.post("/api/v1/search",
                             json={"query": query, "user": user, "limit": 100})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["total"] == len(body["results"])
    return sorted((r["connector_id"], r["id"]) for r in body["results"])


def admin_of(account: Any) -> str:
    return str(next(u["email"] for u in account.users.values()
                    if u.get("role") in ("owner", "admin")))


@pytest.fixture
async def api(
    service: Any, api_settings: Any, pd_sim: Any
) -> AsyncIterator[httpx.AsyncClient]:
    async with service(api_settings, pd_sim.transport) as (_, client):
        yield client


@pytest.mark.parametrize("first", ["key", "second key"])
async def test_two_connectors_to_one_account_keep_their_own_documents(
    api: httpx.AsyncClient, pd_sim: Any, job_waiter: Callable[..., Any], first: str
) -> None:
    account = pd_sim.simulator.account
    expected = {f"schedule:{i}" for i in account.schedules}
    expected |= {f"escalation_policy:{i}" for i in account.escalation_policies}
    ids = {name: await add_connector(api, name, pd_sim.api_key, pd_sim.base_url)
           for name in ("key", "second key")}
    second = "second key" if first == "key" else "key"
    for name in (first, second):
        await sync(api, ids[name], job_waiter)
    for cid in ids.values():
        docs = await documents(api, cid)
        assert set(docs) == expected
        assert {d["connector_id"] for d in docs.values()} == {cid}
    # Syncing one again changes nothing of the other's.
    await sync(api, ids[first], job_waiter)
    assert set(await documents(api, ids[second])) == expected

    admin = admin_of(account)
    both = await search(api, "", admin)
    assert both == sorted((cid, doc) for cid in ids.values() for doc in expected)

    # One document id, two connectors: the connector-scoped read is exact, the bare one asks.
    doc_id = sorted(expected)[0]
    resp = await api.get(f"/api/v1/documents/{doc_id}")
    assert resp.status_code == 409
    assert resp.json()["error"]["code"] == "ambiguous_document"
    for cid in ids.values():
        one = await api.get(f"/api/v1/connectors/{cid}/documents/{doc_id}")
        assert one.status_code == 200
        assert one.json()["connector_id"] == cid
        named = await api.get(f"/api/v1/documents/{doc_id}", params={"connector_id": cid})
        assert named.status_code == 200
        assert named.json() == one.json()

    # Removing one connector leaves the other's documents and search results as they were.
    keep = ids[second]
    before_docs = await documents(api, keep)
    before_hits = {q: await search(api, q, admin) for q in ("", "schedule", "level")}
    assert (await api.delete(f"/api/v1/connectors/{ids[first]}")).status_code == 204
    assert await documents(api, keep) == before_docs
    for query, hits in before_hits.items():
        assert await search(api, query, admin) == [h for h in hits if h[0] == keep], query
    resp = await api.get(f"/api/v1/documents/{doc_id}")
    assert resp.status_code == 200
    assert resp.json()["connector_id"] == keep


async def test_connect_warns_when_another_connector_reads_the_same_account(
    api: httpx.AsyncClient, pd_sim: Any
) -> None:
    first = await add_connector(api, "Acme", pd_sim.api_key, pd_sim.base_url)
    alone = await api.post(f"/api/v1/connectors/{first}/connect")
    assert alone.status_code == 200
    assert alone.json()["warnings"] == []
    second = await add_connector(api, "Acme again", pd_sim.api_key, pd_sim.base_url)
    resp = await api.post(f"/api/v1/connectors/{second}/connect")
    assert resp.status_code == 200, resp.text  # a warning, not a refusal
    [warning] = resp.json()["warnings"]
    assert "'Acme'" in warning
    assert pd_sim.subdomain in warning
    [back] = (await api.post(f"/api/v1/connectors/{first}/connect")).json()["warnings"]
    assert "'Acme again'" in back


async def test_accounts_sharing_a_subdomain_never_see_each_other(
    service: Any, api_settings: Any, pd_sim_factory: Callable[..., Any],
    job_waiter: Callable[..., Any],
) -> None:
    """Account B is a copy of account A (same subdomain, users, team ids and document ids)
    whose teams have other members: a member of a team in A sees A's team documents only."""
    a = pd_sim_factory(seed=11)
    b = pd_sim_factory(seed=11)
    acct_a, acct_b = a.simulator.account, b.simulator.account
    assert acct_a.subdomain == acct_b.subdomain
    team, member_id = next(
        (t, m["user_id"]) for t in sorted(acct_a.teams) for m in acct_a.memberships.get(t, [])
        if acct_a.users[m["user_id"]].get("role") not in ("owner", "admin")
    )
    member = acct_a.users[member_id]["email"]
    # In B, the member belongs to no team at all.
    for t in list(acct_b.memberships):
        if any(m["user_id"] == member_id for m in acct_b.memberships[t]):
            acct_b.remove_team_member(t, member_id)

    transport = ByHost({"127.0.0.1": a.transport, "127.0.0.2": b.transport})
    async with service(api_settings, transport) as (_, api):
        cid_a = await add_connector(api, "Acme", a.api_key, a.base_url)
        cid_b = await add_connector(api, "Acme (other account)", b.api_key, OTHER_BASE_URL)
        for cid in (cid_a, cid_b):
            await sync(api, cid, job_waiter)
        docs_b = await documents(api, cid_b)
        assert docs_b
        words = {w for d in docs_b.values() for w in (d["title"] + " " + d["content"]).split()}
        queries = ["", "*", team, acct_a.subdomain, *sorted(d["title"] for d in docs_b.values()),
                   *sorted(words)[:60]]
        seen_a: set[str] = set()
        for query in queries:
            hits = await search(api, query, member)
            assert all(cid == cid_a for cid, _ in hits), (query, hits)
            seen_a |= {doc for _, doc in hits}
        assert seen_a, "the member sees their own team's documents in account A"
