"""Rendered schedules, overrides, on-calls and v3 final schedules checked against PagerDuty's spec.

Two places where PagerDuty's answers and its spec disagree are checked as PagerDuty answers
(docs/SIMULATOR.md, tests/data/pagerduty/README.md):

- ``Oncall.schedule``, ``start`` and ``end`` are described as ``null`` for a user targeted
  directly, but typed non-nullable: those three fields are checked with ``nullable`` added;
- ``GET /schedules/{id}/overrides`` is documented with status 201 only; the simulator answers a
  read with 200, whose body is checked against the documented 201 schema.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sim_spec import load_spec, relaxed_spec, validate_answer
from test_http_overrides import override
from test_http_render import layer, make_schedule

NOW = datetime(2026, 1, 7, 15, tzinfo=UTC)


class Checked:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def call(
        self,
        method: str,
        url: str,
        *,
        expect: int,
        as_status: int | None = None,
        relaxed: bool = False,
        **kw: Any,
    ) -> httpx.Response:
        response = await self.client.request(method, url, **kw)
        assert response.status_code == expect, (method, url, response.status_code, response.text)
        validate_answer(
            relaxed_spec() if relaxed else load_spec(),
            method,
            urlsplit(str(response.request.url)).path,
            as_status or response.status_code,
            response.content,
            response.headers.get("content-type", "application/json"),
        )
        return response


@pytest.fixture
async def checked(sim: Any) -> AsyncIterator[Checked]:
    sim.clock = lambda: NOW.timestamp()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app),
        base_url="http://sim.test",
        headers={"Authorization": f"Token token={sim.api_key}"},
    ) as client:
        yield Checked(client)


async def test_rendered_schedules_and_overrides_match_the_spec(checked: Checked, sim: Any) -> None:
    a, b, c = list(sim.account.users)[:3]
    schedule_id = await make_schedule(
        checked.client,
        [
            layer([a, b], 86400, "2026-01-05T09:00:00-05:00"),
            layer(
                [c],
                7 * 86400,
                "2026-01-05T00:00:00Z",
                restrictions=[
                    {
                        "type": "daily_restriction",
                        "start_time_of_day": "09:00:00",
                        "duration_seconds": 3600,
                    }
                ],
            ),
        ],
        "America/New_York",
    )
    base = f"/schedules/{schedule_id}/overrides"
    made = await checked.call(
        "POST",
        base,
        expect=201,
        json={
            "overrides": [
                override(c, "2026-01-08T00:00:00Z", "2026-01-09T00:00:00Z"),
                override(a, "2026-01-10T00:00:00Z", "2026-01-10T00:00:00Z"),
            ]
        },
    )
    assert [r["status"] for r in made.json()] == [201, 400]
    window = {"since": "2026-01-05T00:00:00Z", "until": "2026-01-19T00:00:00Z"}
    for params in (window, {**window, "overflow": "true", "time_zone": "Asia/Tokyo"}, {}):
        got = await checked.call("GET", f"/schedules/{schedule_id}", expect=200, params=params)
        rendered = got.json()["schedule"]
        assert rendered["final_schedule"]["name"] == "Final Schedule"
    assert rendered["overrides_subschedule"]["name"] == "Overrides"
    listed = await checked.call("GET", base, expect=200, as_status=201, params=window)
    [only] = listed.json()["overrides"]
    await checked.call("DELETE", f"{base}/{only['id']}", expect=204)
    await checked.call(
        "GET",
        f"/schedules/{schedule_id}",
        expect=400,
        params={"since": "2026-01-05T00:00:00Z", "until": "2028-01-05T00:00:00Z"},
    )
    await checked.call("GET", base, expect=400)
    await checked.call("GET", "/schedules/PNOSUCH/overrides", expect=404, params=window)


async def test_oncalls_match_the_spec(checked: Checked, sim: Any) -> None:
    listed = await checked.call(
        "GET", "/oncalls", expect=200, relaxed=True, params={"limit": 100, "total": "true"}
    )
    rows = listed.json()["oncalls"]
    assert any(o["start"] is None for o in rows)
    assert any(o["start"] for o in rows)
    await checked.call(
        "GET",
        "/oncalls",
        expect=200,
        relaxed=True,
        params={
            "include[]": ["users", "schedules", "escalation_policies"],
            "earliest": "true",
            "since": "2026-01-07T00:00:00Z",
            "until": "2026-01-14T00:00:00Z",
            "time_zone": "Europe/Berlin",
        },
    )
    # On-calls through schedules carry no nulls and match the spec as published.
    schedule_id = next(o["schedule"]["id"] for o in rows if o["schedule"])
    await checked.call("GET", "/oncalls", expect=200, params={"schedule_ids[]": schedule_id})
    await checked.call(
        "GET",
        "/oncalls",
        expect=400,
        params={"since": "2026-01-01T00:00:00Z", "until": "2026-06-01T00:00:00Z"},
    )


async def test_v3_final_schedule_matches_the_spec(checked: Checked, sim: Any) -> None:
    v3 = next(i for i, s in sim.account.schedules.items() if s["type"] == "schedule_v3")
    got = await checked.call(
        "GET",
        f"/v3/schedules/{v3}",
        expect=200,
        params={
            "include[]": "final_schedule",
            "since": "2026-01-05T00:00:00Z",
            "until": "2026-01-12T00:00:00Z",
        },
    )
    final = got.json()["schedule"]["final_schedule"]
    assert final["type"] == "final_schedule"
    assert final["computed_shift_assignments"]
    assert final["rendered_coverage_percentage"] > 0
    # Without since and until there is no final schedule, as the spec says.
    bare = await checked.call(
        "GET", f"/v3/schedules/{v3}", expect=200, params={"include[]": "final_schedule"}
    )
    assert "final_schedule" not in bare.json()["schedule"]
