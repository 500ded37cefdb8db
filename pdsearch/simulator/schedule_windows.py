"""Reading the window and options of a schedule or on-call read from its query string.

Windows: ``since``/``until`` default to two weeks from the other (from now when both are
missing), may not run backwards, and may span at most ``MAX_WINDOW``: PagerDuty publishes no
limit for schedules, so the simulator answers a wider window with 400 code 2001 rather than work
without bound (docs/SIMULATOR.md). "Now" is the simulator's clock, so tests can move time.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from pdsearch.simulator.api import ApiError, Call, invalid
from pdsearch.simulator.schedule_v3_render import UnsupportedRule, final_schedule
from pdsearch.simulator.timeline import DAY, BadTime, RenderTooLarge, instant, zone

JSON = dict[str, Any]
TWO_WEEKS = 14 * DAY
MAX_WINDOW = 366 * DAY


def now(call: Call) -> int:
    """The simulator's clock (``Simulator.now()``) in whole seconds: the one time source."""
    return int(call.sim.now().timestamp())


def bound(call: Call, name: str) -> int | None:
    raw = call.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return instant(raw)
    except BadTime:
        raise invalid(f"{name} must be an ISO 8601 date-time.", 2004) from None


def schedule_window(call: Call) -> tuple[int, int]:
    """``[since, until)`` of a schedule read, with PagerDuty's defaults and the simulator's cap."""
    since, until = bound(call, "since"), bound(call, "until")
    if until is None:
        since = now(call) if since is None else since
        until = since + TWO_WEEKS
    elif since is None:
        since = until - TWO_WEEKS
    if until < since:
        raise invalid("until must not be before since.", 2005)
    if until - since > MAX_WINDOW:
        raise invalid(
            f"since and until may be at most {MAX_WINDOW // DAY} days apart; ask for a shorter "
            "window."
        )
    return since, until


def request_zone(call: Call, default: str) -> ZoneInfo:
    name = call.query.get("time_zone") or default
    try:
        return zone(name)
    except BadTime:
        raise invalid(f"time_zone {name!r} is not a known time zone.") from None


def flag(call: Call, name: str) -> bool:
    return (call.query.get(name) or "").lower() == "true"


def v3_final_schedule(call: Call, schedule: JSON) -> JSON | None:
    """``final_schedule`` for ``GET /v3/schedules/{id}?include[]=final_schedule``: ``None``
    without ``since`` and ``until`` (the spec: "only present when ... since/until are
    provided"); errors in the v3 shape (``errors`` maps a field to messages)."""
    if not call.query.get("since") and not call.query.get("until"):
        return None
    try:
        since, until = schedule_window(call)
        out_zone = request_zone(call, str(schedule["time_zone"]))
        return final_schedule(
            schedule, since, until, out_zone=out_zone.key, overflow=flag(call, "overflow")
        )
    except ApiError as exc:
        errors = exc.errors if isinstance(exc.errors, list) else [exc.message]
        raise ApiError(400, 2001, "Invalid request", {"since": list(errors)}) from None
    except (UnsupportedRule, RenderTooLarge, BadTime) as exc:
        raise ApiError(400, 2001, "Invalid request", {"final_schedule": [str(exc)]}) from None
