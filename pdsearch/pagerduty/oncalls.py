"""Who is on call: ``GET /oncalls`` over a window, and one schedule's final schedule.

Two ways to learn who is on call, with different costs (measured in docs/BENCHMARKS.md):

- ``GET /oncalls`` answers for every escalation policy at once: one row per policy, level and
  on-call stretch (whole shifts, not cut at the window), 100 rows a request. Users targeted
  directly by a policy are on call permanently (``schedule``, ``start`` and ``end`` null). A
  schedule that no policy uses never appears in it.
- ``GET /schedules/{id}`` with ``since``/``until`` (``GET /v3/schedules/{id}`` with
  ``include[]=final_schedule`` for shift-based schedules) renders one schedule: one request per
  schedule, for the schedules ``/oncalls`` cannot answer.

PagerDuty refuses ``offset + limit > 10,000``. A listing whose ``total`` is larger is read again
in pieces filtered by ``escalation_policy_ids[]`` when the caller names the policies (each piece
halved until it fits); without them the reader raises ``PagingLimitError`` rather than truncate.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from urllib.parse import quote

from pydantic import BaseModel

from pdsearch.pagerduty.errors import InvalidResponseError, PagingLimitError
from pdsearch.pagerduty.models import PDModel, Reference
from pdsearch.pagerduty.session import Session

PAGE: Final = 100
OFFSET_CAP: Final = 10_000
#: How many policy ids one filtered piece names at first (the URL stays a few kB).
POLICY_CHUNK: Final = 100


class OnCallUser(PDModel):
    """A user as ``/oncalls`` shows it: a reference, or the whole user with ``include[]=users``."""

    id: str
    summary: str | None = None
    name: str | None = None
    email: str | None = None
    time_zone: str | None = None

    @property
    def display_name(self) -> str:
        return self.name or self.summary or self.id


class OnCall(PDModel):
    """One user on one level of one policy for one stretch (``start``/``end`` None: always)."""

    escalation_policy: Reference
    escalation_level: int
    schedule: Reference | None = None
    user: OnCallUser
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True)
class Shift:
    """One user on one schedule from ``start`` to ``end`` (a rendered final-schedule entry)."""

    user_id: str
    user_name: str
    start: datetime
    end: datetime


def _parse(model: type[BaseModel], raw: Any, path: str) -> Any:
    try:
        return model.model_validate(raw)
    except ValueError:
        raise InvalidResponseError(
            f"PagerDuty's answer to GET {path} holds an entry that is not shaped like "
            "PagerDuty's. pdsearch may need an update for a change in PagerDuty's API.",
            method="GET",
            path=path,
        ) from None


async def list_oncalls(
    session: Session,
    since: datetime,
    until: datetime,
    *,
    policy_ids: Sequence[str] | None = None,
    only: bool = False,
    include_users: bool = True,
    cap: int = OFFSET_CAP,
) -> list[OnCall]:
    """Every on-call meeting ``[since, until]`` (at most 90 days apart, PagerDuty's bound); with
    ``only``, those of ``policy_ids`` alone (read in pieces of ``POLICY_CHUNK`` policies)."""
    base: dict[str, Any] = {"since": since.isoformat(), "until": until.isoformat()}
    if include_users:
        base["include[]"] = ["users"]
    if only:
        return await _pieces(session, base, list(policy_ids or ()), cap)
    total, first = await _page(session, base, 0)
    if total <= cap:
        return first + await _rest(session, base, total)
    if not policy_ids:
        raise PagingLimitError(
            f"PagerDuty lists {total} on-calls for this window, more than its 10,000 paging "
            "limit, and no escalation policies were given to split the listing by. Shorten the "
            "window.",
            method="GET",
            path="/oncalls",
        )
    return await _pieces(session, base, list(policy_ids), cap)


async def _pieces(
    session: Session, base: dict[str, Any], policy_ids: list[str], cap: int
) -> list[OnCall]:
    """The on-calls of ``policy_ids``, filtered by ``escalation_policy_ids[]`` a chunk at a
    time; a chunk past the cap is halved."""
    found: list[OnCall] = []
    step = POLICY_CHUNK
    pieces = [policy_ids[i : i + step] for i in range(0, len(policy_ids), step)]
    while pieces:
        piece = pieces.pop()
        params = {**base, "escalation_policy_ids[]": piece}
        count, rows = await _page(session, params, 0)
        if count > cap:
            if len(piece) == 1:
                raise PagingLimitError(
                    f"Escalation policy {piece[0]} alone has {count} on-calls in this window, "
                    "more than PagerDuty's 10,000 paging limit. Shorten the window.",
                    method="GET",
                    path="/oncalls",
                )
            half = len(piece) // 2
            pieces += [piece[:half], piece[half:]]
            continue
        found += rows + await _rest(session, params, count)
    return found


async def _page(session: Session, params: dict[str, Any], offset: int) -> tuple[int, list[OnCall]]:
    _, body = await session.request(
        "GET", "/oncalls", {**params, "limit": PAGE, "offset": offset, "total": "true"}
    )
    rows = body.get("oncalls") if isinstance(body, dict) else None
    if not isinstance(rows, list):
        raise InvalidResponseError(
            "PagerDuty's answer to GET /oncalls has no list of on-calls.",
            method="GET",
            path="/oncalls",
        )
    total = body.get("total")
    if not isinstance(total, int):
        total = offset + len(rows) + (PAGE if body.get("more") else 0)
    return total, [_parse(OnCall, raw, "/oncalls") for raw in rows]


async def _rest(session: Session, params: dict[str, Any], total: int) -> list[OnCall]:
    """The pages after the first, side by side (the session bounds what is in flight)."""
    pages = await asyncio.gather(
        *(_page(session, params, offset) for offset in range(PAGE, total, PAGE))
    )
    return [row for _, rows in pages for row in rows]


async def schedule_shifts(
    session: Session, schedule_id: str, since: datetime, until: datetime, *, v3: bool = False
) -> list[Shift]:
    """Who the schedule puts on call over ``[since, until]``, whole shifts (``overflow``)."""
    quoted = quote(schedule_id, safe="")
    window = {"since": since.isoformat(), "until": until.isoformat(), "overflow": "true"}
    if v3:
        path = f"/v3/schedules/{quoted}"
        _, body = await session.request("GET", path, {**window, "include[]": ["final_schedule"]})
        final = _dig(body, path, "schedule", "final_schedule")
        items = final.get("computed_shift_assignments", [])
        shifts = [_v3_shift(item, path) for item in items if isinstance(item, dict)]
        return [s for s in shifts if s.user_id]  # an empty member slot puts nobody on call
    path = f"/schedules/{quoted}"
    _, body = await session.request("GET", path, window)
    final = _dig(body, path, "schedule", "final_schedule")
    entries = final.get("rendered_schedule_entries", [])
    return [_v2_shift(item, path) for item in entries if isinstance(item, dict)]


def _dig(body: Any, path: str, *keys: str) -> dict[str, Any]:
    for key in keys:
        body = body.get(key) if isinstance(body, dict) else None
    if not isinstance(body, dict):
        raise InvalidResponseError(
            f"PagerDuty's answer to GET {path} has no {'.'.join(keys)}.", method="GET", path=path
        )
    return body


class _V2Entry(PDModel):
    user: OnCallUser
    start: datetime
    end: datetime


def _v2_shift(raw: dict[str, Any], path: str) -> Shift:
    entry: _V2Entry = _parse(_V2Entry, raw, path)
    return Shift(entry.user.id, entry.user.display_name, entry.start, entry.end)


class _Member(PDModel):
    user_id: str | None = None


class _V3Entry(PDModel):
    start_time: datetime
    end_time: datetime
    member: _Member


def _v3_shift(raw: dict[str, Any], path: str) -> Shift:
    entry: _V3Entry = _parse(_V3Entry, raw, path)
    user_id = entry.member.user_id or ""
    return Shift(user_id, user_id, entry.start_time, entry.end_time)
