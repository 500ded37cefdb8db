"""``/schedules/{id}/overrides``: creating, listing, deleting, and rendering on top of layers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_http_render import entries, layer, make_schedule, render

from pdsearch.simulator.account import Account


def override(user: str, start: str, end: str, **extra: Any) -> dict[str, Any]:
    return {"start": start, "end": end, "user": {"id": user, "type": "user_reference"}, **extra}


async def _daily(sim: Any, client: httpx.AsyncClient) -> tuple[str, list[str]]:
    users = list(sim.account.users)[:4]
    schedule_id = await make_schedule(client, [layer(users[:2], 86400, "2026-01-05T00:00:00Z")])
    return schedule_id, users


async def test_overrides_go_on_top_and_the_last_created_wins(
    sim: Any, sim_http: httpx.AsyncClient
) -> None:
    schedule_id, (_a, b, c, d) = await _daily(sim, sim_http)
    created = await sim_http.post(
        f"/schedules/{schedule_id}/overrides",
        json={
            "overrides": [
                override(c, "2026-01-06T06:00:00Z", "2026-01-06T18:00:00Z"),
                override(d, "2026-01-06T10:00:00Z", "2026-01-06T12:00:00Z"),
                # Bad ones are answered one by one; the good ones are still created.
                override(c, "2026-01-07T05:00:00Z", "2026-01-07T05:00:00Z"),
                override("PNOSUCH", "2026-01-07T05:00:00Z", "2026-01-07T06:00:00Z"),
            ]
        },
    )
    assert created.status_code == 201, created.text
    results = created.json()
    assert [r["status"] for r in results] == [201, 201, 400, 400]
    # A refused item is echoed in the Override shape the spec gives every item.
    assert results[3]["override"]["user"] == {"id": "PNOSUCH", "type": "user_reference"}
    assert results[2]["errors"] == ["Override must end after its start"]
    assert "PNOSUCH" in results[3]["errors"][0]
    assert results[0]["override"]["id"].startswith("Q")
    assert len(results[0]["override"]["id"]) == 14
    got = await render(
        sim_http, schedule_id, since="2026-01-06T00:00:00Z", until="2026-01-07T00:00:00Z"
    )
    assert entries(got["final_schedule"]) == [
        (b, "2026-01-06T00:00:00Z", "2026-01-06T06:00:00Z"),
        (c, "2026-01-06T06:00:00Z", "2026-01-06T10:00:00Z"),
        (d, "2026-01-06T10:00:00Z", "2026-01-06T12:00:00Z"),
        (c, "2026-01-06T12:00:00Z", "2026-01-06T18:00:00Z"),
        (b, "2026-01-06T18:00:00Z", "2026-01-07T00:00:00Z"),
    ]
    assert entries(got["overrides_subschedule"]) == [
        (c, "2026-01-06T06:00:00Z", "2026-01-06T10:00:00Z"),
        (d, "2026-01-06T10:00:00Z", "2026-01-06T12:00:00Z"),
        (c, "2026-01-06T12:00:00Z", "2026-01-06T18:00:00Z"),
    ]
    assert got["overrides_subschedule"]["rendered_coverage_percentage"] == 50.0
    # The layers themselves are unchanged.
    assert entries(got["schedule_layers"][0]) == [
        (b, "2026-01-06T00:00:00Z", "2026-01-07T00:00:00Z")
    ]


async def test_listing_overrides(sim: Any, sim_http: httpx.AsyncClient) -> None:
    schedule_id, (_a, _b, c, d) = await _daily(sim, sim_http)
    base = f"/schedules/{schedule_id}/overrides"
    await sim_http.post(
        base,
        json={
            "overrides": [
                override(
                    c, "2026-01-06T06:00:00", "2026-01-06T18:00:00", time_zone="America/New_York"
                ),
                override(d, "2026-02-01T00:00:00Z", "2026-02-02T00:00:00Z"),
            ]
        },
    )
    assert (await sim_http.get(base)).status_code == 400  # since and until are required
    window = {"since": "2026-01-06T12:00:00Z", "until": "2026-01-06T20:00:00Z"}
    listed = await sim_http.get(base, params=window)
    assert listed.status_code == 200
    [only] = listed.json()["overrides"]
    # Read in the item's time zone, clipped to the window unless overflow is asked for.
    assert (only["start"], only["end"]) == ("2026-01-06T12:00:00Z", "2026-01-06T20:00:00Z")
    whole = (await sim_http.get(base, params={**window, "overflow": "true"})).json()["overrides"]
    assert (whole[0]["start"], whole[0]["end"]) == ("2026-01-06T11:00:00Z", "2026-01-06T23:00:00Z")
    sim.clock = lambda: datetime(2026, 1, 20, tzinfo=UTC).timestamp()
    year = {"since": "2026-01-01T00:00:00Z", "until": "2026-12-31T00:00:00Z"}
    editable = (await sim_http.get(base, params={**year, "editable": "true"})).json()["overrides"]
    assert [o["user"]["id"] for o in editable] == [d]  # only future overrides are editable


async def test_deleting_overrides(sim: Any, sim_http: httpx.AsyncClient) -> None:
    schedule_id, (_a, _b, c, d) = await _daily(sim, sim_http)
    base = f"/schedules/{schedule_id}/overrides"
    made = await sim_http.post(
        base,
        json={
            "overrides": [
                override(c, "2026-01-06T00:00:00Z", "2026-01-07T00:00:00Z"),
                override(d, "2026-01-08T00:00:00Z", "2026-01-09T00:00:00Z"),
                override(d, "2026-01-10T00:00:00Z", "2026-01-11T00:00:00Z"),
            ]
        },
    )
    past, running, future = (r["override"]["id"] for r in made.json())
    sim.clock = lambda: datetime(2026, 1, 8, 12, tzinfo=UTC).timestamp()
    assert (await sim_http.delete(f"{base}/{past}")).status_code == 400
    assert (await sim_http.delete(f"{base}/{running}")).status_code == 200  # ended now
    assert (await sim_http.delete(f"{base}/{future}")).status_code == 204
    assert (await sim_http.delete(f"{base}/{future}")).status_code == 404
    left = await sim_http.get(
        base, params={"since": "2026-01-01T00:00:00Z", "until": "2026-02-01T00:00:00Z"}
    )
    assert [(o["id"], o["end"]) for o in left.json()["overrides"]] == [
        (past, "2026-01-07T00:00:00Z"),
        (running, "2026-01-08T12:00:00Z"),
    ]


async def test_the_older_single_form_and_bad_bodies(sim: Any, sim_http: httpx.AsyncClient) -> None:
    schedule_id, (_a, _b, c, _d) = await _daily(sim, sim_http)
    base = f"/schedules/{schedule_id}/overrides"
    single = await sim_http.post(
        base, json={"override": override(c, "2026-01-06T00:00:00Z", "2026-01-06T01:00:00Z")}
    )
    assert single.status_code == 201
    assert single.json()["override"]["user"]["id"] == c
    assert (await sim_http.post(base, json={"overrides": []})).status_code == 400
    assert (await sim_http.post(base, json={"nothing": 1})).status_code == 400
    many = {"overrides": [override(c, "2026-01-06T00:00:00Z", "2026-01-06T01:00:00Z")] * 101}
    assert (await sim_http.post(base, json=many)).status_code == 400
    v3 = next(i for i, s in sim.account.schedules.items() if s["type"] == "schedule_v3")
    assert (await sim_http.post(f"/schedules/{v3}/overrides", json=many)).status_code == 404
    assert (await sim_http.post("/schedules/PNOSUCH/overrides", json=many)).status_code == 404


async def test_overrides_are_saved_and_loaded(
    sim: Any, sim_http: httpx.AsyncClient, tmp_path: Path
) -> None:
    schedule_id, (_a, _b, c, d) = await _daily(sim, sim_http)
    await sim_http.post(
        f"/schedules/{schedule_id}/overrides",
        json={
            "overrides": [
                override(c, "2026-01-06T06:00:00Z", "2026-01-06T18:00:00Z"),
                override(d, "2026-01-06T08:00:00Z", "2026-01-06T09:00:00Z"),
            ]
        },
    )
    path = tmp_path / "account.json"
    sim.account.save(path)
    loaded = Account.load(path)
    assert loaded.to_json() == sim.account.to_json()
    mine = [(o.id, o.start, o.end, o.user_id) for o in loaded.overrides.of(schedule_id)]
    assert mine == [
        (o.id, o.start, o.end, o.user_id) for o in sim.account.overrides.of(schedule_id)
    ]
    # Overrides of a deleted user or schedule are not written, so the file still loads.
    other = await make_schedule(sim_http, [layer([c, d], 86400, "2026-01-05T00:00:00Z")])
    await sim_http.post(
        f"/schedules/{other}/overrides",
        json={"overrides": [override(c, "2026-01-06T06:00:00Z", "2026-01-06T18:00:00Z")]},
    )
    assert (await sim_http.delete(f"/users/{d}")).status_code == 204
    assert (await sim_http.delete(f"/schedules/{other}")).status_code == 204
    assert sim.account.overrides.of(other) == []  # a deleted schedule's overrides go with it
    kept = Account.from_json(sim.account.to_json())
    assert [o.user_id for o in kept.overrides.of(schedule_id)] == [c]
    assert kept.overrides.of(other) == []
    # A file whose override names a schedule that does not exist is refused, with its place.
    data = sim.account.to_json()
    data["overrides"][-1]["schedule_id"] = "PNOSUCH"
    with pytest.raises(ValueError, match="PNOSUCH") as refused:
        Account.from_json(data)
    assert "overrides[" in str(refused.value)


async def test_an_item_not_shaped_as_an_override_refuses_the_whole_request(
    sim: Any, sim_http: httpx.AsyncClient
) -> None:
    schedule_id, (_a, _b, c, _d) = await _daily(sim, sim_http)
    base = f"/schedules/{schedule_id}/overrides"
    good = override(c, "2026-01-06T06:00:00Z", "2026-01-06T18:00:00Z")
    for bad in (
        {"start": "2026-01-07T05:00:00Z"},
        "not an object",
        override(c, "soon", "2026-01-07T06:00:00Z"),
        {**good, "user": "PX"},
    ):
        refused = await sim_http.post(base, json={"overrides": [good, bad]})
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"]["errors"][0].startswith("overrides[1]: ")
    # Nothing was created, not even the well-shaped first item.
    window = {"since": "2026-01-01T00:00:00Z", "until": "2026-02-01T00:00:00Z"}
    assert (await sim_http.get(base, params=window)).json()["overrides"] == []
    assert sim.account.overrides.of(schedule_id) == []


async def test_override_writes_are_audited_as_updates_of_their_schedule(
    sim: Any, sim_http: httpx.AsyncClient
) -> None:
    sim.clock = lambda: datetime(2026, 1, 5, 12, tzinfo=UTC).timestamp()
    schedule_id, (_a, _b, c, d) = await _daily(sim, sim_http)
    base = f"/schedules/{schedule_id}/overrides"
    trail = f"/schedules/{schedule_id}/audit/records"
    window = {"since": "2026-01-05T00:00:00Z", "until": "2026-01-07T00:00:00Z"}

    async def override_records() -> list[dict[str, Any]]:
        # An explicit window: the frozen clock's "now" would exclude records made at it.
        got = await sim_http.get(trail, params=window)
        assert got.status_code == 200, got.text
        records: list[dict[str, Any]] = got.json()["records"]
        return [
            r
            for r in records
            if any(f["name"] == "overrides" for f in r["details"].get("fields") or [])
        ]

    made = await sim_http.post(
        base,
        json={
            "overrides": [
                override(c, "2026-01-06T00:00:00Z", "2026-01-07T00:00:00Z"),
                override(d, "2026-01-08T00:00:00Z", "2026-01-09T00:00:00Z"),
            ]
        },
    )
    # One request, one record: the schedule is the root, the change an update of its overrides.
    [created] = await override_records()
    assert created["action"] == "update"
    assert created["root_resource"]["id"] == schedule_id
    assert created["root_resource"]["type"] == "schedule_reference"
    # A request that creates nothing changes nothing, so it leaves no record.
    unknown = override("PNOSUCH", "2026-01-06T00:00:00Z", "2026-01-06T01:00:00Z")
    refused = await sim_http.post(base, json={"overrides": [unknown]})
    assert [r["status"] for r in refused.json()] == [400]
    assert len(await override_records()) == 1
    running, future = (r["override"]["id"] for r in made.json())
    sim.clock = lambda: datetime(2026, 1, 6, 12, tzinfo=UTC).timestamp()
    assert (await sim_http.delete(f"{base}/{running}")).status_code == 200
    assert (await sim_http.delete(f"{base}/{future}")).status_code == 204
    assert (await sim_http.delete(f"{base}/{future}")).status_code == 404
    records = await override_records()
    assert len(records) == 3
    assert {(r["action"], r["root_resource"]["id"]) for r in records} == {("update", schedule_id)}
