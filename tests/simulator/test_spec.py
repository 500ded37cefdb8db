"""Every kind of answer the simulator gives, checked against PagerDuty's own OpenAPI description.

The spec (``tests/data/pagerduty/openapiv3.json``) is loaded once per session with spec
validation off (it does not pass strict validation; see ``tests/data/pagerduty/README.md``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sim_spec import Checker, load_spec
from spec_paths import PAGERDUTY_SPEC

from pdsearch.simulator.scopes import REQUIRED_SCOPE, VALID_SCOPES


@pytest.fixture(scope="session")
def spec() -> Any:
    return load_spec()


@pytest.fixture(scope="session")
def raw_spec() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(PAGERDUTY_SPEC.read_text())
    return data


@pytest.fixture
async def check(sim: Any, spec: Any) -> AsyncIterator[Checker]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app),
        base_url="http://sim.test",
        headers={"Authorization": f"Token token={sim.api_key}"},
    ) as client:
        yield Checker(spec, client)


def _first(response: httpx.Response, key: str) -> dict[str, Any]:
    items: list[dict[str, Any]] = response.json()[key]
    assert items, f"the generated account has no {key}"
    return items[0]


async def test_user_endpoints_match_the_spec(check: Checker, sim: Any) -> None:
    listed = await check.call("GET", "/users", expect=200)
    await check.call("GET", "/users", params={"include[]": "teams", "total": "true"}, expect=200)
    await check.call("GET", "/users", params={"query": "a", "limit": 100}, expect=200)
    user = _first(listed, "users")
    await check.call("GET", f"/users/{user['id']}", expect=200)
    await check.call("GET", f"/users/{user['id']}", params={"include[]": "teams"}, expect=200)
    await check.call("GET", "/users/PNOSUCH", expect=404)
    # A user-level key reads /users/me.
    sim.add_api_key("user-key", user_id=user["id"])
    me = await check.call(
        "GET", "/users/me", headers={"Authorization": "Token token=user-key"}, expect=200
    )
    assert me.json()["user"]["id"] == user["id"]


async def test_team_endpoints_match_the_spec(check: Checker, sim: Any) -> None:
    listed = await check.call("GET", "/teams", params={"total": "true"}, expect=200)
    team = _first(listed, "teams")
    await check.call("GET", f"/teams/{team['id']}", expect=200)
    members = await check.call("GET", f"/teams/{team['id']}/members", expect=200)
    assert members.json()["members"][0]["user"]["type"] == "user_reference"
    await check.call(
        "GET", f"/teams/{team['id']}/members", params={"include[]": "users"}, expect=200
    )
    sim.abilities.remove("teams")
    await check.call("GET", "/teams", expect=402)
    await check.call("GET", f"/teams/{team['id']}", expect=402)


async def test_schedule_endpoints_match_the_spec(check: Checker) -> None:
    await check.call("GET", "/schedules", expect=200)
    listed = await check.call(
        "GET", "/schedules", params={"include[]": "schedule_layers"}, expect=200
    )
    schedule = _first(listed, "schedules")
    assert "schedule_layers" in schedule
    await check.call("GET", f"/schedules/{schedule['id']}", expect=200)
    detail = await check.call(
        "GET",
        f"/schedules/{schedule['id']}",
        params={"since": "2026-01-05T00:00:00Z", "until": "2026-01-19T00:00:00Z"},
        expect=200,
    )
    assert detail.json()["schedule"]["final_schedule"]["rendered_schedule_entries"]
    await check.call("GET", "/schedules/PNOSUCH", expect=404)
    v3 = await check.call("GET", "/v3/schedules", expect=200)
    v3_ref = _first(v3, "schedules")
    assert v3_ref["type"] == "schedule_v3_reference"
    await check.call("GET", f"/v3/schedules/{v3_ref['id']}", expect=200)
    with_users = await check.call(
        "GET", f"/v3/schedules/{v3_ref['id']}", params={"include[]": "users"}, expect=200
    )
    assert with_users.json()["schedule"]["users"]
    await check.call("GET", "/v3/schedules/PNOSUCH", expect=404)
    # A v3 id under /schedules is not found (FACTS §1).
    await check.call("GET", f"/schedules/{v3_ref['id']}", expect=404)


async def test_policy_endpoints_match_the_spec(check: Checker) -> None:
    listed = await check.call("GET", "/escalation_policies", expect=200)
    for include in ("services", "teams", "targets"):
        await check.call("GET", "/escalation_policies", params={"include[]": include}, expect=200)
    await check.call(
        "GET",
        "/escalation_policies",
        params={"sort_by": "name:desc", "include[]": ["services", "teams", "targets"]},
        expect=200,
    )
    policy = _first(listed, "escalation_policies")
    await check.call("GET", f"/escalation_policies/{policy['id']}", expect=200)
    await check.call(
        "GET", f"/escalation_policies/{policy['id']}", params={"include[]": "targets"}, expect=200
    )
    await check.call("GET", "/escalation_policies/PNOSUCH", expect=404)


async def test_abilities_and_audit_match_the_spec(check: Checker, sim: Any) -> None:
    await check.call("GET", "/abilities", expect=200)
    await check.call("GET", "/abilities/teams", expect=204)
    sim.abilities.remove("teams")
    await check.call("GET", "/abilities/teams", expect=402)
    await check.call("GET", "/audit/records", expect=200)
    await check.call(
        "GET",
        "/audit/records",
        params={"root_resource_types[]": "schedules", "actions[]": "create", "limit": 5},
        expect=200,
    )


async def test_error_answers_match_the_spec(check: Checker, sim: Any) -> None:
    await check.call("GET", "/users", headers={"Authorization": "Token token=wrong"}, expect=401)
    await check.call("GET", "/users", params={"offset": 9950, "limit": 100}, expect=400)
    sim.config.rate_limit = 1
    sim.limiter.reset()
    await check.call("GET", "/schedules", expect=200)
    await check.call("GET", "/schedules", expect=429)
    sim.config.rate_limit = 0
    token = sim.tokens.issue_access_token(
        "client", sim.account.owner_id, frozenset({"users.read"}), 60
    )
    await check.call("GET", "/schedules", headers={"Authorization": f"Bearer {token}"}, expect=403)


def test_scope_table_is_the_specs(raw_spec: dict[str, Any]) -> None:
    for (method, path), scope in REQUIRED_SCOPE.items():
        operation = raw_spec["paths"][path][method.lower()]
        assert operation.get("x-pd-requires-scope") == scope, (method, path)
    spec_scopes = {
        op["x-pd-requires-scope"]
        for ops in raw_spec["paths"].values()
        for op in ops.values()
        if isinstance(op, dict) and "x-pd-requires-scope" in op
    }
    assert spec_scopes <= VALID_SCOPES


async def test_write_answers_match_the_spec(check: Checker, sim: Any) -> None:
    account = sim.account
    owner = account.users[account.owner_id]
    user_ids = [u for u in account.users if u != account.owner_id][:2]
    team = await check.call(
        "POST",
        "/teams",
        json={"team": {"type": "team", "name": "Spec Team", "description": "Spec checks"}},
        expect=201,
    )
    team_id = team.json()["team"]["id"]
    await check.call(
        "PUT", f"/teams/{team_id}", json={"team": {"description": "Checked"}}, expect=200
    )
    await check.call(
        "PUT", f"/teams/{team_id}/users/{user_ids[0]}", json={"role": "manager"}, expect=204
    )
    await check.call("DELETE", f"/teams/{team_id}/users/{user_ids[0]}", expect=204)
    user = await check.call(
        "POST",
        "/users",
        headers={"From": owner["email"]},
        json={
            "user": {
                "type": "user",
                "name": "Grace Hopper",
                "email": "grace.hopper@example.com",
                "role": "user",
                "time_zone": "America/New_York",
                # Given: the account stores a missing one as null, which the spec forbids.
                "description": "Wrote the first compiler",
                "job_title": "Rear Admiral",
            }
        },
        expect=201,
    )
    new_user = user.json()["user"]["id"]
    await check.call(
        "PUT", f"/users/{new_user}", json={"user": {"job_title": "Admiral"}}, expect=200
    )
    schedule = await check.call(
        "POST",
        "/schedules",
        json={
            "schedule": {
                "type": "schedule",
                "name": "Spec Rotation",
                "time_zone": "UTC",
                "description": "Checked against the spec",
                "schedule_layers": [
                    {
                        "name": "Layer 1",
                        "start": "2026-01-05T00:00:00Z",
                        "rotation_virtual_start": "2026-01-05T00:00:00Z",
                        "rotation_turn_length_seconds": 86400,
                        "users": [{"user": {"id": u, "type": "user_reference"}} for u in user_ids],
                    }
                ],
            }
        },
        expect=201,
    )
    schedule_id = schedule.json()["schedule"]["id"]
    await check.call(
        "PUT", f"/schedules/{schedule_id}", json={"schedule": {"name": "Spec 2"}}, expect=200
    )
    policy = await check.call(
        "POST",
        "/escalation_policies",
        json={
            "escalation_policy": {
                "type": "escalation_policy",
                "name": "Spec escalation",
                "description": "Checked against the spec",
                "escalation_rules": [
                    {
                        "escalation_delay_in_minutes": 30,
                        "targets": [{"id": schedule_id, "type": "schedule_reference"}],
                    }
                ],
            }
        },
        expect=201,
    )
    policy_id = policy.json()["escalation_policy"]["id"]
    await check.call(
        "PUT",
        f"/escalation_policies/{policy_id}",
        json={"escalation_policy": {"num_loops": 2}},
        expect=200,
    )
    await check.call("DELETE", f"/escalation_policies/{policy_id}", expect=204)
    await check.call("DELETE", f"/schedules/{schedule_id}", expect=204)
    await check.call("DELETE", f"/users/{new_user}", expect=204)
    await check.call("DELETE", f"/teams/{team_id}", expect=204)
    await check.call("POST", "/users", json={"user": {"name": "No From"}}, expect=400)
    await check.call("PUT", "/schedules/PNOSUCH", json={"schedule": {}}, expect=404)
    # Every write left an audit record, and they read back in the spec's shape.
    records = await check.call("GET", "/audit/records", params={"limit": 100}, expect=200)
    actions = {(r["root_resource"]["type"], r["action"]) for r in records.json()["records"]}
    assert ("escalation_policy_reference", "delete") in actions
    assert ("team_reference", "create") in actions
    for path in (f"/teams/{team_id}", f"/schedules/{schedule_id}", f"/users/{new_user}"):
        trail = await check.call("GET", f"{path}/audit/records", expect=200)
        roots = {r["root_resource"]["id"] for r in trail.json()["records"]}
        assert roots == {path.rsplit("/", 1)[1]}, path
