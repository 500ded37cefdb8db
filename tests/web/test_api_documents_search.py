"""Documents, permission entities and search through HTTP, after a real sync of the simulator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from pdsearch.config import Settings


def assert_error(resp: httpx.Response, status: int, code: str) -> str:
    assert resp.status_code == status, resp.text
    assert resp.json()["error"]["code"] == code
    return str(resp.json()["error"]["message"])


def account(pd_sim: Any) -> Any:
    return pd_sim.simulator.account


def admin_email(pd_sim: Any) -> str:
    users = account(pd_sim).users.values()
    return str(next(u["email"] for u in users if u.get("role") in ("owner", "admin")))


def outsider_email(pd_sim: Any) -> str:
    """A user who is neither admin nor in any team."""
    acct = account(pd_sim)
    members = {m["user_id"] for ms in acct.memberships.values() for m in ms}
    for uid, user in acct.users.items():
        if uid not in members and user.get("role") not in ("owner", "admin"):
            return str(user["email"])
    raise AssertionError("the tiny account has no user outside every team")


async def test_documents_list_and_get(synced: tuple[httpx.AsyncClient, str], pd_sim: Any) -> None:
    client, cid = synced
    resp = await client.get(f"/api/v1/connectors/{cid}/documents", params={"limit": 500})
    assert resp.status_code == 200
    body = resp.json()
    acct = account(pd_sim)
    assert body["total"] == len(acct.schedules) + len(acct.escalation_policies)
    assert len(body["data"]) == body["total"]
    doc = body["data"][0]
    assert set(doc) >= {"id", "type", "title", "content", "url", "sys_racl", "source"}
    assert doc["sys_racl"][0] == pd_sim.subdomain
    assert doc["source"] == cid

    page = await client.get(f"/api/v1/connectors/{cid}/documents", params={"skip": 2, "limit": 2})
    assert page.json()["total"] == body["total"]
    assert len(page.json()["data"]) == 2

    one = await client.get(f"/api/v1/documents/{doc['id']}")
    assert one.status_code == 200
    assert one.json() == doc
    assert_error(await client.get("/api/v1/documents/schedule:NOPE"), 404, "not_found")


async def test_permission_entities(synced: tuple[httpx.AsyncClient, str], pd_sim: Any) -> None:
    client, cid = synced
    resp = await client.get(f"/api/v1/connectors/{cid}/permission-entities")
    assert resp.status_code == 200
    entities = resp.json()
    ids = {e["entityId"] for e in entities["data"]}
    assert pd_sim.subdomain in ids
    assert entities["total"] == 1 + len(account(pd_sim).teams)
    acct_entity = next(e for e in entities["data"] if e["entityId"] == pd_sim.subdomain)
    assert acct_entity["type"] == "account"
    assert admin_email(pd_sim).lower() in acct_entity["userIds"]
    assert acct_entity["manualUserIds"] == []

    path = f"/api/v1/connectors/{cid}/permission-entities/{pd_sim.subdomain}"
    added = await client.put(path, json={"userList": ["Billing@Example.com"]})
    assert added.status_code == 200, added.text
    assert "billing@example.com" in added.json()["userIds"]
    assert added.json()["manualUserIds"] == ["billing@example.com"]
    assert (await client.get(path)).json() == added.json()

    removed = await client.request("DELETE", path, json={"userList": ["billing@example.com"]})
    assert removed.status_code == 200, removed.text
    assert "billing@example.com" not in removed.json()["userIds"]
    assert removed.json()["manualUserIds"] == []

    page = await client.get(
        f"/api/v1/connectors/{cid}/permission-entities", params={"skip": 1, "limit": 1}
    )
    assert len(page.json()["data"]) == 1
    assert page.json()["total"] == entities["total"]

    missing = f"/api/v1/connectors/{cid}/permission-entities/PNOTEAM"
    assert_error(await client.get(missing), 404, "not_found")
    assert_error(await client.put(missing, json={"userList": ["a@b.co"]}), 404, "not_found")
    bodies: list[dict[str, list[str]]] = [
        {}, {"userList": []}, {"userList": ["not-an-email"]}, {"users": ["a@b.co"]}
    ]
    for bad in bodies:
        message = assert_error(await client.put(path, json=bad), 422, "validation_error")
        assert "userList" in message or "users" in message


async def test_search_sees_only_what_the_user_may(
    synced: tuple[httpx.AsyncClient, str], pd_sim: Any
) -> None:
    client, cid = synced
    admin = admin_email(pd_sim)
    total_docs = (await client.get(f"/api/v1/connectors/{cid}/documents")).json()["total"]
    # Every document names its type in words, so a broad query finds what the user may see.
    resp = await client.post("/api/v1/search", json={"query": "schedule", "user": admin})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["total"] > 0
    hit = body["results"][0]
    assert set(hit) == {"id", "connector_id", "type", "title", "snippet", "url", "score", "oncall"}
    assert body["notice"] is None
    assert hit["connector_id"] == cid
    assert hit["type"] in ("schedule", "escalation_policy")
    assert body["total"] <= total_docs

    limited = await client.post(
        "/api/v1/search", json={"query": "schedule", "user": admin, "limit": 1, "offset": 1}
    )
    assert len(limited.json()["results"]) == 1
    assert limited.json()["total"] == body["total"]

    outsider = outsider_email(pd_sim)
    nothing = await client.post("/api/v1/search", json={"query": "schedule", "user": outsider})
    # What they are told is what anyone who sees no match is told.
    assert nothing.json() == {"total": 0, "results": [], "notice": "Nothing matches “schedule”."}
    # Added by hand to the account entity, the outsider sees what an admin sees.
    await client.put(
        f"/api/v1/connectors/{cid}/permission-entities/{pd_sim.subdomain}",
        json={"userList": [outsider]},
    )
    now = await client.post("/api/v1/search", json={"query": "schedule", "user": outsider})
    assert now.json()["total"] == body["total"]

    unknown = await client.post("/api/v1/search", json={"query": "schedule", "user": "x@y.z"})
    assert unknown.json()["total"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"user": "a@b.co"}, "query"),
        ({"query": "x"}, "user"),
        ({"query": "x", "user": "a@b.co", "limit": 0}, "limit"),
        ({"query": "x", "user": "a@b.co", "limit": 101}, "limit"),
        ({"query": "x", "user": "a@b.co", "offset": -1}, "offset"),
        ({"query": ["x"], "user": "a@b.co"}, "query"),
    ],
)
async def test_search_validation(
    synced: tuple[httpx.AsyncClient, str], body: dict[str, Any], field: str
) -> None:
    client, _ = synced
    message = assert_error(await client.post("/api/v1/search", json=body), 422, "validation_error")
    assert field in message


async def test_search_by_meaning_and_keyword_only(
    synced: tuple[httpx.AsyncClient, str], pd_sim: Any, service: Callable[..., Any],
    api_settings: Settings,
) -> None:
    """Semantic search on (the default): a question sharing no word with the documents finds
    the team that answers it, and says the words matched nothing. Off: keyword only, same
    index, no re-sync."""
    client, _ = synced
    admin = admin_email(pd_sim)
    question = {"query": "transactions get declined at the till", "user": admin, "limit": 3}
    resp = await client.post("/api/v1/search", json=question)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["notice"] == ("Nothing matches all of “transactions”, “declined”, “till”. "
                              "Showing what is closest in meaning.")
    teams = {t["name"]: t["id"] for t in account(pd_sim).teams.values()}
    top = (await client.get(f"/api/v1/documents/{body['results'][0]['id']}")).json()
    assert teams["Payments"] in top["sys_racl"]
    assert all(r["snippet"] and "<mark>" not in r["snippet"] for r in body["results"])

    off = api_settings.model_copy(update={"semantic": False})
    async with service(off, pd_sim.transport) as (_, keyword_only):
        resp = await keyword_only.post("/api/v1/search", json=question)
        assert resp.json() == {"total": 0, "results": [], "notice": (
            "Nothing matches “transactions”, “declined”, “till”.")}
        names = await keyword_only.post("/api/v1/search", json={"query": "payments", "user": admin})
        assert names.json()["total"] > 0
