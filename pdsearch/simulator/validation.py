"""Checking and normalising objects as PagerDuty does on create, update and load.

Each ``clean_*`` takes the object a client sent (the inner object of ``{"schedule": {...}}``), the
account (for references and uniqueness) and the id the object will have, and returns the object
to store: only the fields PagerDuty keeps, read-only fields dropped, references reduced to
``{"id", "type"}``. Problems raise ``AccountError`` with a message naming the field.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pdsearch.simulator.avatars import avatar_url
from pdsearch.simulator.constants import (
    HANDOFF,
    RULE_STRATEGIES,
    TARGET_TYPES,
    USER_ROLES,
    V3_STRATEGIES,
)
from pdsearch.simulator.errors import AccountError
from pdsearch.simulator.objects import Objects

JSON = dict[str, Any]
NewId = Callable[[], str]

# Dates a layer or event may carry. PagerDuty's own bounds are unknown; these keep every date
# convertible in any time zone, so rendering never meets an overflow.
EARLIEST_YEAR, LATEST_YEAR = 1970, 2999
WEEK_SECONDS = 7 * 24 * 3600
SERVICE_STATUSES = ("active", "warning", "critical", "maintenance", "disabled")


def _str(obj: JSON, name: str, *, max_len: int | None = None) -> str | None:
    """An optional string field: ``None`` when absent."""
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise AccountError(f"'{name}' must be a string")
    if max_len is not None and len(value) > max_len:
        raise AccountError(f"'{name}' is longer than {max_len} characters")
    return value


def _required_str(obj: JSON, name: str, *, max_len: int | None = None) -> str:
    value = _str(obj, name, max_len=max_len)
    if value is None:
        raise AccountError(f"'{name}' is required")
    if not value.strip():
        raise AccountError(f"'{name}' must not be empty")
    return value


def _int(obj: JSON, name: str, default: int | None, minimum: int = 0) -> int:
    value = obj.get(name, default)
    if value is None:
        raise AccountError(f"'{name}' is required")
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise AccountError(f"'{name}' must be a whole number of at least {minimum}")
    return value


def _enum(obj: JSON, name: str, allowed: tuple[str, ...], default: str | None) -> str:
    value = obj.get(name, default)
    if value not in allowed:
        raise AccountError(f"'{name}' must be one of {', '.join(allowed)}, not {value!r}")
    return str(value)


def time_zone(value: Any, name: str = "time_zone") -> str:
    if not isinstance(value, str) or not value:
        raise AccountError(f"'{name}' is required (an IANA time zone such as Europe/Berlin)")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise AccountError(f"'{name}' {value!r} is not a known time zone") from None
    return value


def date_time(value: Any, name: str, *, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise AccountError(f"'{name}' must be an ISO 8601 date-time")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise AccountError(f"'{name}' {value!r} is not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        raise AccountError(f"'{name}' {value!r} needs a UTC offset")
    try:
        year = parsed.astimezone(UTC).year
    except OverflowError:
        year = parsed.year
    if not EARLIEST_YEAR <= year <= LATEST_YEAR:
        raise AccountError(f"'{name}' {value!r} must be between {EARLIEST_YEAR} and {LATEST_YEAR}")
    return value


def _ref_id(value: Any, where: str) -> str:
    if not isinstance(value, dict) or not isinstance(value.get("id"), str) or not value["id"]:
        raise AccountError(f"{where} must be a reference with an 'id'")
    return str(value["id"])


def team_refs(objects: Objects, obj: JSON, *, at_most: int | None = None) -> list[JSON]:
    teams = obj.get("teams")
    if teams is None:
        return []
    if not isinstance(teams, list):
        raise AccountError("'teams' must be a list of team references")
    if at_most is not None and len(teams) > at_most:
        raise AccountError("only one team may be associated with an escalation policy")
    out: list[JSON] = []
    for i, ref in enumerate(teams):
        team_id = _ref_id(ref, f"teams[{i}]")
        if team_id not in objects.teams:
            raise AccountError(f"teams[{i}]: team {team_id!r} does not exist")
        if all(t["id"] != team_id for t in out):
            out.append({"id": team_id, "type": "team_reference"})
    return out


def _taken(
    store: dict[str, JSON], field: str, value: str, object_id: str, seen: dict[str, str] | None
) -> str | None:
    """The id of another object whose ``field`` equals ``value`` (case-insensitively), if any.

    ``seen`` (lower-cased value -> id), when given, replaces the scan: loading a large account
    checks each object against the ones before it in constant time."""
    lowered = value.lower()
    if seen is not None:
        other = seen.setdefault(lowered, object_id)
        return other if other != object_id else None
    for other_id, other_obj in store.items():
        if other_id != object_id and str(other_obj.get(field, "")).lower() == lowered:
            return other_id
    return None


def clean_user(
    objects: Objects,
    obj: JSON,
    object_id: str,
    *,
    loading: bool = False,
    seen: dict[str, str] | None = None,
) -> JSON:
    existing = objects.users.get(object_id, {})
    name = _required_str(obj, "name", max_len=100)
    email = _required_str(obj, "email", max_len=100)
    if len(email) < 6 or "@" not in email.strip("@"):
        raise AccountError(f"'email' {email!r} is not a valid e-mail address")
    other_id = _taken(objects.users, "email", email, object_id, seen)
    if other_id:
        raise AccountError(f"'email' {email!r} is already taken by user {other_id}")
    role = _enum(obj, "role", USER_ROLES, existing.get("role", "user"))
    if not loading and role != existing.get("role") and "owner" in (role, existing.get("role")):
        raise AccountError("the account owner can only be changed by transferring ownership")
    tz = time_zone(obj.get("time_zone") or existing.get("time_zone") or "UTC")
    return {
        "id": object_id,
        "type": "user",
        "name": name,
        "email": email,
        "time_zone": tz,
        "color": _str(obj, "color") or existing.get("color", "green"),
        "role": role,
        "avatar_url": (_str(obj, "avatar_url") if loading else None) or avatar_url(email),
        "description": _str(obj, "description"),
        "invitation_sent": bool(obj.get("invitation_sent", existing.get("invitation_sent", True)))
        if loading or existing
        else True,
        "job_title": _str(obj, "job_title", max_len=100),
        "created_via_sso": bool(obj.get("created_via_sso", existing.get("created_via_sso", False)))
        if loading
        else existing.get("created_via_sso", False),
    }


def clean_team(
    objects: Objects, obj: JSON, object_id: str, *, seen: dict[str, str] | None = None
) -> JSON:
    name = _required_str(obj, "name", max_len=100)
    other_id = _taken(objects.teams, "name", name, object_id, seen)
    if other_id:
        raise AccountError(f"a team named {name!r} already exists ({other_id})")
    return {
        "id": object_id,
        "type": "team",
        "name": name,
        "description": _str(obj, "description", max_len=1024),
        "default_role": _enum(obj, "default_role", ("manager", "none"), "manager"),
    }


def _restriction(value: Any, where: str) -> JSON:
    if not isinstance(value, dict):
        raise AccountError(f"{where} must be an object")
    kind = _enum(value, "type", ("daily_restriction", "weekly_restriction"), None)
    start = value.get("start_time_of_day")
    parts = start.split(":") if isinstance(start, str) else []
    if len(parts) not in (2, 3) or not all(len(p) == 2 and p.isdigit() for p in parts):
        raise AccountError(f"{where}.start_time_of_day must be HH:mm:ss")
    try:
        time.fromisoformat(str(start))
    except ValueError:
        raise AccountError(f"{where}.start_time_of_day {start!r} is not a time of day") from None
    out: JSON = {
        "type": kind,
        "start_time_of_day": start,
        "duration_seconds": _int(value, "duration_seconds", None, minimum=1),
    }
    if out["duration_seconds"] > WEEK_SECONDS:
        raise AccountError(f"{where}.duration_seconds must be at most a week ({WEEK_SECONDS})")
    if kind == "weekly_restriction":
        day = value.get("start_day_of_week")
        if isinstance(day, bool) or not isinstance(day, int) or not 1 <= day <= 7:
            raise AccountError(f"{where}.start_day_of_week must be 1 (Monday) to 7 (Sunday)")
        out["start_day_of_week"] = day
    return out


def clean_layers(objects: Objects, layers: Any, new_id: NewId) -> list[JSON]:
    if not isinstance(layers, list) or not layers:
        raise AccountError("'schedule_layers' must list at least one layer")
    out: list[JSON] = []
    for i, layer in enumerate(layers):
        where = f"schedule_layers[{i}]"
        if not isinstance(layer, dict):
            raise AccountError(f"{where} must be an object")
        users = layer.get("users")
        if not isinstance(users, list) or not users:
            raise AccountError(f"{where}.users must list at least one user")
        user_refs: list[JSON] = []
        for j, entry in enumerate(users):
            if not isinstance(entry, dict):
                raise AccountError(f"{where}.users[{j}] must be {{'user': reference}}")
            user_id = _ref_id(entry.get("user"), f"{where}.users[{j}].user")
            if user_id not in objects.users:
                raise AccountError(f"{where}.users[{j}]: user {user_id!r} does not exist")
            user_refs.append({"user": {"id": user_id, "type": "user_reference"}})
        restrictions = layer.get("restrictions") or []
        if not isinstance(restrictions, list):
            raise AccountError(f"{where}.restrictions must be a list")
        layer_id = layer.get("id")
        name = layer.get("name")
        if name is not None and not isinstance(name, str):
            raise AccountError(f"{where}.name must be a string")
        start = date_time(layer.get("start"), f"{where}.start")
        out.append(
            {
                "id": layer_id if isinstance(layer_id, str) and layer_id else new_id(),
                "name": name or f"Layer {i + 1}",
                "start": start,
                "end": date_time(layer.get("end"), f"{where}.end", required=False),
                "rotation_virtual_start": date_time(
                    layer.get("rotation_virtual_start", start), f"{where}.rotation_virtual_start"
                ),
                "rotation_turn_length_seconds": _int(
                    layer, "rotation_turn_length_seconds", None, minimum=1
                ),
                "users": user_refs,
                "restrictions": [
                    _restriction(r, f"{where}.restrictions[{k}]")
                    for k, r in enumerate(restrictions)
                ],
            }
        )
    return out


def clean_schedule(objects: Objects, obj: JSON, object_id: str, new_id: NewId) -> JSON:
    if obj.get("type", "schedule") != "schedule":
        raise AccountError("'type' must be 'schedule' (shift-based schedules live under /v3)")
    return {
        "id": object_id,
        "type": "schedule",
        "name": _required_str(obj, "name", max_len=255),
        "description": _str(obj, "description", max_len=1024),
        "time_zone": time_zone(obj.get("time_zone")),
        "schedule_layers": clean_layers(objects, obj.get("schedule_layers"), new_id),
        "teams": team_refs(objects, obj),
    }


def _zoned(value: Any, where: str) -> JSON:
    if not isinstance(value, dict):
        raise AccountError(f"{where} must be {{'date_time', 'time_zone'}}")
    return {
        "date_time": date_time(value.get("date_time"), f"{where}.date_time"),
        "time_zone": time_zone(value.get("time_zone"), f"{where}.time_zone"),
    }


def _member(objects: Objects, value: Any, where: str) -> JSON:
    if not isinstance(value, dict):
        raise AccountError(f"{where} must be an object")
    kind = _enum(value, "type", ("user_member", "empty_member"), None)
    if kind == "empty_member":
        return {"type": kind}
    user_id = value.get("user_id")
    if not isinstance(user_id, str) or user_id not in objects.users:
        raise AccountError(f"{where}: user {user_id!r} does not exist")
    return {"type": kind, "user_id": user_id}


def clean_event(objects: Objects, event: Any, where: str, new_long_id: NewId) -> JSON:
    """A v3 event (``Event``): only the spec's fields, each checked."""
    if not isinstance(event, dict):
        raise AccountError(f"{where} must be an object")
    strategy = event.get("assignment_strategy")
    if not isinstance(strategy, dict):
        raise AccountError(f"{where}.assignment_strategy is required")
    members = strategy.get("members")
    if not isinstance(members, list) or not 1 <= len(members) <= 20:
        raise AccountError(f"{where}.assignment_strategy.members must hold 1 to 20 members")
    clean_strategy: JSON = {
        "type": _enum(strategy, "type", V3_STRATEGIES, None),
        "members": [
            _member(objects, m, f"{where}.assignment_strategy.members[{k}]")
            for k, m in enumerate(members)
        ],
    }
    if strategy.get("shifts_per_member") is not None:
        clean_strategy["shifts_per_member"] = _int(strategy, "shifts_per_member", None, minimum=1)
    recurrence = event.get("recurrence")
    if (
        not isinstance(recurrence, list)
        or not all(isinstance(r, str) for r in recurrence)
        or sum(r.startswith("RRULE:") for r in recurrence) != 1
    ):
        raise AccountError(f"{where}.recurrence must list exactly one RRULE (and EXDATE/RDATE)")
    event_id = event.get("id")
    return {
        "id": event_id if isinstance(event_id, str) and event_id else new_long_id(),
        "type": "schedule_event",
        "name": _required_str(event, "name", max_len=255),
        "start_time": _zoned(event.get("start_time"), f"{where}.start_time"),
        "end_time": _zoned(event.get("end_time"), f"{where}.end_time"),
        "effective_since": date_time(event.get("effective_since"), f"{where}.effective_since"),
        "effective_until": date_time(
            event.get("effective_until"), f"{where}.effective_until", required=False
        ),
        "recurrence": list(recurrence),
        "assignment_strategy": clean_strategy,
    }


