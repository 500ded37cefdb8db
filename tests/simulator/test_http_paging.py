"""PagerDuty's paging rules (FACTS §2): limit, more, total, the 10,000 cap and cursors."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from pdsearch.simulator.app import create_app
from pdsearch.simulator.config import SimulatorConfig
from pdsearch.simulator.server import build_account


async def test_limit_defaults_to_25_and_total_is_null_unless_asked(
    sim_http: httpx.AsyncClient, sim: Any
) -> None:
    body = (await sim_http.get("/users")).json()
    assert body["limit"] == 25
    assert body["offset"] == 0
    assert len(body["users"]) == 25
    assert body["more"] is True
    assert body["total"] is None
    body = (await sim_http.get("/users", params={"total": "true"})).json()
    assert body["total"] == len(sim.account.users)


async def test_limit_above_100_is_clamped_to_100(sim_http: httpx.AsyncClient) -> None:
    body = (await sim_http.get("/users", params={"limit": 500})).json()
    assert body["limit"] == 100
    assert len(body["users"]) <= 100


async def test_pages_cover_every_user_once_in_a_stable_order(
    sim_http: httpx.AsyncClient, sim: Any
) -> None:
    seen: list[str] = []
    offset = 0
    while True:
        body = (await sim_http.get("/users", params={"limit": 7, "offset": offset})).json()
        seen += [u["id"] for u in body["users"]]
        offset += len(body["users"])
        if not body["more"]:
            break
    assert len(seen) == len(set(seen)) == len(sim.account.users)
    names = [sim.account.users[i]["name"].lower() for i in seen]
    assert names == sorted(names)


async def test_last_page_says_no_more(sim_http: httpx.AsyncClient, sim: Any) -> None:
    total = len(sim.account.users)
    body = (await sim_http.get("/users", params={"limit": 10, "offset": total - 3})).json()
    assert len(body["users"]) == 3
    assert body["more"] is False
    body = (await sim_http.get("/users", params={"limit": 10, "offset": total + 50})).json()
    assert body["users"] == []
    assert body["more"] is False


async def test_offset_plus_limit_past_10000_is_refused_with_2002(
    sim_http: httpx.AsyncClient,
) -> None:
    ok = await sim_http.get("/schedules", params={"offset": 9900, "limit": 100})
    assert ok.status_code == 200
    for path in ("/users", "/schedules", "/escalation_policies", "/teams"):
        response = await sim_http.get(path, params={"offset": 9901, "limit": 100})
        assert response.status_code == 400, path
        error = response.json()["error"]
        assert error["code"] == 2002
        assert error["message"] == "Arguments Caused Error"
        assert "Offset+limit exceeds maximum allowed value of 10000" in error["errors"][0]


async def test_bad_paging_arguments_are_400(sim_http: httpx.AsyncClient) -> None:
    for params in ({"limit": "ten"}, {"limit": 0}, {"offset": -1}):
        response = await sim_http.get("/users", params=params)
        assert response.status_code == 400, params
        assert response.json()["error"]["code"] == 2001


async def test_the_cap_bites_on_an_account_past_10000_users() -> None:
    config = SimulatorConfig(api_key="k", users=10_050, teams=2, schedules=1, policies=1)
    app = create_app(build_account(config), config)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://sim.test",
        headers={"Authorization": "Token token=k"},
    ) as client:
        last = await client.get("/users", params={"offset": 9900, "limit": 100, "total": "true"})
        assert last.json()["more"] is True
        assert last.json()["total"] == 10_050
        beyond = await client.get("/users", params={"offset": 10_000, "limit": 1})
        assert beyond.status_code == 400
        assert beyond.json()["error"]["code"] == 2002


async def test_v3_list_pages_up_to_1000_and_has_no_total(
    sim_http: httpx.AsyncClient, sim: Any
) -> None:
    body = (await sim_http.get("/v3/schedules", params={"limit": 5000, "total": "true"})).json()
    assert body["limit"] == 1000
    assert "total" not in body
    v3_ids = {i for i, s in sim.account.schedules.items() if s.get("type") == "schedule_v3"}
    assert {s["id"] for s in body["schedules"]} == v3_ids
    first = (await sim_http.get("/v3/schedules", params={"limit": 1})).json()
    assert first["limit"] == 1
    assert first["more"] is (len(v3_ids) > 1)


_made = itertools.count()


async def _make_audit_records(client: httpx.AsyncClient, n: int) -> None:
    for _ in range(n):
        name = f"Paging team {next(_made)}"
        response = await client.post("/teams", json={"team": {"name": name, "description": "x"}})
        assert response.status_code == 201


async def test_audit_records_page_by_cursor_newest_first(sim_http: httpx.AsyncClient) -> None:
    await _make_audit_records(sim_http, 7)
    seen: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 3}
    pages = 0
    while True:
        body = (await sim_http.get("/audit/records", params=params)).json()
        assert body["limit"] == 3
        seen += body["records"]
        pages += 1
        if body["next_cursor"] is None:
            break
        params = {"limit": 3, "cursor": body["next_cursor"]}
    ids = [r["id"] for r in seen]
    assert len(ids) == len(set(ids)) >= 7
    assert pages == -(-len(ids) // 3)
    times = [r["execution_time"] for r in seen]
    assert times == sorted(times, reverse=True)


async def test_a_write_between_pages_shifts_nothing(sim_http: httpx.AsyncClient) -> None:
    await _make_audit_records(sim_http, 4)
    first = (await sim_http.get("/audit/records", params={"limit": 2})).json()
    await _make_audit_records(sim_http, 1)  # newer than everything already served
    rest = (
        await sim_http.get("/audit/records", params={"limit": 100, "cursor": first["next_cursor"]})
    ).json()
    served = [r["id"] for r in first["records"] + rest["records"]]
    assert len(served) == len(set(served)) == 4


async def test_audit_filters_and_window(sim_http: httpx.AsyncClient) -> None:
    await _make_audit_records(sim_http, 2)
    teams = (
        await sim_http.get(
            "/audit/records", params={"root_resource_types[]": "teams", "actions[]": "create"}
        )
    ).json()["records"]
    assert len(teams) == 2
    assert all(r["root_resource"]["type"] == "team_reference" for r in teams)
    none = (
        await sim_http.get("/audit/records", params={"root_resource_types[]": "schedules"})
    ).json()
    assert none["records"] == []
    assert none["next_cursor"] is None
    old = await sim_http.get(
        "/audit/records",
        params={"since": "2020-12-02T00:00:00Z", "until": "2020-12-03T00:00:00Z"},
    )
    assert old.json()["records"] == []
    too_wide = await sim_http.get(
        "/audit/records",
        params={"since": "2026-01-01T00:00:00Z", "until": "2026-03-01T00:00:00Z"},
    )
    assert too_wide.status_code == 400
    bad = await sim_http.get("/audit/records", params={"cursor": "!!!not-a-cursor"})
    assert bad.status_code == 400


@settings(max_examples=40, deadline=None)
@given(
    limit=st.integers(min_value=1, max_value=150), offset=st.integers(min_value=0, max_value=120)
)
def test_any_page_is_the_matching_slice_of_the_full_listing(limit: int, offset: int) -> None:
    async def check() -> None:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=_PROPERTY_APP),
            base_url="http://sim.test",
            headers={"Authorization": "Token token=k"},
        ) as client:
            full = [
                u["id"] for u in (await client.get("/users", params={"limit": 100})).json()["users"]
            ]
            body = (await client.get("/users", params={"limit": limit, "offset": offset})).json()
            effective = min(limit, 100)
            assert body["limit"] == effective
            assert [u["id"] for u in body["users"]] == full[offset : offset + effective]
            assert body["more"] is (offset + effective < len(full))

    asyncio.run(check())


_PROPERTY_CONFIG = SimulatorConfig(
    api_key="k", users=60, teams=3, schedules=2, policies=2, rate_limit=0
)
_PROPERTY_APP = create_app(build_account(_PROPERTY_CONFIG), _PROPERTY_CONFIG)
