"""The simulator's schedule rendering against an independent oracle (``schedule_oracle.py``).

200 seeded schedules over 14 days: 160 drawn here (one to four layers, odd turn lengths, daily
and weekly restrictions, layers starting and ending inside the window, overlapping overrides, six
time zones with most windows crossing a DST change, Lord Howe's half-hour one included) and 40
from a generated account, with the overrides the generator gives it. Each is read through
``GET /schedules/{id}`` and compared entry by entry, layer by layer, with what the oracle finds
minute by minute.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from schedule_oracle import (
    Expected,
    OracleLayer,
    OracleOverride,
    expect,
    seconds,
    utc,
)

from pdsearch.simulator.account import Account
from pdsearch.simulator.app import create_app
from pdsearch.simulator.config import SimulatorConfig

pytestmark = pytest.mark.slow

SEED = 20_261_104
WINDOW = 14 * 86400
# DST changes of 2026 for the zones that have them.
DST_DAYS: dict[str, list[str]] = {
    "America/New_York": ["2026-03-08", "2026-11-01"],
    "Europe/Berlin": ["2026-03-29", "2026-10-25"],
    "Australia/Sydney": ["2026-04-05", "2026-10-04"],
    "Australia/Lord_Howe": ["2026-04-05", "2026-10-04"],
    "America/St_Johns": ["2026-03-08", "2026-11-01"],
    "UTC": [],
    "Asia/Kolkata": [],
}
TURNS = (
    3600,
    5400,
    4 * 3600,
    7 * 3600 + 20 * 60,
    8 * 3600,
    12 * 3600,
    86400,
    36 * 3600,
    2 * 86400,
    3 * 86400,
    7 * 86400,
    14 * 86400,
)


def _local(t: int, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(t, zone).isoformat()


def _window(rng: random.Random, zone_name: str) -> int:
    """A window start (on a quarter hour) that crosses a DST change most of the time."""
    days = DST_DAYS[zone_name]
    if days and rng.random() < 0.7:
        change = datetime.fromisoformat(rng.choice(days)).replace(tzinfo=UTC)
        start = change - timedelta(days=rng.randint(1, 12), minutes=15 * rng.randint(0, 95))
    else:
        start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=15 * rng.randint(0, 34_000))
    return int(start.timestamp())


def _restrictions(rng: random.Random) -> list[dict[str, Any]]:
    kind = rng.random()
    out: list[dict[str, Any]] = []
    if kind < 0.45:
        return out
    for _ in range(rng.choice((1, 1, 2))):
        minute = rng.randrange(0, 24 * 60)
        tod = f"{minute // 60:02d}:{minute % 60:02d}:00"
        if kind < 0.75:
            duration = rng.choice((30, 8 * 60, 9 * 60, 12 * 60, 14 * 60, 23 * 60 + 59, 24 * 60))
            out.append(
                {
                    "type": "daily_restriction",
                    "start_time_of_day": tod,
                    "duration_seconds": duration * 60,
                }
            )
        else:
            duration = rng.randrange(60, 6 * 24 * 60 + 12 * 60) // 15 * 15
            out.append(
                {
                    "type": "weekly_restriction",
                    "start_time_of_day": tod,
                    "duration_seconds": duration * 60,
                    "start_day_of_week": rng.randint(1, 7),
                }
            )
    return out


def _layer(
    rng: random.Random, n: int, users: list[str], zone: ZoneInfo, since: int
) -> dict[str, Any]:
    virtual = since - rng.randrange(-3 * 1440, 60 * 1440) * 60
    r = rng.random()
    start = (
        virtual
        if r < 0.5
        else since + rng.randrange(0, WINDOW // 60) * 60
        if r < 0.8
        else since - rng.randrange(0, 30 * 1440) * 60
    )
    end = None
    r = rng.random()
    if r < 0.25:
        end = max(start, since) + rng.randrange(60, WINDOW // 60) * 60
    elif r < 0.4:
        end = since + WINDOW + rng.randrange(0, 5 * 1440) * 60
    size = rng.randint(1, 5)
    members = (
        [rng.choice(users) for _ in range(size)] if rng.random() < 0.1 else rng.sample(users, size)
    )
    body: dict[str, Any] = {
        "name": f"L{n}",
        "start": _local(start, zone),
        "rotation_virtual_start": _local(virtual, zone),
        "rotation_turn_length_seconds": rng.choice(TURNS),
        "users": [{"user": {"id": u, "type": "user_reference"}} for u in members],
        "restrictions": _restrictions(rng),
    }
    if end is not None:
        body["end"] = _local(end, zone)
    return body


def _overrides(rng: random.Random, users: list[str], since: int) -> list[dict[str, Any]]:
    out = []
    for _ in range(rng.choices((0, 1, 2, 3, 4), weights=(3, 3, 2, 1, 1))[0]):
        start = since + rng.randrange(-2 * 1440, 15 * 1440) * 60
        end = start + rng.randrange(30, 3 * 1440) * 60
        out.append(
            {
                "start": utc(start),
                "end": utc(end),
                "user": {"id": rng.choice(users), "type": "user_reference"},
            }
        )
    return out


def _crosses_dst(zone_name: str, since: int) -> bool:
    zone = ZoneInfo(zone_name)
    return (
        datetime.fromtimestamp(since, zone).utcoffset()
        != datetime.fromtimestamp(since + WINDOW, zone).utcoffset()
    )


def _entries(sub: dict[str, Any]) -> list[tuple[int, int, str]]:
    return [
        (seconds(e["start"]), seconds(e["end"]), e["user"]["id"])
        for e in sub["rendered_schedule_entries"]
    ]


def _compare(schedule: dict[str, Any], expected: Expected, label: str) -> None:
    # PagerDuty reads layers back highest (last written) first.
    shown = list(reversed(schedule["schedule_layers"]))
    assert len(shown) == len(expected.layers), label
    for n, layer in enumerate(shown):
        assert _entries(layer) == expected.layers[n], f"{label}: layer {n} ({layer['name']})"
        assert layer["rendered_coverage_percentage"] == expected.layer_coverage[n], label
    assert _entries(schedule["overrides_subschedule"]) == expected.overrides, f"{label}: overrides"
    assert _entries(schedule["final_schedule"]) == expected.final, f"{label}: final"
    for sub in ("final_schedule", "overrides_subschedule"):
        name = schedule[sub]["name"]
        assert schedule[sub]["rendered_coverage_percentage"] == expected.coverage[name], label


async def test_rendering_agrees_with_the_oracle(sim: Any, sim_http: httpx.AsyncClient) -> None:
    rng = random.Random(SEED)
    users = sorted(sim.account.users)
    crossing = restricted = layered = overridden = 0
    for n in range(160):
        zone_name = rng.choice(sorted(DST_DAYS))
        zone = ZoneInfo(zone_name)
        since = _window(rng, zone_name)
        layers = [_layer(rng, i, users, zone, since) for i in range(rng.choice((1, 2, 2, 3, 4)))]
        body = {
            "schedule": {
                "type": "schedule",
                "name": f"Oracle {n}",
                "time_zone": zone_name,
                "schedule_layers": layers,
            }
        }
        created = await sim_http.post("/schedules", json=body)
        assert created.status_code == 201, created.text
        schedule_id = created.json()["schedule"]["id"]
        overrides = _overrides(rng, users, since)
        if overrides:
            posted = await sim_http.post(
                f"/schedules/{schedule_id}/overrides", json={"overrides": overrides}
            )
            assert [r["status"] for r in posted.json()] == [201] * len(overrides), posted.text
        got = await sim_http.get(
            f"/schedules/{schedule_id}", params={"since": utc(since), "until": utc(since + WINDOW)}
        )
        assert got.status_code == 200, got.text
        expected = expect(
            zone_name,
            [OracleLayer.from_body(layer, zone) for layer in layers],
            [
                OracleOverride(seconds(o["start"]), seconds(o["end"]), o["user"]["id"])
                for o in overrides
            ],
            since,
            since + WINDOW,
        )
        _compare(got.json()["schedule"], expected, f"schedule {n} ({zone_name}, {utc(since)})")
        crossing += _crosses_dst(zone_name, since)
        restricted += any(layer["restrictions"] for layer in layers)
        layered += len(layers) > 1
        overridden += bool(expected.overrides)
    # The draw covers what it claims to.
    assert crossing >= 60
    assert restricted >= 60
    assert layered >= 80
    assert overridden >= 50


async def test_generated_schedules_agree_with_the_oracle() -> None:
    config = SimulatorConfig.for_scale("medium", api_key="k", rate_limit=0)
    account = Account.generate(5, config.teams, config.users, 120, 10)
    sim = create_app(account, config).state.simulator
    rng = random.Random(SEED + 1)
    layered_ids = sorted(i for i, s in account.schedules.items() if s.get("type") == "schedule")
    with_overrides = [i for i in layered_ids if account.overrides.of(i)]
    chosen = sorted(set(with_overrides[:25]) | set(rng.sample(layered_ids, 40)))[:40]
    assert len(chosen) == 40
    seen_overrides = 0
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app),
        base_url="http://sim.test",
        headers={"Authorization": "Token token=k"},
    ) as client:
        for schedule_id in chosen:
            stored = account.schedules[schedule_id]
            zone_name = stored["time_zone"]
            zone = ZoneInfo(zone_name)
            found = account.overrides.of(schedule_id)
            if found and rng.random() < 0.8:  # a window around one of its overrides
                since = (found[rng.randrange(len(found))].start - 3 * 86400) // 900 * 900
            else:
                since = _window(rng, zone_name if zone_name in DST_DAYS else "UTC")
            got = await client.get(
                f"/schedules/{schedule_id}",
                params={"since": utc(since), "until": utc(since + WINDOW)},
            )
            assert got.status_code == 200, got.text
            expected = expect(
                zone_name,
                [OracleLayer.from_body(layer, zone) for layer in stored["schedule_layers"]],
                [OracleOverride(o.start, o.end, o.user_id) for o in found],
                since,
                since + WINDOW,
            )
            _compare(got.json()["schedule"], expected, f"generated {schedule_id} ({zone_name})")
            seen_overrides += bool(expected.overrides)
    assert seen_overrides >= 15
