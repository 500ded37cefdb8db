"""Who is on call, read by the client: ``/oncalls`` over a window, split past the paging cap, and
one schedule's final schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pd_helpers import API_KEY, BASE, Sim, make_sim

from pdsearch.pagerduty import ApiKeyAuth, NotFoundError, PagerDutyClient, PagingLimitError
from pdsearch.pagerduty.oncalls import OnCall

Row = tuple[str, int, str | None, str, str | None, str | None]


def _client(sim: Sim, **options: Any) -> PagerDutyClient:
    return PagerDutyClient(
        ApiKeyAuth(API_KEY), base_url=BASE, transport=sim.transport, clock=sim.clock, **options
    )


def _now(sim: Sim) -> datetime:
    return datetime.fromtimestamp(sim.clock.time(), UTC)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _row(o: OnCall) -> Row:
    return (
        o.escalation_policy.id,
        o.escalation_level,
        o.schedule.id if o.schedule else None,
        o.user.id,
        _iso(o.start),
        _iso(o.end),
    )


async def _raw_rows(sim: Sim, since: datetime, until: datetime) -> list[Row]:
    """What the simulator lists, read page by page with plain httpx."""
    rows: list[Row] = []
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app),
        base_url=BASE,
        headers={"Authorization": f"Token token={API_KEY}"},
    ) as http:
        offset = 0
        while True:
            params = {"since": _iso(since), "until": _iso(until), "limit": 100, "offset": offset}
            body = (await http.get("/oncalls", params=params)).json()
            for o in body["oncalls"]:
                rows.append(
                    (
                        o["escalation_policy"]["id"],
                        o["escalation_level"],
                        o["schedule"]["id"] if o["schedule"] else None,
                        o["user"]["id"],
                        o["start"],
                        o["end"],
                    )
                )
            if not body["more"]:
                return rows
            offset += 100


async def test_oncalls_match_the_listing_with_users_included() -> None:
    sim = make_sim()
    since = _now(sim)
    until = since + timedelta(days=7)
    async with _client(sim) as client:
        found = await client.oncalls(since, until)
        made = client.requests_made
    expected = await _raw_rows(sim, since, until)
    assert len(expected) > 100  # more than one page, so paging is exercised
    assert sorted(map(_row, found), key=str) == sorted(expected, key=str)
    assert made == -(-len(expected) // 100)  # one request per page, nothing else
    users = sim.simulator.account.users
    for o in found:
        assert o.user.email == users[o.user.id]["email"]
        assert o.user.name == users[o.user.id]["name"]
        assert o.user.time_zone == users[o.user.id]["time_zone"]
    assert any(o.schedule is None and o.start is None for o in found)  # permanent on-calls


async def test_past_the_paging_cap_the_listing_is_split_by_policy() -> None:
    sim = make_sim()
    since = _now(sim)
    until = since + timedelta(days=7)
    expected = await _raw_rows(sim, since, until)
    cap = 150
    assert len(expected) > cap
    policies = sorted(sim.simulator.account.escalation_policies)
    async with _client(sim, offset_cap=cap) as client:
        with pytest.raises(PagingLimitError, match="10,000 paging limit"):
            await client.oncalls(since, until)
        sim.urls.clear()
        found = await client.oncalls(since, until, policy_ids=policies)
    assert sorted(map(_row, found), key=str) == sorted(expected, key=str)
    split = [u for u in sim.urls if "escalation_policy_ids" in u]
    assert split
    assert all("offset=" in u for u in split)


async def test_one_schedule_rendered_both_kinds() -> None:
    sim = make_sim()
    account = sim.simulator.account
    since = _now(sim)
    until = since + timedelta(days=3)
    v2_id = next(i for i, s in account.schedules.items() if s.get("type") != "schedule_v3")
    v3_id = next(i for i, s in account.schedules.items() if s.get("type") == "schedule_v3")
    async with _client(sim) as client:
        v2 = await client.schedule_shifts(v2_id, since, until)
        v3 = await client.schedule_shifts(v3_id, since, until)
        with pytest.raises(NotFoundError):
            await client.schedule_shifts("PNOSUCH", since, until)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app),
        base_url=BASE,
        headers={"Authorization": f"Token token={API_KEY}"},
    ) as http:
        window = {"since": _iso(since), "until": _iso(until), "overflow": "true"}
        body = (await http.get(f"/schedules/{v2_id}", params=window)).json()
        entries = body["schedule"]["final_schedule"]["rendered_schedule_entries"]
        body3 = (
            await http.get(
                f"/v3/schedules/{v3_id}", params={**window, "include[]": "final_schedule"}
            )
        ).json()
        shifts = body3["schedule"]["final_schedule"]["computed_shift_assignments"]
    assert v2
    assert [(s.user_id, _iso(s.start), _iso(s.end)) for s in v2] == [
        (e["user"]["id"], _iso(_at(e["start"])), _iso(_at(e["end"]))) for e in entries
    ]
    assert all(s.user_name == account.users[s.user_id]["name"] for s in v2)
    # Whole shifts: the first may start before the window, the last end after it.
    assert v2[0].start <= since
    assert v2[-1].end >= until
    assert [(s.user_id, _iso(s.start)) for s in v3] == [
        (e["member"]["user_id"], _iso(_at(e["start_time"])))
        for e in shifts
        if e["member"].get("user_id")
    ]
