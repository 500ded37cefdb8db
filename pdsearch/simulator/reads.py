"""The read endpoints: lists with PagerDuty's filters and includes, details, abilities.

The audit trails are read in ``audit_api.py``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pdsearch.simulator.api import ApiError, Call, Reply, invalid, not_found
from pdsearch.simulator.paging import offset_page, parse_offset
from pdsearch.simulator.schedule_windows import v3_final_schedule
from pdsearch.simulator.state import KNOWN_ABILITIES

USER_INCLUDES = {"contact_methods", "notification_rules", "teams", "subdomains", "calendar_urls"}
SCHEDULE_INCLUDES = {"schedule_layers", "overrides_subschedule", "final_schedule"}
POLICY_INCLUDES = {"services", "teams", "targets", "escalation_rule_assignment_strategies"}


def require_ability(call: Call, ability: str) -> None:
    if ability not in call.sim.abilities:
        raise ApiError(
            402,
            2014,
            "Account does not have the abilities to perform the action",
            [f"The account lacks the {ability} ability."],
        )


def _includes(call: Call, allowed: set[str]) -> set[str]:
    values = set(call.list_param("include"))
    unknown = values - allowed
    if unknown:
        raise invalid(f"include[] must be among {', '.join(sorted(allowed))}.")
    return values


def _team_filter(call: Call) -> set[str] | None:
    team_ids = call.list_param("team_ids")
    if not team_ids:
        return None
    require_ability(call, "teams")
    return set(team_ids)


def _page(call: Call, key: str, ids: list[str], render: Callable[[str], Any]) -> Reply:
    params = parse_offset(call.query)
    page, meta = offset_page(ids, params)
    return Reply(200, {key: [render(i) for i in page], **meta})


# --- users -------------------------------------------------------------------------------------


async def list_users(call: Call) -> Reply:
    account = call.sim.account
    include_teams = "teams" in _includes(call, USER_INCLUDES)
    ids = account.list_ids("users", query=call.query.get("query"), team_ids=_team_filter(call))
    return _page(call, "users", ids, lambda i: account.render_user(i, include_teams))


def _one_user(call: Call, user_id: str) -> Reply:
    include_teams = "teams" in _includes(call, USER_INCLUDES)
    return Reply(200, {"user": call.sim.account.render_user(user_id, include_teams)})


async def get_user(call: Call) -> Reply:
    return _one_user(call, call.params["id"])


async def get_me(call: Call) -> Reply:
    user_id = call.principal.user_id
    if user_id is None:
        # PagerDuty answers this with a bare string, and its own client looks for these words.
        raise ApiError(
            400,
            2001,
            "account-level",
            raw={
                "error": "Because this request was made using an account-level access token, "
                "we were unable to determine the user."
            },
        )
    return _one_user(call, user_id)


# --- services ----------------------------------------------------------------------------------


async def list_services(call: Call) -> Reply:
    account = call.sim.account
    ids = account.list_ids("services", query=call.query.get("query"))
    return _page(call, "services", ids, account.render_service)


# --- teams -------------------------------------------------------------------------------------


async def list_teams(call: Call) -> Reply:
    require_ability(call, "teams")
    account = call.sim.account
    ids = account.list_ids("teams", query=call.query.get("query"))
    return _page(call, "teams", ids, account.render_team)


async def get_team(call: Call) -> Reply:
    require_ability(call, "teams")
    return Reply(200, {"team": call.sim.account.render_team(call.params["id"])})


async def list_team_members(call: Call) -> Reply:
    require_ability(call, "teams")
    account = call.sim.account
    include_users = "users" in _includes(call, {"users"})
    members = account.members(call.params["id"])
    params = parse_offset(call.query)
    page, meta = offset_page(members, params)
    if include_users:
        # The spec keeps the member a UserReference (type user_reference) even when expanded.
        page = [
            {
                "user": {**account.render_user(m["user"]["id"], False), "type": "user_reference"},
                "role": m["role"],
            }
            for m in page
        ]
    return Reply(200, {"members": list(page), **meta})


# --- schedules ---------------------------------------------------------------------------------


async def list_schedules(call: Call) -> Reply:
    account = call.sim.account
    layers = "schedule_layers" in _includes(call, SCHEDULE_INCLUDES)
    ids = account.list_ids("schedules", query=call.query.get("query"), team_ids=_team_filter(call))
    return _page(call, "schedules", ids, lambda i: open_ended(account.render_schedule(i, layers)))


def open_ended(schedule: dict[str, Any]) -> dict[str, Any]:
    """Leave out a layer's ``end`` when it has none.

    The spec describes ``end: null`` for a layer without end but types the field as a
    non-nullable date-time; leaving it out satisfies both readings.
    """
    layers = schedule.get("schedule_layers")
    if layers:
        schedule["schedule_layers"] = [
            {k: v for k, v in layer.items() if not (k == "end" and v is None)} for layer in layers
        ]
    return schedule


async def list_schedules_v3(call: Call) -> Reply:
    account = call.sim.account
    ids = account.list_ids(
        "schedules_v3", query=call.query.get("query"), team_ids=_team_filter(call)
    )
    params = parse_offset(call.query, default_limit=100, max_limit=1000, cap=None)
    page, meta = offset_page(ids, params)
    del meta["total"]  # the v3 list has no total field
    refs = [account.render_schedule_v3_reference(i) for i in page]
    return Reply(200, {"schedules": refs, **meta})


async def get_schedule_v3(call: Call) -> Reply:
    account = call.sim.account
    schedule_id = call.params["id"]
    if account.exists("schedules", schedule_id):
        # FACTS §1: a v3 GET on a layer-based schedule's id answers 400.
        raise ApiError(
            400,
            2001,
            "Invalid request",
            {"schedule.id": ["This schedule is layer-based; read it from /schedules/{id}."]},
        )
    includes = set(call.list_param("include"))
    if includes - {"users", "final_schedule"}:
        raise ApiError(
            400, 2001, "Invalid request", {"include": ["include[] may be final_schedule, users."]}
        )
    schedule = account.render_schedule_v3(schedule_id, include_users="users" in includes)
    if "final_schedule" in includes:
        final = v3_final_schedule(call, account.get("schedules_v3", schedule_id))
        if final is not None:
            schedule["final_schedule"] = final
    return Reply(200, {"schedule": schedule})


# --- escalation policies -----------------------------------------------------------------------


async def list_policies(call: Call) -> Reply:
    account = call.sim.account
    includes = _includes(call, POLICY_INCLUDES)
    sort_by = call.query.get("sort_by") or "name"
    if sort_by not in ("name", "name:asc", "name:desc"):
        raise invalid("sort_by must be name, name:asc or name:desc.")
    user_ids = call.list_param("user_ids") or None
    ids = account.list_ids(
        "escalation_policies",
        query=call.query.get("query"),
        team_ids=_team_filter(call),
        user_ids=user_ids,
        sort_by=sort_by,
    )
    return _page(call, "escalation_policies", ids, lambda i: account.render_policy(i, includes))


async def get_policy(call: Call) -> Reply:
    policy_id = call.params["id"]
    includes = _includes(call, POLICY_INCLUDES)
    return Reply(200, {"escalation_policy": call.sim.account.render_policy(policy_id, includes)})


# --- abilities ---------------------------------------------------------------------------------


async def list_abilities(call: Call) -> Reply:
    return Reply(200, {"abilities": sorted(call.sim.abilities)})


async def get_ability(call: Call) -> Reply:
    name = call.params["id"]
    if name in call.sim.abilities:
        return Reply(204)
    if name in KNOWN_ABILITIES:
        require_ability(call, name)
    raise not_found()
