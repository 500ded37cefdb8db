"""v3 ``include[]=final_schedule``: events expanded into computed shift assignments."""

from __future__ import annotations

from typing import Any

import httpx

from pdsearch.simulator.timeline import at_wall, instant, iso, zone


def _event(
    members: list[str],
    recurrence: str,
    start: str,
    end: str,
    *,
    every: bool = False,
    per_member: int = 1,
    until: str | None = None,
) -> dict[str, Any]:
    strategy: dict[str, Any] = {
        "type": "every_member_assignment_strategy"
        if every
        else "rotating_member_assignment_strategy",
        "members": [{"type": "user_member", "user_id": m} for m in members],
    }
    if not every:
        strategy["shifts_per_member"] = per_member
    return {
        "name": "Shift",
        "start_time": {"date_time": start, "time_zone": "America/New_York"},
        "end_time": {"date_time": end, "time_zone": "America/New_York"},
        "effective_since": "2026-01-01T00:00:00Z",
        "effective_until": until,
        "recurrence": [recurrence],
        "assignment_strategy": strategy,
    }


def _v3(sim: Any, events: list[dict[str, Any]]) -> str:
    created = sim.account.create(
        "schedules_v3",
        {
            "name": "Shifts",
            "time_zone": "America/New_York",
            "rotations": [{"events": events}],
        },
    )
    schedule_id: str = created["id"]
    return schedule_id


async def _final(client: httpx.AsyncClient, schedule_id: str, since: str, until: str) -> Any:
    response = await client.get(
        f"/v3/schedules/{schedule_id}",
        params={"include[]": "final_schedule", "since": since, "until": until, "time_zone": "UTC"},
    )
    assert response.status_code == 200, response.text
    return response.json()["schedule"]["final_schedule"]


def _rows(final: Any) -> list[tuple[str, str, str]]:
    return [
        (a["member"]["user_id"], a["start_time"], a["end_time"])
        for a in final["computed_shift_assignments"]
    ]


async def test_weekday_shifts_rotate_and_keep_local_time(
    sim: Any, sim_http: httpx.AsyncClient
) -> None:
    a, b = list(sim.account.users)[:2]
    schedule_id = _v3(
        sim,
        [
            _event(
                [a, b],
                "RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
                "2026-03-02T09:00:00-05:00",
                "2026-03-02T17:00:00-05:00",
                per_member=5,
            )
        ],
    )
    final = await _final(sim_http, schedule_id, "2026-03-06T00:00:00Z", "2026-03-11T00:00:00Z")
    # Five shifts each: a's week, then b's; 09:00 New York is 14:00Z, then 13:00Z after 8 March.
    assert _rows(final) == [
        (a, "2026-03-06T14:00:00Z", "2026-03-06T22:00:00Z"),
        (b, "2026-03-09T13:00:00Z", "2026-03-09T21:00:00Z"),
        (b, "2026-03-10T13:00:00Z", "2026-03-10T21:00:00Z"),
    ]
    assert final["rendered_coverage_percentage"] == round(100 * 24 / 120, 2)


async def test_every_member_overlaps_and_unsupported_rules(
    sim: Any, sim_http: httpx.AsyncClient
) -> None:
    a, b = list(sim.account.users)[:2]
    together = _v3(
        sim,
        [
            _event(
                [a, b],
                "RRULE:FREQ=DAILY;COUNT=2",
                "2026-01-05T00:00:00-05:00",
                "2026-01-05T06:00:00-05:00",
                every=True,
            )
        ],
    )
    final = await _final(sim_http, together, "2026-01-05T00:00:00Z", "2026-01-08T00:00:00Z")
    assert _rows(final) == [
        (a, "2026-01-05T05:00:00Z", "2026-01-05T11:00:00Z"),
        (b, "2026-01-05T05:00:00Z", "2026-01-05T11:00:00Z"),
        (a, "2026-01-06T05:00:00Z", "2026-01-06T11:00:00Z"),
        (b, "2026-01-06T05:00:00Z", "2026-01-06T11:00:00Z"),
    ]
    monthly = _v3(
        sim,
        [
            _event(
                [a], "RRULE:FREQ=MONTHLY", "2026-01-05T00:00:00-05:00", "2026-01-06T00:00:00-05:00"
            )
        ],
    )
    refused = await sim_http.get(
        f"/v3/schedules/{monthly}",
        params={"include[]": "final_schedule", "since": "2026-01-05T00:00:00Z"},
    )
    assert refused.status_code == 400
    assert "FREQ=MONTHLY" in refused.json()["error"]["errors"]["final_schedule"][0]


def test_wall_clock_times_in_gaps_and_folds() -> None:
    new_york = zone("America/New_York")
    # 02:30 on 8 March 2026 does not exist: the clocks jump from 02:00 EST to 03:00 EDT.
    assert iso(at_wall(instant("2026-03-08T02:30:00"), new_york), new_york) == (
        "2026-03-08T03:00:00-04:00"
    )
    # 01:30 on 1 November 2026 happens twice: the first is meant.
    assert iso(at_wall(instant("2026-11-01T01:30:00"), new_york), new_york) == (
        "2026-11-01T01:30:00-04:00"
    )
    assert iso(at_wall(instant("2026-07-01T12:00:00"), new_york), new_york) == (
        "2026-07-01T12:00:00-04:00"
    )
