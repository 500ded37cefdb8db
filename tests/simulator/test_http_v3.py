"""Shift-based (v3) schedules written through their own endpoints, and v3 error shapes.

Every answer is validated against PagerDuty's spec (``Checker``): a 400 on a v3 schedule path
must be a ``V3ErrorResponse`` (``errors`` a field map), a 404 the generic error body.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sim_spec import Checker, load_spec

from pdsearch.simulator.state import Simulator

JSON = dict[str, Any]
NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def check(sim: Simulator) -> AsyncIterator[Checker]:
    sim.clock = NOW.timestamp
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app),
        base_url="http://sim.test",
        headers={"Authorization": f"Token token={sim.api_key}"},
    ) as client:
        yield Checker(load_spec(), client)


def _event(user_ids: list[str], since: str, until: str | None = None) -> JSON:
    return {
        "name": "Daily",
        "start_time": {"date_time": "2026-07-06T09:00:00Z", "time_zone": "Europe/Berlin"},
        "end_time": {"date_time": "2026-07-06T17:00:00Z", "time_zone": "Europe/Berlin"},
        "effective_since": since,
        "effective_until": until,
        "recurrence": ["RRULE:FREQ=DAILY"],
        "assignment_strategy": {
            "type": "rotating_member_assignment_strategy",
            "shifts_per_member": 1,
            "members": [{"type": "user_member", "user_id": u} for u in user_ids],
        },
    }


def _users(sim: Simulator, n: int) -> list[str]:
    return [u for u in sorted(sim.account.users) if u != sim.account.owner_id][:n]


async def test_schedule_rotation_and_event_lifecycle(check: Checker, sim: Simulator) -> None:
    u1, u2 = _users(sim, 2)
    team_id = sorted(sim.account.teams)[0]
    created = await check.json(
        "POST",
        "/v3/schedules",
        expect=201,
        json={
            "schedule": {
                "name": "Tidewater rota",
                "time_zone": "Europe/Berlin",
                "description": "Shifts",
                "teams": [{"id": team_id, "type": "team_reference"}],
            }
        },
    )
    schedule = created["schedule"]
    assert schedule["type"] == "schedule_v3"
    assert schedule["rotations"] == []
    assert [t["id"] for t in schedule["teams"]] == [team_id]
    base = f"/v3/schedules/{schedule['id']}"
    listed = await check.json("GET", "/v3/schedules", expect=200, params={"query": "TIDEWATER"})
    assert [s["id"] for s in listed["schedules"]] == [schedule["id"]]

    rotation = (await check.json("POST", f"{base}/rotations", expect=201))["rotation"]
    assert rotation["type"] == "schedule_rotation"
    assert rotation["events"] == []
    rotations = await check.json("GET", f"{base}/rotations", expect=200)
    assert [r["id"] for r in rotations["rotations"]] == [rotation["id"]]
    events_path = f"{base}/rotations/{rotation['id']}/events"
    event = (
        await check.json(
            "POST", events_path, expect=201, json={"event": _event([u1], "2026-08-01T00:00:00Z")}
        )
    )["event"]
    assert event["type"] == "schedule_event"
    assert event["name"] == "Daily"
    # A future event may change anything.
    changed = {
        "name": "Daily cover",
        "assignment_strategy": _event([u1, u2], "x")["assignment_strategy"],
    }
    updated = (
        await check.json("PUT", f"{events_path}/{event['id']}", expect=200, json={"event": changed})
    )["event"]
    assert updated["name"] == "Daily cover"
    detail = await check.json("GET", base, expect=200, params={"include[]": "users"})
    assert [u["id"] for u in detail["schedule"]["users"]] == [u1, u2]
    await check.call("GET", f"{events_path}/{event['id']}", expect=200)
    await check.call("DELETE", f"{events_path}/{event['id']}", expect=204)
    assert (await check.json("GET", events_path, expect=200))["events"] == []
    await check.call("DELETE", f"{base}/rotations/{rotation['id']}", expect=204)
    await check.call("GET", f"{base}/rotations/{rotation['id']}", expect=404)

    renamed = await check.json(
        "PUT", base, expect=200, json={"schedule": {"name": "Around the clock"}}
    )
    assert renamed["schedule"]["name"] == "Around the clock"
    assert renamed["schedule"]["time_zone"] == "Europe/Berlin"  # left out, kept
    await check.call("DELETE", base, expect=204)
    await check.call("GET", base, expect=404)
    await check.call("PUT", base, expect=404, json={"schedule": {"name": "Gone"}})


async def test_started_and_past_events_change_as_pagerduty_allows(
    check: Checker, sim: Simulator
) -> None:
    (u1,) = _users(sim, 1)
    schedule = await check.json(
        "POST", "/v3/schedules", expect=201, json={"schedule": {"name": "S", "time_zone": "UTC"}}
    )
    base = f"/v3/schedules/{schedule['schedule']['id']}"
    rotation = (await check.json("POST", f"{base}/rotations", expect=201, json={}))["rotation"]
    events_path = f"{base}/rotations/{rotation['id']}/events"
    active = (
        await check.json(
            "POST", events_path, expect=201, json={"event": _event([u1], "2026-06-01T00:00:00Z")}
        )
    )["event"]
    past = (
        await check.json(
            "POST",
            events_path,
            expect=201,
            json={"event": _event([u1], "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z")},
        )
    )["event"]
    refused = await check.json(
        "PUT", f"{events_path}/{active['id']}", expect=400, json={"event": {"name": "Renamed"}}
    )
    assert refused["error"]["errors"] == {
        "event": ["An event that has started can only change its effective_until."]
    }
    ended = await check.json(
        "PUT",
        f"{events_path}/{active['id']}",
        expect=200,
        json={"event": {"effective_until": "2026-09-01T00:00:00Z"}},
    )
    assert ended["event"]["effective_until"] == "2026-09-01T00:00:00Z"
    await check.call(
        "PUT",
        f"{events_path}/{past['id']}",
        expect=400,
        json={"event": {"effective_until": "2027-01-01T00:00:00Z"}},
    )


async def test_v3_bad_requests_have_the_v3_error_shape(check: Checker, sim: Simulator) -> None:
    v2_id = next(i for i, s in sorted(sim.account.schedules.items()) if s["type"] == "schedule")
    for method, path, kw in (
        ("POST", "/v3/schedules", {"json": {"schedule": {"name": "No zone"}}}),
        ("POST", "/v3/schedules", {"json": {"schedule": {"name": "Z", "time_zone": "Mars/Base"}}}),
        ("POST", "/v3/schedules", {"content": b"not json"}),
        ("GET", "/v3/schedules", {"params": {"offset": "-1"}}),
        ("GET", "/v3/schedules", {"params": {"limit": "many"}}),
    ):
        body = await check.json(method, path, expect=400, **kw)
        errors = body["error"]["errors"]
        assert isinstance(errors, dict), (method, path, body)
        assert errors, (method, path, body)
        assert all(isinstance(m, list) and m for m in errors.values())
    limit = await check.json("GET", "/v3/schedules", expect=400, params={"limit": "many"})
    assert limit["error"]["errors"] == {"limit": ["limit must be an integer."]}
    # A layer-based id under /v3 (FACTS §1): 400, v3 shape. The spec lists no 400 for this
    # operation, so the answer is checked by hand rather than by the Checker.
    raw = await check.client.get(f"/v3/schedules/{v2_id}")
    assert raw.status_code == 400
    assert isinstance(raw.json()["error"]["errors"], dict)
    # Not found, unauthorised: the generic body, as the spec has it for v3 too.
    await check.call("GET", "/v3/schedules/PNOSUCH/rotations", expect=404)
    await check.call(
        "GET", "/v3/schedules", expect=401, headers={"Authorization": "Token token=wrong"}
    )
    # The v2 endpoints keep their list of strings.
    v2 = await check.json("POST", "/schedules", expect=400, json={"schedule": {"name": "x"}})
    assert isinstance(v2["error"]["errors"], list)


async def test_v3_writes_need_the_schedules_write_scope(check: Checker, sim: Simulator) -> None:
    owner = sim.account.owner_id
    read = sim.tokens.issue_access_token("c", owner, frozenset({"schedules.read"}), 600)
    body = {"schedule": {"name": "Scoped", "time_zone": "UTC"}}
    denied = await check.json(
        "POST", "/v3/schedules", expect=403, headers={"Authorization": f"Bearer {read}"}, json=body
    )
    assert "schedules.write" in denied["error"]["message"]
    write = sim.tokens.issue_access_token("c", owner, frozenset({"schedules.write"}), 600)
    await check.call(
        "POST", "/v3/schedules", expect=201, headers={"Authorization": f"Bearer {write}"}, json=body
    )
