"""Writes change the account as a client sees it afterwards, and leave audit records."""

from __future__ import annotations

from typing import Any

import httpx


async def test_team_lifecycle_and_membership(sim_http: httpx.AsyncClient, sim: Any) -> None:
    user_id = next(iter(sim.account.users))
    created = await sim_http.post(
        "/teams", json={"team": {"name": "Write Team", "description": "New", "type": "team"}}
    )
    assert created.status_code == 201
    team_id = created.json()["team"]["id"]
    assert (await sim_http.get(f"/teams/{team_id}")).json()["team"]["name"] == "Write Team"
    put = await sim_http.put(f"/teams/{team_id}/users/{user_id}", json={"role": "observer"})
    assert put.status_code == 204
    assert put.content == b""
    members = (await sim_http.get(f"/teams/{team_id}/members")).json()["members"]
    assert [(m["user"]["id"], m["role"]) for m in members] == [(user_id, "observer")]
    user = (await sim_http.get(f"/users/{user_id}", params={"include[]": "teams"})).json()["user"]
    assert team_id in {t["id"] for t in user["teams"]}
    await sim_http.put(f"/teams/{team_id}/users/{user_id}", json={"role": "manager"})
    members = (await sim_http.get(f"/teams/{team_id}/members")).json()["members"]
    assert members[0]["role"] == "manager"
    bad_role = await sim_http.put(f"/teams/{team_id}/users/{user_id}", json={"role": "boss"})
    assert bad_role.status_code == 400
    assert (await sim_http.delete(f"/teams/{team_id}/users/{user_id}")).status_code == 204
    assert (await sim_http.get(f"/teams/{team_id}/members")).json()["members"] == []
    again = await sim_http.delete(f"/teams/{team_id}/users/{user_id}")
    assert again.status_code == 404
    renamed = await sim_http.put(f"/teams/{team_id}", json={"team": {"name": "Renamed"}})
    assert renamed.json()["team"]["name"] == "Renamed"
    assert (await sim_http.delete(f"/teams/{team_id}")).status_code == 204
    assert (await sim_http.get(f"/teams/{team_id}")).status_code == 404


async def test_policy_write_is_seen_by_the_next_listing(
    sim_http: httpx.AsyncClient, sim: Any
) -> None:
    schedule_id = next(i for i, s in sim.account.schedules.items() if s.get("type") == "schedule")
    before = (await sim_http.get("/escalation_policies", params={"total": "true"})).json()["total"]
    created = await sim_http.post(
        "/escalation_policies",
        json={
            "escalation_policy": {
                "name": "Aardvark escalation",
                "description": "Sorted first",
                "num_loops": 1,
                "escalation_rules": [
                    {
                        "escalation_delay_in_minutes": 10,
                        "targets": [{"id": schedule_id, "type": "schedule_reference"}],
                    }
                ],
            }
        },
    )
    assert created.status_code == 201
    policy_id = created.json()["escalation_policy"]["id"]
    listing = (await sim_http.get("/escalation_policies", params={"total": "true"})).json()
    assert listing["total"] == before + 1
    schedule = (await sim_http.get(f"/schedules/{schedule_id}")).json()["schedule"]
    assert policy_id in {p["id"] for p in schedule["escalation_policies"]}
    updated = await sim_http.put(
        f"/escalation_policies/{policy_id}", json={"escalation_policy": {"num_loops": 3}}
    )
    assert updated.json()["escalation_policy"]["num_loops"] == 3
    assert (await sim_http.delete(f"/escalation_policies/{policy_id}")).status_code == 204
    assert (await sim_http.get(f"/escalation_policies/{policy_id}")).status_code == 404


async def test_bad_bodies_are_400_and_change_nothing(sim_http: httpx.AsyncClient, sim: Any) -> None:
    count = len(sim.account.schedules)
    for body in (b"not json", b"[]", b'{"schedule": 5}', b'{"schedule": {"name": "x"}}'):
        response = await sim_http.post(
            "/schedules", content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == 2001
    assert len(sim.account.schedules) == count


async def test_writes_are_audited_with_their_actor(sim_http: httpx.AsyncClient, sim: Any) -> None:
    user_id = next(u for u in sim.account.users if u != sim.account.owner_id)
    sim.add_api_key("writer-key-abcd", user_id=user_id)
    response = await sim_http.post(
        "/teams",
        headers={"Authorization": "Token token=writer-key-abcd"},
        json={"team": {"name": "Audited", "description": "x"}},
    )
    assert response.status_code == 201
    record = sim.account.audit_records()[0]
    assert record["action"] == "create"
    assert record["actors"][0]["id"] == user_id
    assert record["method"] == {"type": "api_token", "truncated_token": "abcd"}


async def test_user_creation_needs_from_for_account_keys(
    sim_http: httpx.AsyncClient, sim: Any
) -> None:
    owner = sim.account.users[sim.account.owner_id]
    user = {"user": {"name": "Ann Other", "email": "ann@example.com", "description": "x"}}
    assert (await sim_http.post("/users", json=user)).status_code == 400
    created = await sim_http.post("/users", json=user, headers={"From": owner["email"]})
    assert created.status_code == 201
    new_id = created.json()["user"]["id"]
    assert (await sim_http.get(f"/users/{new_id}")).json()["user"]["email"] == "ann@example.com"
    assert (await sim_http.delete(f"/users/{new_id}")).status_code == 204
    assert (await sim_http.get(f"/users/{new_id}")).status_code == 404


async def test_oversized_and_deeply_nested_bodies_are_400(
    sim_http: httpx.AsyncClient, sim: Any
) -> None:
    count = len(sim.account.teams)
    huge = b'{"team": {"name": "Big", "description": "' + b"x" * (1024 * 1024) + b'"}}'
    deep = b"[" * 100_000 + b"]" * 100_000
    for body in (huge, deep):
        response = await sim_http.post(
            "/teams", content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] == 2001
    assert "larger than" in (await sim_http.post("/teams", content=huge)).text
    assert len(sim.account.teams) == count


async def test_values_a_read_could_not_render_are_refused(
    sim_http: httpx.AsyncClient, sim: Any
) -> None:
    user_id = next(u for u in sim.account.users if u != sim.account.owner_id)
    layer = {
        "start": "2026-01-05T00:00:00Z",
        "rotation_turn_length_seconds": 86400,
        "users": [{"user": {"id": user_id, "type": "user_reference"}}],
    }
    for bad_layer in (
        {**layer, "start": "0001-01-01T00:00:00+14:00"},
        {
            **layer,
            "restrictions": [
                {
                    "type": "daily_restriction",
                    "start_time_of_day": "25:61:00",
                    "duration_seconds": 3600,
                }
            ],
        },
        {**layer, "name": 5},
    ):
        body = {"schedule": {"name": "Odd", "time_zone": "UTC", "schedule_layers": [bad_layer]}}
        response = await sim_http.post("/schedules", json=body)
        assert response.status_code == 400, bad_layer