def clean_rotation(objects: Objects, rotation: Any, where: str, new_long_id: NewId) -> JSON:
    events = rotation.get("events", []) if isinstance(rotation, dict) else None
    if not isinstance(events, list):
        raise AccountError(f"{where}.events must be a list")
    rotation_id = rotation.get("id") if isinstance(rotation, dict) else None
    return {
        "id": rotation_id if isinstance(rotation_id, str) and rotation_id else new_long_id(),
        "type": "schedule_rotation",
        "events": [
            clean_event(objects, e, f"{where}.events[{j}]", new_long_id)
            for j, e in enumerate(events)
        ],
    }


def clean_schedule_v3(objects: Objects, obj: JSON, object_id: str, new_long_id: NewId) -> JSON:
    if obj.get("type", "schedule_v3") != "schedule_v3":
        raise AccountError("'type' must be 'schedule_v3'")
    tz = time_zone(obj.get("time_zone"))
    rotations = obj.get("rotations") or []
    if not isinstance(rotations, list):
        raise AccountError("'rotations' must be a list")
    return {
        "id": object_id,
        "type": "schedule_v3",
        "name": _required_str(obj, "name", max_len=255),
        "description": _str(obj, "description", max_len=1024),
        "time_zone": tz,
        "rotations": [
            clean_rotation(objects, r, f"rotations[{i}]", new_long_id)
            for i, r in enumerate(rotations)
        ],
        "teams": team_refs(objects, obj),
    }


