"""``GET /schedules/{id}`` rendered for a window, and ``/schedules/{id}/overrides``.

Windows and options are read as ``schedule_windows.py`` says; overrides are stored in the
account (``overrides.py``), written (and audited) by its writer, and answered in the spec's
shapes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pdsearch.simulator.api import ApiError, Call, Reply, invalid
from pdsearch.simulator.errors import AccountError, NotFound
from pdsearch.simulator.overrides import Override, check_shape, render_override
from pdsearch.simulator.reads import open_ended
from pdsearch.simulator.schedule_render import ScheduleTimeline, fill_schedule
from pdsearch.simulator.schedule_windows import bound, flag, now, request_zone, schedule_window
from pdsearch.simulator.timeline import BadTime, RenderTooLarge, zone
from pdsearch.simulator.writes import actor

JSON = dict[str, Any]
# How many overrides one POST may create (PagerDuty publishes no number).
MAX_OVERRIDES_PER_REQUEST = 100


def timeline_of(call: Call, schedule_id: str) -> ScheduleTimeline:
    """The stored schedule and its overrides (of users that still exist)."""
    account = call.sim.account
    stored = account.get("schedules", schedule_id)
    spans = [s for s in account.overrides.spans(schedule_id) if s.user in account.users]
    return ScheduleTimeline(stored, spans)


def user_ref(call: Call) -> Callable[[str], JSON]:
    account = call.sim.account

    def ref(user_id: str) -> JSON:
        return account.ref("users", user_id)

    return ref


async def get_schedule(call: Call) -> Reply:
    account = call.sim.account
    schedule_id = call.params["id"]
    # A v3 id is not found here (FACTS §1): render_schedule raises NotFound for it.
    shown = open_ended(account.render_schedule(schedule_id, True))
    since, until = schedule_window(call)
    try:
        filled = fill_schedule(
            shown,
            timeline_of(call, schedule_id),
            since,
            until,
            out_tz=request_zone(call, str(shown["time_zone"])),
            overflow=flag(call, "overflow"),
            user_ref=user_ref(call),
        )
    except (RenderTooLarge, BadTime) as exc:
        raise invalid(str(exc)) from None
    return Reply(200, {"schedule": filled})


# ---------------------------------------------------------------------------------- overrides


def _layered(call: Call) -> JSON:
    """The layer-based schedule named in the path (404 for a v3 id, as ``/schedules/{id}``)."""
    return call.sim.account.get("schedules", call.params["id"])


async def list_overrides(call: Call) -> Reply:
    schedule = _layered(call)
    since, until = bound(call, "since"), bound(call, "until")
    if since is None or until is None:
        raise invalid("since and until are required.", 2003)
    if until < since:
        raise invalid("until must not be before since.", 2005)
    tz = zone(str(schedule["time_zone"]))
    overflow = flag(call, "overflow")
    editable_only = flag(call, "editable")
    moment = now(call)
    account = call.sim.account
    ref = user_ref(call)
    out: list[JSON] = []
    for o in account.overrides.of(schedule["id"]):
        if not (o.start < until and o.end > since) or o.user_id not in account.users:
            continue
        if editable_only and o.start <= moment:
            continue  # only future overrides are editable
        shown = o if overflow else _clipped(o, since, until)
        out.append(render_override(shown, tz, ref))
    # The spec documents 201 for this read; PagerDuty answers a read with 200 (docs/SIMULATOR.md).
    return Reply(200, {"overrides": out})


def _clipped(o: Override, since: int, until: int) -> Override:
    return Override(o.id, o.schedule_id, max(o.start, since), min(o.end, until), o.user_id, o.seq)


async def create_overrides(call: Call) -> Reply:
    schedule = _layered(call)
    body = await call.json_body()
    account = call.sim.account
    ref = user_ref(call)
    tz = zone(str(schedule["time_zone"]))
    if "overrides" not in body and isinstance(body.get("override"), dict):
        # The older single-override form, still accepted by PagerDuty (deprecated).
        (result,) = account.writer.add_overrides(
            schedule["id"], [body["override"]], actor=actor(call)
        )
        if isinstance(result, AccountError):
            raise result
        return Reply(201, {"override": render_override(result, tz, ref)})
    items = body.get("overrides")
    if not isinstance(items, list) or not items:
        raise invalid('The body must be {"overrides": [...]} with at least one override.')
    if len(items) > MAX_OVERRIDES_PER_REQUEST:
        raise invalid(f"At most {MAX_OVERRIDES_PER_REQUEST} overrides may be created at once.")
    for n, item in enumerate(items):
        try:
            check_shape(item)
        except AccountError as exc:
            raise invalid(f"overrides[{n}]: {exc}") from None
    results: list[JSON] = []
    made = account.writer.add_overrides(schedule["id"], items, actor=actor(call))
    for item, result in zip(items, made, strict=True):
        if isinstance(result, AccountError):
            refused = _echo(item, account)
            results.append({"status": 400, "errors": [str(result)], "override": refused})
        else:
            results.append({"status": 201, "override": render_override(result, tz, ref)})
    return Reply(201, results)


def _echo(item: JSON, account: Any) -> JSON:
    """A refused override as the client sent it (its shape was checked), in the Override shape."""
    uid = item["user"]["id"]
    user = (
        account.ref("users", uid) if uid in account.users else {"id": uid, "type": "user_reference"}
    )
    return {"start": item["start"], "end": item["end"], "user": user}


async def delete_override(call: Call) -> Reply:
    schedule = _layered(call)
    try:
        ended = call.sim.account.writer.end_override(
            schedule["id"], call.params["override_id"], now(call), actor=actor(call)
        )
    except NotFound:
        raise ApiError(
            404, 2100, "Not Found", [f"Override {call.params['override_id']} not found."]
        ) from None
    except AccountError as exc:
        raise invalid(str(exc)) from None
    # Under way: PagerDuty ends it now and answers 200 rather than 204.
    return Reply(204) if ended is None else Reply(200)
