"""How long the simulator takes to render schedules and answer ``/oncalls``.

    python -m benchmarks.schedule_render [--scale large] [--seed 1]

In process, through the simulator's ASGI app (no network, so what is timed is the simulator and
the client's own handling of each answer). Times are CPU seconds of this process (wall seconds too
for the listings): the 2-core machines are shared, and CPU time does not count the neighbours.

1. growth with the window (issue 18): one schedule with 8-hour turns and a daily restriction,
   over windows of 1 to 12 months, and the window that used to hang (``1022`` to ``5057``);
2. every layer-based schedule of the account over 14 days (``GET /schedules/{id}``);
3. a full ``/oncalls`` listing (100 per page), cold and again warm.

Prints one JSON object; docs/SIMULATOR.md keeps the figures of a full run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from typing import Any

import httpx

from pdsearch.simulator.account import Account
from pdsearch.simulator.app import create_app
from pdsearch.simulator.config import SCALES, SimulatorConfig

DAY = 86400


async def _growth(client: httpx.AsyncClient, users: list[str]) -> dict[str, Any]:
    body = {
        "schedule": {
            "type": "schedule",
            "name": "Benchmark eight-hour turns",
            "time_zone": "America/New_York",
            "schedule_layers": [
                {
                    "start": "2025-01-06T08:00:00-05:00",
                    "rotation_virtual_start": "2025-01-06T08:00:00-05:00",
                    "rotation_turn_length_seconds": 8 * 3600,
                    "users": [{"user": {"id": u, "type": "user_reference"}} for u in users[:5]],
                    "restrictions": [
                        {
                            "type": "daily_restriction",
                            "start_time_of_day": "07:00:00",
                            "duration_seconds": 14 * 3600,
                        }
                    ],
                },
                {
                    "start": "2025-01-06T00:00:00Z",
                    "rotation_virtual_start": "2025-01-06T00:00:00Z",
                    "rotation_turn_length_seconds": 7 * DAY,
                    "users": [{"user": {"id": u, "type": "user_reference"}} for u in users[5:8]],
                },
            ],
        }
    }
    created = await client.post("/schedules", json=body)
    schedule_id = created.json()["schedule"]["id"]
    out: dict[str, Any] = {}
    for months in (1, 2, 4, 8, 12):
        params = {
            "since": "2026-01-01T00:00:00Z",
            "until": f"{2026 + months // 12}-{months % 12 + 1:02d}-01T00:00:00Z",
        }
        best = min([await _timed(client, f"/schedules/{schedule_id}", params) for _ in range(3)])
        out[f"{months}_months_ms"] = round(best * 1000, 1)
    wide = {"since": "1022-01-15T00:00:00Z", "until": "5057-12-13T00:00:00Z"}
    out["issue_18_window_ms"] = round(
        await _timed(client, f"/schedules/{schedule_id}", wide, 400) * 1000, 2
    )
    return out


async def _timed(
    client: httpx.AsyncClient, path: str, params: dict[str, str], expect: int = 200
) -> float:
    """CPU seconds of one request (client and simulator share this process): the machines this
    runs on are shared, and wall time under load says more about the neighbours."""
    started = time.process_time()
    response = await client.get(path, params=params)
    elapsed = time.process_time() - started
    if response.status_code != expect:
        raise SystemExit(f"{path} answered {response.status_code}: {response.text[:200]}")
    return elapsed


async def _fortnight(client: httpx.AsyncClient, schedule_ids: list[str]) -> dict[str, Any]:
    params = {"since": "2026-03-02T00:00:00Z", "until": "2026-03-16T00:00:00Z"}
    times = [await _timed(client, f"/schedules/{i}", params) for i in schedule_ids]
    times.sort()
    return {
        "schedules": len(times),
        "total_s": round(sum(times), 2),
        "median_ms": round(statistics.median(times) * 1000, 2),
        "p99_ms": round(times[int(len(times) * 0.99) - 1] * 1000, 2),
        "max_ms": round(times[-1] * 1000, 2),
    }


async def _oncalls(client: httpx.AsyncClient, policy_ids: list[str]) -> dict[str, Any]:
    """A week of on-calls for every policy, asked 50 policies at a time: a whole large account
    holds more than PagerDuty's 10,000-offset cap allows one listing to page through."""
    out: dict[str, Any] = {}
    window = {"since": "2026-03-02T00:00:00Z", "until": "2026-03-09T00:00:00Z", "limit": "100"}
    for label in ("cold", "warm"):
        started, cpu = time.perf_counter(), time.process_time()
        rows = pages = 0
        for n in range(0, len(policy_ids), 50):
            offset = 0
            while True:
                params = {**window, "offset": str(offset)}
                response = await client.get(
                    "/oncalls",
                    params=[
                        *params.items(),
                        *(("escalation_policy_ids[]", p) for p in policy_ids[n : n + 50]),
                    ],
                )
                body = response.json()
                if response.status_code != 200:
                    raise SystemExit(f"/oncalls answered {response.status_code}: {body}")
                rows += len(body["oncalls"])
                pages += 1
                offset += 100
                if not body["more"]:
                    break
        out[f"{label}_s"] = round(time.perf_counter() - started, 2)
        out[f"{label}_cpu_s"] = round(time.process_time() - cpu, 2)
        out["entries"], out["requests"] = rows, pages
    return out


async def run(scale: str, seed: int) -> dict[str, Any]:
    config = SimulatorConfig.for_scale(scale, api_key="bench", rate_limit=0, seed=seed)
    started = time.perf_counter()
    account = Account.generate(seed, config.teams, config.users, config.schedules, config.policies)
    generated = time.perf_counter() - started
    app = create_app(account, config)
    layered = sorted(i for i, s in account.schedules.items() if s["type"] == "schedule")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://sim.bench",
        headers={"Authorization": "Token token=bench"},
        timeout=600,
    ) as client:
        result = {
            "benchmark": "schedule_render",
            "scale": scale,
            "seed": seed,
            "generate_s": round(generated, 2),
            "overrides": len(account.overrides),
            "load_average": os.getloadavg()[0],
            "window_growth": await _growth(client, sorted(account.users)),
            "fortnight": await _fortnight(client, layered),
            "oncalls_week": await _oncalls(client, account.list_ids("escalation_policies")),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="large", choices=sorted(SCALES))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.scale, args.seed)), indent=1))


if __name__ == "__main__":
    main()
