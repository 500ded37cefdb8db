"""``GET /oncalls``: per policy and level, through schedules and directly targeted users."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
from test_http_overrides import override
from test_http_render import layer, make_schedule

NOW = datetime(2026, 1, 7, 15, tzinfo=UTC)


async def _policy(client: httpx.AsyncClient, rules: list[list[dict[str, str]]]) -> str:
    body = {
        "escalation_policy": {
            "type": "escalation_policy",
            "name": f"On-call check {datetime.now(UTC).timestamp()}",
            "escalation_rules": [
                {"escalation_delay_in_minutes": 30, "targets": targets} for targets in rules
            ],
        }
    }
    response = await client.post("/escalation_policies", json=body)
    assert response.status_code == 201, response.text
    policy_id: str = response.json()["escalation_policy"]["id"]
    return policy_id


def _schedule_ref(schedule_id: str) -> dict[str, str]:
    return {"id": schedule_id, "type": "schedule_reference"}


def _user_ref(user_id: str) -> dict[str, str]:
    return {"id": user_id, "type": "user_reference"}


def _rows(body: dict[str, Any]) -> list[tuple[int, str | None, str, str | None, str | None]]:
    return [
        (
            o["escalation_level"],
            o["schedule"]["id"] if o["schedule"] else None,
            o["user"]["id"],
            o["start"],
            o["end"],
        )
        for o in body["oncalls"]
    ]


async def _setup(sim: Any, client: httpx.AsyncClient) -> tuple[str, str, str, list[str]]:
    sim.clock = lambda: NOW.timestamp()
    users = list(sim.account.users)[:4]
    a, b, c, d = users
    daily = await make_schedule(client, [layer([a, b], 86400, "2026-01-05T00:00:00Z")])
    unused = await make_schedule(client, [layer([c], 86400, "2026-01-05T00:00:00Z")])
    policy = await _policy(client, [[_schedule_ref(daily)], [_user_ref(d)]])
    return policy, daily, unused, users


async def test_now_through_a_schedule_and_permanently(
    sim: Any, sim_http: httpx.AsyncClient
) -> None:
    policy, daily, unused, (a, _b, _c, d) = await _setup(sim, sim_http)
    got = await sim_http.get("/oncalls", params={"escalation_policy_ids[]": policy})
    assert got.status_code == 200, got.text
    # Wednesday 7 January is a's turn (the rotation started with a on Monday the 5th).
    assert _rows(got.json()) == [
        (1, daily, a, "2026-01-07T00:00:00Z", "2026-01-08T00:00:00Z"),
        (2, None, d, None, None),
    ]
    # A schedule no policy uses never appears.
    every = await sim_http.get("/oncalls", params={"schedule_ids[]": unused})
    assert every.json()["oncalls"] == []
    # Moving the simulator's clock moves "now".
    sim.clock = lambda: datetime(2026, 1, 8, 1, tzinfo=UTC).timestamp()
    later = await sim_http.get("/oncalls", params={"escalation_policy_ids[]": policy})
    assert _rows(later.json())[0][2:] == (_b, "2026-01-08T00:00:00Z", "2026-01-09T00:00:00Z")


async def test_windows_filters_and_earliest(sim: Any, sim_http: httpx.AsyncClient) -> None:
    policy, daily, _unused, (a, b, _c, d) = await _setup(sim, sim_http)
    window = {
        "escalation_policy_ids[]": policy,
        "since": "2026-01-07T12:00:00Z",
        "until": "2026-01-09T12:00:00Z",
    }
    got = await sim_http.get("/oncalls", params=window)
    # Each on-call keeps its whole shift; they are not cut at since or until.
    assert _rows(got.json()) == [
        (1, daily, a, "2026-01-07T00:00:00Z", "2026-01-08T00:00:00Z"),
        (1, daily, b, "2026-01-08T00:00:00Z", "2026-01-09T00:00:00Z"),
        (1, daily, a, "2026-01-09T00:00:00Z", "2026-01-10T00:00:00Z"),
        (2, None, d, None, None),
    ]
    earliest = await sim_http.get("/oncalls", params={**window, "earliest": "true"})
    assert [r[2:4] for r in _rows(earliest.json())] == [
        (a, "2026-01-07T00:00:00Z"),
        (b, "2026-01-08T00:00:00Z"),
        (d, None),
    ]
    by_user = await sim_http.get("/oncalls", params={**window, "user_ids[]": b})
    assert [r[2] for r in _rows(by_user.json())] == [b]
    by_schedule = await sim_http.get("/oncalls", params={**window, "schedule_ids[]": daily})
    assert {r[1] for r in _rows(by_schedule.json())} == {daily}
    permanent = await sim_http.get("/oncalls", params={**window, "schedule_ids[]": ["null", daily]})
    assert len(_rows(permanent.json())) == 4
    in_berlin = await sim_http.get("/oncalls", params={**window, "time_zone": "Europe/Berlin"})
    assert _rows(in_berlin.json())[0][3] == "2026-01-07T01:00:00+01:00"


async def test_window_rules(sim: Any, sim_http: httpx.AsyncClient) -> None:
    await _setup(sim, sim_http)
    for params in (
        {"since": "2026-01-01T00:00:00Z", "until": "2026-04-02T00:00:00Z"},  # 91 days
        {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        {"since": "yesterday"},
        {"include[]": "services"},
        {"time_zone": "Nowhere/Special"},
    ):
        response = await sim_http.get("/oncalls", params=params)
        assert response.status_code == 400, params
        assert response.json()["error"]["code"] in (2001, 2004, 2005)
    ninety = {"since": "2026-01-01T00:00:00Z", "until": "2026-04-01T00:00:00Z", "limit": "1"}
    assert (await sim_http.get("/oncalls", params=ninety)).status_code == 200


async def test_overrides_show_at_once(sim: Any, sim_http: httpx.AsyncClient) -> None:
    policy, daily, _unused, (a, _b, c, _d) = await _setup(sim, sim_http)
    params = {"escalation_policy_ids[]": policy}
    before = await sim_http.get("/oncalls", params=params)
    assert _rows(before.json())[0][2] == a
    await sim_http.post(
        f"/schedules/{daily}/overrides",
        json={"overrides": [override(c, "2026-01-07T14:00:00Z", "2026-01-07T16:00:00Z")]},
    )
    after = await sim_http.get("/oncalls", params=params)
    assert _rows(after.json())[0] == (1, daily, c, "2026-01-07T14:00:00Z", "2026-01-07T16:00:00Z")


async def test_includes_and_paging(sim: Any, sim_http: httpx.AsyncClient) -> None:
    sim.clock = lambda: NOW.timestamp()
    first = await sim_http.get("/oncalls", params={"limit": 10, "total": "true"})
    body = first.json()
    assert body["limit"] == 10
    assert body["offset"] == 0
    assert body["more"] is True
    total = body["total"]
    seen = []
    for offset in range(0, total, 100):
        page = await sim_http.get("/oncalls", params={"limit": 100, "offset": offset})
        seen += page.json()["oncalls"]
    assert len(seen) == total
    # Policies in name order (as listed), each level by level.
    policies = seen_order(seen)
    assert policies == [p for p in sim.account.list_ids("escalation_policies") if p in policies]
    levels = [(policies.index(o["escalation_policy"]["id"]), o["escalation_level"]) for o in seen]
    assert levels == sorted(levels)
    assert any(o["schedule"] is None and o["start"] is None for o in seen)
    assert any(o["schedule"] and o["schedule"]["type"] == "schedule_v3_reference" for o in seen)
    expanded = await sim_http.get(
        "/oncalls", params={"limit": 5, "include[]": ["users", "schedules", "escalation_policies"]}
    )
    row = next(o for o in expanded.json()["oncalls"] if o["schedule"])
    assert row["user"]["email"]
    assert row["user"]["type"] == "user_reference"
    assert row["escalation_policy"]["escalation_rules"]
    assert row["schedule"]["time_zone"]


def seen_order(rows: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(o["escalation_policy"]["id"] for o in rows))


async def test_a_one_second_rotation_is_refused_past_the_render_bound_not_rendered(
    sim: Any, sim_http: httpx.AsyncClient
) -> None:
    # PagerDuty's API reference sets no minimum rotation_turn_length_seconds, so a one-second
    # layer is stored; what keeps it from rendering a million entries is the per-answer bound
    # (timeline.MAX_PIECES, 20,000): a day of it (86,400 turns) is refused on every read.
    sim.clock = lambda: NOW.timestamp()
    a, b = list(sim.account.users)[:2]
    secondly = await make_schedule(sim_http, [layer([a, b], 1, "2026-01-05T00:00:00Z")])
    policy = await _policy(sim_http, [[_schedule_ref(secondly)]])
    day = {"since": "2026-01-07T00:00:00Z", "until": "2026-01-08T00:00:00Z"}
    refused = await sim_http.get(f"/schedules/{secondly}", params=day)
    assert refused.status_code == 400
    assert "too many" in refused.json()["error"]["errors"][0]
    oncalls = await sim_http.get("/oncalls", params={**day, "escalation_policy_ids[]": policy})
    assert oncalls.status_code == 400
    assert "too many" in oncalls.json()["error"]["errors"][0]
    # Ten minutes of it are 600 turns, rendered one by one.
    short = {"since": "2026-01-07T00:00:00Z", "until": "2026-01-07T00:10:00Z"}
    got = await sim_http.get(f"/schedules/{secondly}", params=short)
    assert got.status_code == 200
    assert len(got.json()["schedule"]["final_schedule"]["rendered_schedule_entries"]) == 600
