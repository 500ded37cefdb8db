"""Read endpoints: filters, includes, abilities and the rendered on-call schedule."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx


async def _all(client: httpx.AsyncClient, path: str, key: str, **params: Any) -> list[Any]:
    body = (await client.get(path, params={"limit": 100, **params})).json()
    assert body["more"] is False
    items: list[Any] = body[key]
    return items


async def test_users_query_and_team_filters(sim_http: httpx.AsyncClient, sim: Any) -> None:
    account = sim.account
    some = next(iter(account.users.values()))
    found = await _all(sim_http, "/users", "users", query=some["name"].split()[0].upper())
    assert some["id"] in {u["id"] for u in found}
    team_id, members = next((t, m) for t, m in account.memberships.items() if m)
    listed = await _all(sim_http, "/users", "users", **{"team_ids[]": team_id})
    assert {u["id"] for u in listed} == {m["user_id"] for m in members}


async def test_include_teams_on_users(sim_http: httpx.AsyncClient, sim: Any) -> None:
    member = next(m["user_id"] for ms in sim.account.memberships.values() for m in ms)
    plain = (await sim_http.get(f"/users/{member}")).json()["user"]
    assert plain["id"] == member
    with_teams = (await sim_http.get(f"/users/{member}", params={"include[]": "teams"})).json()
    assert with_teams["user"]["teams"], "a member's teams are included"
    bad = await sim_http.get("/users", params={"include[]": "bogus"})
    assert bad.status_code == 400


async def test_schedules_list_layers_only_when_included(sim_http: httpx.AsyncClient) -> None:
    plain = await _all(sim_http, "/schedules", "schedules")
    assert plain
    assert all("schedule_layers" not in s for s in plain)
    assert all(s["type"] == "schedule" for s in plain)
    layered = await _all(sim_http, "/schedules", "schedules", **{"include[]": "schedule_layers"})
    assert all(s["schedule_layers"] for s in layered)


async def test_v2_and_v3_ids_stay_apart(sim_http: httpx.AsyncClient, sim: Any) -> None:
    v2 = next(i for i, s in sim.account.schedules.items() if s.get("type") != "schedule_v3")
    v3 = next(i for i, s in sim.account.schedules.items() if s.get("type") == "schedule_v3")
    assert (await sim_http.get(f"/schedules/{v3}")).status_code == 404
    assert (await sim_http.get(f"/v3/schedules/{v3}")).status_code == 200
    wrong = await sim_http.get(f"/v3/schedules/{v2}")
    assert wrong.status_code == 400
    assert isinstance(wrong.json()["error"]["errors"], dict)  # the v3 error shape
    v2_list = {s["id"] for s in await _all(sim_http, "/schedules", "schedules")}
    v3_list = {s["id"] for s in await _all(sim_http, "/v3/schedules", "schedules")}
    assert v3 in v3_list
    assert v3 not in v2_list
    assert v2 not in v3_list


async def test_policy_filters_sort_and_includes(sim_http: httpx.AsyncClient, sim: Any) -> None:
    names = [p["name"] for p in await _all(sim_http, "/escalation_policies", "escalation_policies")]
    assert names == sorted(names, key=str.lower)
    desc = await _all(sim_http, "/escalation_policies", "escalation_policies", sort_by="name:desc")
    assert [p["name"] for p in desc] == names[::-1]
    assert (await sim_http.get("/escalation_policies", params={"sort_by": "id"})).status_code == 400
    policies = sim.account.escalation_policies
    with_team = next(p for p in policies.values() if p.get("teams"))
    team_id = with_team["teams"][0]["id"]
    by_team = await _all(
        sim_http, "/escalation_policies", "escalation_policies", **{"team_ids[]": team_id}
    )
    assert with_team["id"] in {p["id"] for p in by_team}
    assert all(team_id in {t["id"] for t in p["teams"]} for p in by_team)
    target_user = next(
        t["id"]
        for p in policies.values()
        for r in p["escalation_rules"]
        for t in r["targets"]
        if t["type"] in ("user", "user_reference")
    )
    by_user = await _all(
        sim_http, "/escalation_policies", "escalation_policies", **{"user_ids[]": target_user}
    )
    assert by_user
    assert all(
        any(t["id"] == target_user for r in p["escalation_rules"] for t in r["targets"])
        for p in by_user
    )
    expanded = await _all(
        sim_http, "/escalation_policies", "escalation_policies", **{"include[]": "targets"}
    )
    types = {t["type"] for p in expanded for r in p["escalation_rules"] for t in r["targets"]}
    assert "user" in types or "schedule" in types


async def test_without_the_teams_ability_team_features_are_402(
    sim_http: httpx.AsyncClient, sim: Any
) -> None:
    team_id = next(iter(sim.account.teams))
    sim.abilities.remove("teams")
    for path, params in [
        ("/teams", {}),
        (f"/teams/{team_id}/members", {}),
        ("/users", {"team_ids[]": team_id}),
        ("/schedules", {"team_ids[]": team_id}),
        ("/escalation_policies", {"team_ids[]": team_id}),
    ]:
        response = await sim_http.get(path, params=params)
        assert response.status_code == 402, path
        assert response.json()["error"]["code"] == 2014
    assert (await sim_http.get("/users")).status_code == 200
    assert (await sim_http.get("/abilities/teams")).status_code == 402
    assert "teams" not in (await sim_http.get("/abilities")).json()["abilities"]
    assert (await sim_http.get("/abilities/no_such_ability")).status_code == 404


async def _make_schedule(client: httpx.AsyncClient, users: list[str], layers: list[Any]) -> str:
    body = {
        "schedule": {
            "type": "schedule",
            "name": "Render check",
            "description": "Rendering",
            "time_zone": "UTC",
            "schedule_layers": [
                {
                    "name": f"Layer {n}",
                    "start": "2026-01-05T00:00:00Z",
                    "rotation_virtual_start": "2026-01-05T00:00:00Z",
                    "users": [{"user": {"id": u, "type": "user_reference"}} for u in layer_users],
                    **extra,
                }
                for n, (layer_users, extra) in enumerate(layers, start=1)
            ],
        }
    }
    response = await client.post("/schedules", json=body)
    assert response.status_code == 201, response.text
    schedule_id: str = response.json()["schedule"]["id"]
    return schedule_id


def _entries(sub: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (
            e["user"]["id"],
            datetime.fromisoformat(e["start"]).strftime("%m-%d %H"),
            datetime.fromisoformat(e["end"]).strftime("%m-%d %H"),
        )
        for e in sub["rendered_schedule_entries"]
    ]


async def test_final_schedule_follows_the_rotation(sim_http: httpx.AsyncClient, sim: Any) -> None:
    a, b = list(sim.account.users)[:2]
    schedule_id = await _make_schedule(
        sim_http, [a, b], [([a, b], {"rotation_turn_length_seconds": 86400})]
    )
    window = {"since": "2026-01-06T12:00:00Z", "until": "2026-01-09T12:00:00Z"}
    schedule = (await sim_http.get(f"/schedules/{schedule_id}", params=window)).json()["schedule"]
    # Jan 5 is a's turn, Jan 6 b's, Jan 7 a's...; the window clips the first and last turns.
    assert _entries(schedule["final_schedule"]) == [
        (b, "01-06 12", "01-07 00"),
        (a, "01-07 00", "01-08 00"),
        (b, "01-08 00", "01-09 00"),
        (a, "01-09 00", "01-09 12"),
    ]
    assert schedule["final_schedule"]["rendered_coverage_percentage"] == 100.0
    layer = schedule["schedule_layers"][0]
    assert _entries(layer) == _entries(schedule["final_schedule"])


async def test_restrictions_and_layer_priority(sim_http: httpx.AsyncClient, sim: Any) -> None:
    a, b, c = list(sim.account.users)[:3]
    daytime = {
        "rotation_turn_length_seconds": 7 * 86400,
        "restrictions": [
            {
                "type": "daily_restriction",
                "start_time_of_day": "09:00:00",
                "duration_seconds": 28800,
            }
        ],
    }
    schedule_id = await _make_schedule(
        sim_http,
        [a, b, c],
        # Written bottom first: the daytime layer, written last, is the top one.
        [([a, b], {"rotation_turn_length_seconds": 86400}), ([c], daytime)],
    )
    window = {"since": "2026-01-05T00:00:00Z", "until": "2026-01-06T00:00:00Z"}
    schedule = (await sim_http.get(f"/schedules/{schedule_id}", params=window)).json()["schedule"]
    top, bottom = schedule["schedule_layers"]
    assert _entries(top) == [(c, "01-05 09", "01-05 17")]
    assert top["rendered_coverage_percentage"] == round(100 * 8 / 24, 2)
    assert _entries(bottom) == [(a, "01-05 00", "01-06 00")]
    # PagerDuty reads the top layer back first, and it wins where both cover.
    assert _entries(schedule["final_schedule"]) == [
        (a, "01-05 00", "01-05 09"),
        (c, "01-05 09", "01-05 17"),
        (a, "01-05 17", "01-06 00"),
    ]


async def test_schedule_window_defaults_and_bad_dates(
    sim_http: httpx.AsyncClient, sim: Any
) -> None:
    a = next(iter(sim.account.users))
    schedule_id = await _make_schedule(
        sim_http, [a], [([a], {"rotation_turn_length_seconds": 86400})]
    )
    body = (
        await sim_http.get(f"/schedules/{schedule_id}", params={"since": "2026-02-01T00:00:00Z"})
    ).json()["schedule"]
    entries = body["final_schedule"]["rendered_schedule_entries"]
    assert entries[0]["start"].startswith("2026-02-01")
    assert entries[-1]["end"].startswith("2026-02-15")  # two weeks after since
    bad = await sim_http.get(f"/schedules/{schedule_id}", params={"since": "yesterday"})
    assert bad.status_code == 400


async def test_cached_pages_follow_every_change(sim_http: httpx.AsyncClient, sim: Any) -> None:
    params: dict[str, str | int] = {"limit": 100, "total": "true"}
    first = (await sim_http.get("/teams", params=params)).json()
    assert (await sim_http.get("/teams", params=params)).json() == first
    assert sim.cache.hits >= 1
    # A write through the Account (not the API) is seen at once.
    sim.account.create("teams", {"name": "Direct write", "description": "x"})
    second = (await sim_http.get("/teams", params=params)).json()
    assert second["total"] == first["total"] + 1
    # Losing an ability is seen at once too.
    sim.abilities.remove("teams")
    assert (await sim_http.get("/teams", params=params)).status_code == 402
    sim.abilities.append("teams")
    # A change made to the dicts directly needs clear_cache().
    team_id = next(iter(sim.account.teams))
    sim.account.teams[team_id]["description"] = "Changed behind the API's back"
    sim.clear_cache()
    team = (await sim_http.get(f"/teams/{team_id}")).json()["team"]
    assert team["description"] == "Changed behind the API's back"


async def test_overflow_keeps_whole_turns(sim_http: httpx.AsyncClient, sim: Any) -> None:
    a, b = list(sim.account.users)[:2]
    schedule_id = await _make_schedule(
        sim_http, [a, b], [([a, b], {"rotation_turn_length_seconds": 86400})]
    )
    window = {"since": "2026-01-06T12:00:00Z", "until": "2026-01-07T12:00:00Z"}
    clipped = (await sim_http.get(f"/schedules/{schedule_id}", params=window)).json()
    whole = (
        await sim_http.get(f"/schedules/{schedule_id}", params={**window, "overflow": "true"})
    ).json()
    assert _entries(clipped["schedule"]["final_schedule"]) == [
        (b, "01-06 12", "01-07 00"),
        (a, "01-07 00", "01-07 12"),
    ]
    assert _entries(whole["schedule"]["final_schedule"]) == [
        (b, "01-06 00", "01-07 00"),
        (a, "01-07 00", "01-08 00"),
    ]
