"""Checking and normalising objects as PagerDuty does on create, update and load.

Each ``clean_*`` takes the object a client sent (the inner object of ``{"schedule": {...}}``), the
account (for references and uniqueness) and the id the object will have, and returns the object
to store: only the fields PagerDuty keeps, read-only fields dropped, references reduced to
``{"id", "type"}``. Problems raise ``AccountError`` with a message naming the field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pdsearch.simulator.errors import AccountError

JSON = dict[str, Any]


class Account(Protocol):
    """What the checks need of an account: its stores, for references and uniqueness."""

    users: dict[str, JSON]
    teams: dict[str, JSON]
    schedules: dict[str, JSON]
    escalation_policies: dict[str, JSON]


USER_ROLES = (
    "admin",
    "limited_user",
    "observer",
    "owner",
    "read_only_user",
    "restricted_access",
    "read_only_limited_user",
    "user",
)
TEAM_ROLES = ("observer", "responder", "manager")
TARGET_TYPES = ("user", "schedule", "user_reference", "schedule_reference", "schedule_v3_reference")
RULE_STRATEGIES = ("round_robin", "assign_to_everyone")
HANDOFF = ("if_has_services", "always")


def _str(obj: JSON, name: str, *, required: bool, max_len: int | None = None) -> str | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise AccountError(f"'{name}' is required")
        return None
    if not isinstance(value, str):
        raise AccountError(f"'{name}' must be a string")
    if required and not value.strip():
        raise AccountError(f"'{name}' must not be empty")
    if max_len is not None and len(value) > max_len:
        raise AccountError(f"'{name}' is longer than {max_len} characters")
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
    return value


def _ref_id(value: Any, where: str) -> str:
    if not isinstance(value, dict) or not isinstance(value.get("id"), str) or not value["id"]:
        raise AccountError(f"{where} must be a reference with an 'id'")
    return str(value["id"])


def team_refs(account: Account, obj: JSON, *, at_most: int | None = None) -> list[JSON]:
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
        if team_id not in account.teams:
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
    account: Account,
    obj: JSON,
    object_id: str,
    *,
    loading: bool = False,
    seen: dict[str, str] | None = None,
) -> JSON:
    existing = account.users.get(object_id, {})
    name = _str(obj, "name", required=True, max_len=100)
    email = _str(obj, "email", required=True, max_len=100)
    assert email is not None
    if len(email) < 6 or "@" not in email.strip("@"):
        raise AccountError(f"'email' {email!r} is not a valid e-mail address")
    other_id = _taken(account.users, "email", email, object_id, seen)
    if other_id:
        raise AccountError(f"'email' {email!r} is already taken by user {other_id}")
    role = _enum(obj, "role", USER_ROLES, existing.get("role", "user"))
    if not loading and role != existing.get("role") and "owner" in (role, existing.get("role")):
        raise AccountError("the account owner can only be changed by transferring ownership")
    tz = time_zone(obj.get("time_zone") or existing.get("time_zone") or "UTC")
    from pdsearch.simulator.generator import avatar_url

    return {
        "id": object_id,
        "type": "user",
        "name": name,
        "email": email,
        "time_zone": tz,
        "color": _str(obj, "color", required=False) or existing.get("color", "green"),
        "role": role,
        "avatar_url": obj.get("avatar_url")
        if loading and obj.get("avatar_url")
        else avatar_url(email),
        "description": _str(obj, "description", required=False),
        "invitation_sent": bool(obj.get("invitation_sent", existing.get("invitation_sent", True)))
        if loading or existing
        else True,
        "job_title": _str(obj, "job_title", required=False, max_len=100),
        "created_via_sso": bool(obj.get("created_via_sso", existing.get("created_via_sso", False)))
        if loading
        else existing.get("created_via_sso", False),
    }


def clean_team(
    account: Account, obj: JSON, object_id: str, *, seen: dict[str, str] | None = None
) -> JSON:
    name = _str(obj, "name", required=True, max_len=100)
    assert name is not None
    other_id = _taken(account.teams, "name", name, object_id, seen)
    if other_id:
        raise AccountError(f"a team named {name!r} already exists ({other_id})")
    return {
        "id": object_id,
        "type": "team",
        "name": name,
        "description": _str(obj, "description", required=False, max_len=1024),
        "default_role": _enum(obj, "default_role", ("manager", "none"), "manager"),
    }


def _restriction(value: Any, where: str) -> JSON:
    if not isinstance(value, dict):
        raise AccountError(f"{where} must be an object")
    kind = _enum(value, "type", ("daily_restriction", "weekly_restriction"), None)
    start = value.get("start_time_of_day")
    parts = start.split(":") if isinstance(start, str) else []
    if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts):
        raise AccountError(f"{where}.start_time_of_day must be HH:mm:ss")
    out: JSON = {
        "type": kind,
        "start_time_of_day": start,
        "duration_seconds": _int(value, "duration_seconds", None, minimum=1),
    }
    if kind == "weekly_restriction":
        day = value.get("start_day_of_week")
        if isinstance(day, bool) or not isinstance(day, int) or not 1 <= day <= 7:
            raise AccountError(f"{where}.start_day_of_week must be 1 (Monday) to 7 (Sunday)")
        out["start_day_of_week"] = day
    elif value.get("start_day_of_week") is not None:
        out["start_day_of_week"] = value["start_day_of_week"]
    return out


def clean_layers(account: Account, layers: Any, new_id: Any) -> list[JSON]:
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
            if user_id not in account.users:
                raise AccountError(f"{where}.users[{j}]: user {user_id!r} does not exist")
            user_refs.append({"user": {"id": user_id, "type": "user_reference"}})
        restrictions = layer.get("restrictions") or []
        if not isinstance(restrictions, list):
            raise AccountError(f"{where}.restrictions must be a list")
        layer_id = layer.get("id") if isinstance(layer.get("id"), str) else new_id()
        start = date_time(layer.get("start"), f"{where}.start")
        out.append(
            {
                "id": layer_id,
                "name": layer.get("name") or f"Layer {i + 1}",
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


def clean_schedule(account: Account, obj: JSON, object_id: str, new_id: Any) -> JSON:
    if obj.get("type", "schedule") != "schedule":
        raise AccountError("'type' must be 'schedule' (shift-based schedules live under /v3)")
    return {
        "id": object_id,
        "type": "schedule",
        "name": _str(obj, "name", required=True, max_len=255),
        "description": _str(obj, "description", required=False, max_len=1024),
        "time_zone": time_zone(obj.get("time_zone")),
        "schedule_layers": clean_layers(account, obj.get("schedule_layers"), new_id),
        "teams": team_refs(account, obj),
    }


def clean_schedule_v3(account: Account, obj: JSON, object_id: str, new_long_id: Any) -> JSON:
    if obj.get("type", "schedule_v3") != "schedule_v3":
        raise AccountError("'type' must be 'schedule_v3'")
    tz = time_zone(obj.get("time_zone"))
    rotations = obj.get("rotations") or []
    if not isinstance(rotations, list):
        raise AccountError("'rotations' must be a list")
    clean_rotations: list[JSON] = []
    for i, rotation in enumerate(rotations):
        events = rotation.get("events") if isinstance(rotation, dict) else None
        if not isinstance(events, list):
            raise AccountError(f"rotations[{i}].events must be a list")
        clean_events: list[JSON] = []
        for j, event in enumerate(events):
            where = f"rotations[{i}].events[{j}]"
            if not isinstance(event, dict):
                raise AccountError(f"{where} must be an object")
            strategy = event.get("assignment_strategy")
            if not isinstance(strategy, dict):
                raise AccountError(f"{where}.assignment_strategy is required")
            _enum(
                strategy,
                "type",
                ("rotating_member_assignment_strategy", "every_member_assignment_strategy"),
                None,
            )
            members = strategy.get("members")
            if not isinstance(members, list) or not 1 <= len(members) <= 20:
                raise AccountError(f"{where}.assignment_strategy.members must hold 1 to 20 members")
            for k, member in enumerate(members):
                if not isinstance(member, dict):
                    raise AccountError(
                        f"{where}.assignment_strategy.members[{k}] must be an object"
                    )
                if (
                    member.get("type") == "user_member"
                    and member.get("user_id") not in account.users
                ):
                    raise AccountError(
                        f"{where}.assignment_strategy.members[{k}]: user "
                        f"{member.get('user_id')!r} does not exist"
                    )
            for key in ("name", "start_time", "end_time", "effective_since", "recurrence"):
                if event.get(key) is None:
                    raise AccountError(f"{where}.{key} is required")
            clean_events.append(
                {**event, "id": event.get("id") or new_long_id(), "type": "schedule_event"}
            )
        clean_rotations.append(
            {
                "id": rotation.get("id") or new_long_id(),
                "type": "schedule_rotation",
                "events": clean_events,
            }
        )
    return {
        "id": object_id,
        "type": "schedule_v3",
        "name": _str(obj, "name", required=True, max_len=255),
        "description": _str(obj, "description", required=False, max_len=1024),
        "time_zone": tz,
        "rotations": clean_rotations,
        "teams": team_refs(account, obj),
    }


def _target(account: Account, value: Any, where: str) -> JSON:
    target_id = _ref_id(value, where)
    kind = value.get("type")
    if kind not in TARGET_TYPES:
        raise AccountError(f"{where}.type must be one of {', '.join(TARGET_TYPES)}")
    if kind in ("user", "user_reference"):
        if target_id not in account.users:
            raise AccountError(f"{where}: user {target_id!r} does not exist")
        return {"id": target_id, "type": "user_reference"}
    schedule = account.schedules.get(target_id)
    if schedule is None:
        raise AccountError(f"{where}: schedule {target_id!r} does not exist")
    v3 = schedule.get("type") == "schedule_v3"
    return {"id": target_id, "type": "schedule_v3_reference" if v3 else "schedule_reference"}


def clean_policy(
    account: Account,
    obj: JSON,
    object_id: str,
    new_id: Any,
    *,
    seen: dict[str, str] | None = None,
) -> JSON:
    name = _str(obj, "name", required=True, max_len=255)
    assert name is not None
    other_id = _taken(account.escalation_policies, "name", name, object_id, seen)
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
                "id": rule.get("id") if isinstance(rule.get("id"), str) else new_id(),
                "escalation_delay_in_minutes": _int(rule, "escalation_delay_in_minutes", None),
                "escalation_rule_assignment_strategy": strategy,
                "targets": [
                    _target(account, t, f"{where}.targets[{j}]") for j, t in enumerate(targets)
                ],
            }
        )
    return {
        "id": object_id,
        "type": "escalation_policy",
        "name": name,
        "description": _str(obj, "description", required=False),
        "num_loops": _num_loops(obj),
        "on_call_handoff_notifications": _enum(
            obj, "on_call_handoff_notifications", HANDOFF, "if_has_services"
        ),
        "escalation_rules": clean_rules,
        "teams": team_refs(account, obj, at_most=1),
    }


def _num_loops(obj: JSON) -> int:
    loops = _int(obj, "num_loops", 0)
    if loops > 9:  # PagerDuty's web app and API allow 0 to 9 repeats
        raise AccountError("'num_loops' must be between 0 and 9")
    return loops


def clean_service(account: Account, obj: JSON, object_id: str) -> JSON:
    name = _str(obj, "name", required=True, max_len=255)
    ep = obj.get("escalation_policy")
    ep_id = _ref_id(ep, "escalation_policy")
    if ep_id not in account.escalation_policies:
        raise AccountError(f"escalation_policy {ep_id!r} does not exist")
    return {
        "id": object_id,
        "type": "service",
        "name": name,
        "description": _str(obj, "description", required=False),
        "status": obj.get("status", "active"),
        "escalation_policy": {"id": ep_id, "type": "escalation_policy_reference"},
        "teams": team_refs(account, obj),
    }
