"""The shift-based (v3) schedule writes and their parts: schedules, rotations, events.

``POST /v3/schedules`` (name, time_zone, description, teams), ``PUT``/``DELETE
/v3/schedules/{id}``; rotations (``POST`` creates an empty one, ``GET``, ``DELETE``) and their
events (``POST``, ``GET``, ``PUT``, ``DELETE``) as the spec describes them. A change to a
rotation or an event is an update of its schedule, validated whole and audited once (root
``schedule_v3_reference``, ``fields`` ``rotations``, ``references`` ``users`` added/removed).

An event's state limits its update as PagerDuty's does: a future event may change anything, an
active one (started, not ended) only ``effective_until``, a past one nothing (400). The 400s
here, as on every ``/v3/schedules`` path, carry ``errors`` as a field map (``V3ErrorResponse``).
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from pdsearch.simulator.api import ApiError, Call, Reply
from pdsearch.simulator.errors import NotFound
from pdsearch.simulator.paging import offset_page, parse_offset
from pdsearch.simulator.rendering import parse_time
from pdsearch.simulator.writes import actor, envelope

JSON = dict[str, Any]
_SCHEDULE_FIELDS = ("name", "time_zone", "description", "teams")  # CreateScheduleRequest


def bad_request(field: str, message: str) -> ApiError:
    return ApiError(400, 2001, "Invalid request", {field: [message]})


async def create_schedule(call: Call) -> Reply:
    obj = await envelope(call, "schedule")
    body = {k: obj[k] for k in _SCHEDULE_FIELDS if k in obj}
    created = call.sim.account.create("schedules_v3", body, actor=actor(call))
    return Reply(201, {"schedule": created})


async def update_schedule(call: Call) -> Reply:
    account = call.sim.account
    schedule_id = call.params["id"]
    account.get("schedules_v3", schedule_id)  # 404 before validating the body
    obj = await envelope(call, "schedule")
    body = {k: obj[k] for k in _SCHEDULE_FIELDS if k in obj and k != "teams"}
    updated = account.update("schedules_v3", schedule_id, body, actor=actor(call))
    return Reply(200, {"schedule": updated})


async def delete_schedule(call: Call) -> Reply:
    call.sim.account.delete("schedules_v3", call.params["id"], actor=actor(call))
    return Reply(204)


# --- rotations -------------------------------------------------------------------------------


def _rotations(call: Call) -> list[JSON]:
    """The schedule's rotations as stored (a deep copy, to edit and write back)."""
    schedule = call.sim.account.get("schedules_v3", call.params["id"])
    return copy.deepcopy(schedule.get("rotations") or [])


def _find(items: list[JSON], item_id: str, kind: str) -> JSON:
    for item in items:
        if item["id"] == item_id:
            return item
    raise NotFound(kind, item_id)


def _rendered_rotation(call: Call, rotation_id: str) -> JSON:
    rendered = call.sim.account.render_schedule_v3(call.params["id"])
    return _find(rendered["rotations"], rotation_id, "rotation")


def _save(call: Call, rotations: list[JSON]) -> None:
    call.sim.account.update(
        "schedules_v3", call.params["id"], {"rotations": rotations}, actor=actor(call)
    )


async def list_rotations(call: Call) -> Reply:
    call.sim.account.get("schedules_v3", call.params["id"])
    rotations = call.sim.account.render_schedule_v3(call.params["id"])["rotations"]
    page, meta = offset_page(rotations, parse_offset(call.query, max_limit=100, cap=None))
    del meta["total"]  # the v3 lists have no total
    return Reply(200, {"rotations": list(page), **meta})


async def create_rotation(call: Call) -> Reply:
    if (await call.raw_body()).strip() and await call.json_body():
        raise bad_request("rotation", "The request body must be empty or {}.")
    rotations = _rotations(call)
    before = {r["id"] for r in rotations}
    rotations.append({"type": "schedule_rotation", "events": []})
    _save(call, rotations)
    stored = call.sim.account.get("schedules_v3", call.params["id"])["rotations"]
    new_id = next(r["id"] for r in stored if r["id"] not in before)
    return Reply(201, {"rotation": _rendered_rotation(call, new_id)})


async def get_rotation(call: Call) -> Reply:
    return Reply(200, {"rotation": _rendered_rotation(call, call.params["rotation_id"])})


async def delete_rotation(call: Call) -> Reply:
    rotations = _rotations(call)
    _find(rotations, call.params["rotation_id"], "rotation")
    _save(call, [r for r in rotations if r["id"] != call.params["rotation_id"]])
    return Reply(204)


# --- events ----------------------------------------------------------------------------------


async def list_events(call: Call) -> Reply:
    events = _rendered_rotation(call, call.params["rotation_id"])["events"]
    page, meta = offset_page(events, parse_offset(call.query, max_limit=100, cap=None))
    del meta["total"]
    return Reply(200, {"events": list(page), **meta})


async def create_event(call: Call) -> Reply:
    event = await envelope(call, "event")
    rotations = _rotations(call)
    rotation = _find(rotations, call.params["rotation_id"], "rotation")
    before = {e["id"] for e in rotation["events"]}
    rotation["events"].append({k: v for k, v in event.items() if k not in ("id", "type")})
    _save(call, rotations)
    return Reply(201, {"event": _stored_event(call, before)})


def _stored_event(call: Call, before: set[str]) -> JSON:
    events = _rendered_rotation(call, call.params["rotation_id"])["events"]
    return next(e for e in events if e["id"] not in before)


async def get_event(call: Call) -> Reply:
    events = _rendered_rotation(call, call.params["rotation_id"])["events"]
    return Reply(200, {"event": _find(events, call.params["event_id"], "event")})


async def update_event(call: Call) -> Reply:
    change = await envelope(call, "event")
    rotations = _rotations(call)
    rotation = _find(rotations, call.params["rotation_id"], "rotation")
    event = _find(rotation["events"], call.params["event_id"], "event")
    state = _event_state(event, call.sim.now())
    fields = {k for k in change if k not in ("id", "type")}
    if state == "past":
        raise bad_request("event", "A past event can't be changed.")
    if state == "active" and fields - {"effective_until"}:
        raise bad_request(
            "event", "An event that has started can only change its effective_until."
        )
    event.update({k: change[k] for k in fields})
    _save(call, rotations)
    events = _rendered_rotation(call, call.params["rotation_id"])["events"]
    return Reply(200, {"event": _find(events, call.params["event_id"], "event")})


async def delete_event(call: Call) -> Reply:
    rotations = _rotations(call)
    rotation = _find(rotations, call.params["rotation_id"], "rotation")
    _find(rotation["events"], call.params["event_id"], "event")
    rotation["events"] = [e for e in rotation["events"] if e["id"] != call.params["event_id"]]
    _save(call, rotations)
    return Reply(204)


def _event_state(event: JSON, now: datetime) -> str:
    """``future``, ``active`` or ``past`` by the event's effective range."""
    until = event.get("effective_until")
    if until is not None and parse_time(until) <= now:
        return "past"
    return "active" if parse_time(event["effective_since"]) <= now else "future"