def _target(objects: Objects, value: Any, where: str) -> JSON:
    target_id = _ref_id(value, where)
    kind = value.get("type")
    if kind not in TARGET_TYPES:
        raise AccountError(f"{where}.type must be one of {', '.join(TARGET_TYPES)}")
    if kind in ("user", "user_reference"):
        if target_id not in objects.users:
            raise AccountError(f"{where}: user {target_id!r} does not exist")
        return {"id": target_id, "type": "user_reference"}
    schedule = objects.schedules.get(target_id)
    if schedule is None:
        raise AccountError(f"{where}: schedule {target_id!r} does not exist")
    v3 = schedule.get("type") == "schedule_v3"
    return {"id": target_id, "type": "schedule_v3_reference" if v3 else "schedule_reference"}


def clean_policy(
    objects: Objects,
    obj: JSON,
    object_id: str,
    new_id: NewId,
    *,
    seen: dict[str, str] | None = None,
) -> JSON:
    name = _required_str(obj, "name", max_len=255)
    other_id = _taken(objects.escalation_policies, "name", name, object_id, seen)
    if other_id:
        raise AccountError(f"an escalation policy named {name!r} already exists ({other_id})")
    rules = obj.get("escalation_rules")
    if not isinstance(rules, list) or not rules:
        raise AccountError("'escalation_rules' must list at least one rule")
    clean_rules: list[JSON] = []
    for i, rule in enumerate(rules):
        where = f"escalation_rules[{i}]"
        if not isinstance(rule, dict):
            raise AccountError(f"{where} must be an object")
        targets = rule.get("targets")
        if not isinstance(targets, list) or not 1 <= len(targets) <= 10:
            raise AccountError(f"{where}.targets must hold 1 to 10 targets")
        strategy = rule.get("escalation_rule_assignment_strategy", "assign_to_everyone")
        if isinstance(strategy, dict):  # the spec's request example sends {"type": ...}
            strategy = strategy.get("type")
        if strategy not in RULE_STRATEGIES:
            raise AccountError(
                f"{where}.escalation_rule_assignment_strategy must be round_robin or "
                "assign_to_everyone"
            )
        clean_rules.append(
            {
                "id": rule["id"] if isinstance(rule.get("id"), str) and rule["id"] else new_id(),
                "escalation_delay_in_minutes": _int(rule, "escalation_delay_in_minutes", None),
                "escalation_rule_assignment_strategy": strategy,
                "targets": [
                    _target(objects, t, f"{where}.targets[{j}]") for j, t in enumerate(targets)
                ],
            }
        )
    return {
        "id": object_id,
        "type": "escalation_policy",
        "name": name,
        "description": _str(obj, "description"),
        "num_loops": _num_loops(obj),
        "on_call_handoff_notifications": _enum(
            obj, "on_call_handoff_notifications", HANDOFF, "if_has_services"
        ),
        "escalation_rules": clean_rules,
        "teams": team_refs(objects, obj, at_most=1),
    }


def _num_loops(obj: JSON) -> int:
    loops = _int(obj, "num_loops", 0)
    if loops > 9:  # PagerDuty's web app and API allow 0 to 9 repeats
        raise AccountError("'num_loops' must be between 0 and 9")
    return loops


def clean_service(objects: Objects, obj: JSON, object_id: str) -> JSON:
    name = _required_str(obj, "name", max_len=255)
    ep = obj.get("escalation_policy")
    ep_id = _ref_id(ep, "escalation_policy")
    if ep_id not in objects.escalation_policies:
        raise AccountError(f"escalation_policy {ep_id!r} does not exist")
    return {
        "id": object_id,
        "type": "service",
        "name": name,
        "description": _str(obj, "description"),
        "status": _enum(obj, "status", SERVICE_STATUSES, "active"),
        "escalation_policy": {"id": ep_id, "type": "escalation_policy_reference"},
        "teams": team_refs(objects, obj),
    }
