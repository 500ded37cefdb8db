"""``GET /schedules/{id}`` rendering: windows, time zones, DST, layer spans, overflow, bounds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

Entry = tuple[str, str, str]


async def make_schedule(
    client: httpx.AsyncClient, layers: list[dict[str, Any]], time_zone: str = "UTC"
) -> str:
    body = {
        "schedule": {
            "type": "schedule",
            "name": f"Render {datetime.now(UTC).timestamp()}",
            "time_zone": time_zone,
            "schedule_layers": layers,
        }
    }
    response = await client.post("/schedules", json=body)
    assert response.status_code == 201, response.text
    schedule_id: str = response.json()["schedule"]["id"]
    return schedule_id


def layer(users: list[str], turn: int, start: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": extra.pop("name", "Layer"),
        "start": start,
        "rotation_virtual_start": extra.pop("virtual", start),
        "rotation_turn_length_seconds": turn,
        "users": [{"user": {"id": u, "type": "user_reference"}} for u in users],
        **extra,
    }


def entries(sub: dict[str, Any]) -> list[Entry]:
    return [(e["user"]["id"], e["start"], e["end"]) for e in sub["rendered_schedule_entries"]]


async def render(client: httpx.AsyncClient, schedule_id: str, **params: str) -> dict[str, Any]:
    response = await client.get(f"/schedules/{schedule_id}", params=params)
    assert response.status_code == 200, response.text
    schedule: dict[str, Any] = response.json()["schedule"]
    return schedule


async def test_daily_handoff_stays_at_local_time_across_dst(
    sim: Any, sim_http: httpx.AsyncClient
) -> None:
    a, b = list(sim.account.users)[:2]
    schedule_id = await make_schedule(
        sim_http, [layer([a, b], 86400, "2026-03-01T09:00:00-05:00")], "America/New_York"
    )
    got = await render(
        sim_http, schedule_id, since="2026-03-07T14:00:00Z", until="2026-03-10T13:00:00Z"
    )
    # Clocks go forward on 8 March: the handoff stays at 09:00, so that turn lasts 23 hours.
    assert entries(got["final_schedule"]) == [
        (a, "2026-03-07T09:00:00-05:00", "2026-03-08T09:00:00-04:00"),
        (b, "2026-03-08T09:00:00-04:00", "2026-03-09T09:00:00-04:00"),
        (a, "2026-03-09T09:00:00-04:00", "2026-03-10T09:00:00-04:00"),
    ]
    # A time_zone only changes how times are written, not who is on call when.
    in_utc = await render(
        sim_http,
        schedule_id,
        since="2026-03-07T14:00:00Z",
        until="2026-03-10T13:00:00Z",
        time_zone="UTC",
    )
    assert [e[1] for e in entries(in_utc["final_schedule"])] == [
        "2026-03-07T14:00:00Z",
        "2026-03-08T13:00:00Z",
        "2026-03-09T13:00:00Z",
    ]
    bad = await sim_http.get(f"/schedules/{schedule_id}", params={"time_zone": "Mars/Olympus"})
    assert bad.status_code == 400


async def test_layer_start_end_gaps_and_coverage(sim: Any, sim_http: httpx.AsyncClient) -> None:
    a, b = list(sim.account.users)[:2]
    weekday_days = [
        {
            "type": "weekly_restriction",
            "start_time_of_day": "09:00:00",
            "duration_seconds": (4 * 24 + 8) * 3600,
            "start_day_of_week": 1,
        }
    ]
    schedule_id = await make_schedule(
        sim_http,
        [
            layer([a], 7 * 86400, "2026-01-05T00:00:00Z", restrictions=weekday_days),
            # The second layer starts on Wednesday noon and ends on Thursday noon.
            layer([b], 86400, "2026-01-07T12:00:00Z", end="2026-01-08T12:00:00Z"),
        ],
    )
    got = await render(
        sim_http, schedule_id, since="2026-01-05T00:00:00Z", until="2026-01-12T00:00:00Z"
    )
    top, bottom = got["schedule_layers"]
    # Its one turn runs from its start (also its virtual start) to its end.
    assert entries(top) == [(b, "2026-01-07T12:00:00Z", "2026-01-08T12:00:00Z")]
    assert entries(bottom) == [(a, "2026-01-05T09:00:00Z", "2026-01-09T17:00:00Z")]
    assert entries(got["final_schedule"]) == [
        (a, "2026-01-05T09:00:00Z", "2026-01-07T12:00:00Z"),
        (b, "2026-01-07T12:00:00Z", "2026-01-08T12:00:00Z"),
        (a, "2026-01-08T12:00:00Z", "2026-01-09T17:00:00Z"),
    ]
    # Monday 09:00 to Friday 17:00 of a 168-hour week; the weekend is a gap.
    assert bottom["rendered_coverage_percentage"] == round(100 * 104 / 168, 2)
    assert got["final_schedule"]["rendered_coverage_percentage"] == round(100 * 104 / 168, 2)


async def test_overflow_keeps_whole_entries(sim: Any, sim_http: httpx.AsyncClient) -> None:
    a, b = list(sim.account.users)[:2]
    schedule_id = await make_schedule(sim_http, [layer([a, b], 7 * 86400, "2026-01-05T00:00:00Z")])
    window = {"since": "2026-01-14T00:00:00Z", "until": "2026-01-15T00:00:00Z"}
    clipped = await render(sim_http, schedule_id, **window)
    whole = await render(sim_http, schedule_id, **window, overflow="true")
    assert entries(clipped["final_schedule"]) == [
        (b, "2026-01-14T00:00:00Z", "2026-01-15T00:00:00Z")
    ]
    assert entries(whole["final_schedule"]) == [(b, "2026-01-12T00:00:00Z", "2026-01-19T00:00:00Z")]
    assert entries(whole["schedule_layers"][0]) == entries(whole["final_schedule"])
    assert whole["final_schedule"]["rendered_coverage_percentage"] == 100.0


async def test_default_windows_follow_the_simulator_clock(
    sim: Any, sim_http: httpx.AsyncClient
) -> None:
    a = next(iter(sim.account.users))
    schedule_id = await make_schedule(sim_http, [layer([a], 86400, "2026-01-05T00:00:00Z")])
    sim.clock = lambda: datetime(2026, 6, 1, 12, tzinfo=UTC).timestamp()
    got = await render(sim_http, schedule_id)
    assert entries(got["final_schedule"]) == [(a, "2026-06-01T12:00:00Z", "2026-06-15T12:00:00Z")]
    until_only = await render(sim_http, schedule_id, until="2026-02-15T00:00:00Z")
    assert entries(until_only["final_schedule"])[0][1] == "2026-02-01T00:00:00Z"


@pytest.mark.timeout(30)
async def test_wide_windows_are_refused_at_once(sim: Any, sim_http: httpx.AsyncClient) -> None:
    """Issue 18: this window hung the simulator; now it is answered with PagerDuty's error shape."""
    schedule_id = next(i for i, s in sim.account.schedules.items() if s["type"] == "schedule")
    response = await sim_http.get(
        f"/schedules/{schedule_id}",
        params={"since": "1022-01-15T00:00:00Z", "until": "5057-12-13T00:00:00Z"},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 2001
    assert "366 days" in error["errors"][0]
    for params in (
        {"since": "2026-01-15T00:00:00Z", "until": "2027-01-16T00:00:01Z"},
        {"since": "9999-12-31T00:00:00Z"},
        {"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        {"since": "not a date"},
    ):
        bad = await sim_http.get(f"/schedules/{schedule_id}", params=params)
        assert bad.status_code == 400, params
        assert set(bad.json()["error"]) == {"message", "code", "errors"}


@pytest.mark.timeout(30)
async def test_the_longest_window_renders_and_too_many_pieces_are_refused(
    sim: Any, sim_http: httpx.AsyncClient
) -> None:
    a, b, c = list(sim.account.users)[:3]
    hourly = await make_schedule(sim_http, [layer([a, b, c], 3600, "2026-01-01T00:00:00Z")])
    year = {"since": "2026-01-01T00:00:00Z", "until": "2027-01-02T00:00:00Z"}
    got = await render(sim_http, hourly, **year)
    assert len(got["schedule_layers"][0]["rendered_schedule_entries"]) == 366 * 24
    # A one-minute rotation over a year would be half a million entries: refused, not rendered.
    minutely = await make_schedule(sim_http, [layer([a, b], 60, "2026-01-01T00:00:00Z")])
    refused = await sim_http.get(f"/schedules/{minutely}", params=year)
    assert refused.status_code == 400
    assert "too many" in refused.json()["error"]["errors"][0]
    # The same rotation over a day is fine.
    day = await render(
        sim_http, minutely, since="2026-01-01T00:00:00Z", until="2026-01-02T00:00:00Z"
    )
    assert len(day["final_schedule"]["rendered_schedule_entries"]) == 1440


async def test_far_past_and_future_windows_render(sim: Any, sim_http: httpx.AsyncClient) -> None:
    a, b = list(sim.account.users)[:2]
    # Stored dates are kept within 1970-2999 (validation.py); windows may reach far beyond.
    schedule_id = await make_schedule(
        sim_http, [layer([a, b], 86400, "1970-01-05T00:00:00Z")], "Europe/Berlin"
    )
    for since, until in (
        ("1022-01-15T00:00:00Z", "1022-01-17T00:00:00Z"),
        ("5057-12-11T00:00:00Z", "5057-12-13T00:00:00Z"),
    ):
        got = await render(sim_http, schedule_id, since=since, until=until)
        # Before the layer starts there is nobody; long after, the rotation still turns.
        expected = 0.0 if since.startswith("1022") else 100.0
        assert got["final_schedule"]["rendered_coverage_percentage"] == expected
