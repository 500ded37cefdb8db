"""The account file (``--load``/``--save``): PagerDuty's own object shapes, checked like writes.

``parse_account(data)`` checks objects in dependency order (users, teams, memberships, schedules,
policies, services) with the same rules as the write endpoints, so a loaded account is one the API
could have built, and returns them for the account to install. A problem raises ``AccountError``
naming the list, the position and the id, e.g.
``escalation_policies[3] (PABC123): escalation_rules[0].targets[1]: user 'PX' does not exist``.
Schedule overrides come last (``"overrides"``, see ``overrides.py``), checked against the
schedules and users before them. ``dump_account(state)`` is the inverse; overrides and audit
records are kept once there are any.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pdsearch.simulator import validation
from pdsearch.simulator.account_state import AccountState
from pdsearch.simulator.audit import record_time
from pdsearch.simulator.constants import TEAM_ROLES
from pdsearch.simulator.errors import AccountError
from pdsearch.simulator.ids import IdMaker
from pdsearch.simulator.objects import Objects

JSON = dict[str, Any]

_LISTS = ("users", "teams", "memberships", "schedules", "escalation_policies", "services")
_KNOWN_KEYS = (*_LISTS, "subdomain", "region", "abilities", "overrides", "audit_records")


@dataclass
class LoadedAccount:
    subdomain: str
    region: str
    objects: Objects
    abilities: list[str] | None = None
    audit_records: list[JSON] = field(default_factory=list)


def is_account_file(path: Path) -> bool:
    """True for a file ``Account.save`` wrote (JSON with the account's keys): ``--save`` may
    overwrite it, but not some other file given by mistake."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and {"subdomain", "users", "teams"} <= data.keys()


def read_account(path: str | Path) -> LoadedAccount:
    """``parse_account`` of a file; every error names the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AccountError(f"cannot read account file {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AccountError(
            f"account file {path} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg})"
        ) from None
    try:
        return parse_account(data)
    except AccountError as exc:
        raise AccountError(f"account file {path}: {exc}") from None


def write_account(path: str | Path, data: JSON) -> None:
    """Write ``data`` atomically (a temporary file, then a rename)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise AccountError(
            f"cannot write account file {path}: {exc.strerror or exc}; "
            "check that its folder exists and is writable"
        ) from None


def dump_account(state: AccountState) -> JSON:
    """The file's content: objects as written, plus memberships and, once there are any, the
    overrides (of schedules and users that still exist) and the audit records (oldest first), so
    a reloaded account renders and answers /audit/records as before."""
    with state.lock:
        data: JSON = {
            "subdomain": state.subdomain,
            "region": state.region,
            "abilities": list(state.abilities),
            "users": [dict(u) for u in state.users.values()],
            "teams": [dict(t) for t in state.teams.values()],
            "memberships": [
                {"team_id": team_id, "user_id": m["user_id"], "role": m["role"]}
                for team_id, members in state.memberships.items()
                for m in members
            ],
            "schedules": _copy(list(state.schedules.values())),
            "escalation_policies": _copy(list(state.escalation_policies.values())),
            "services": _copy(list(state.services.values())),
        }
        if state.overrides:
            data["overrides"] = state.overrides.to_json(state.schedules, state.users)
        if state.audit_records:
            data["audit_records"] = _copy(list(state.audit_records))
        return data


def _copy(items: list[JSON]) -> list[JSON]:
    copied: list[JSON] = json.loads(json.dumps(items))
    return copied


def parse_account(data: Any) -> LoadedAccount:
    """Check ``to_json()``-shaped data; raises ``AccountError`` saying what is wrong and where."""
    if not isinstance(data, dict):
        raise AccountError("the account file must hold a JSON object")
    unknown = sorted(k for k in data if k not in _KNOWN_KEYS)
    if unknown:
        raise AccountError(
            f"unknown top-level keys {', '.join(unknown)}; expected {', '.join(_LISTS)}"
        )
    subdomain = data.get("subdomain", "acme")
    region = data.get("region", "us")
    if not isinstance(subdomain, str) or not subdomain:
        raise AccountError("'subdomain' must be a non-empty string")
    if region not in ("us", "eu"):
        raise AccountError(f"region must be 'us' or 'eu', not {region!r}")
    abilities = data.get("abilities")
    if abilities is not None and (
        not isinstance(abilities, list) or not all(isinstance(a, str) for a in abilities)
    ):
        raise AccountError("'abilities' must be a list of strings")
    objects = _parse_objects(data)
    return LoadedAccount(
        subdomain, region, objects, abilities, _audit_records(_items(data, "audit_records", False))
    )


def _items(data: JSON, name: str, required: bool) -> list[Any]:
    value = data.get(name)
    if value is None:
        if required:
            raise AccountError(f"'{name}' is missing; it must be a list (it may be empty)")
        return []
    if not isinstance(value, list):
        raise AccountError(f"'{name}' must be a list, not {type(value).__name__}")
    return value


def _each(
    data: JSON,
    name: str,
    required: bool,
    store: dict[str, JSON],
    clean: Callable[[JSON, str], JSON],
) -> None:
    for i, item in enumerate(_items(data, name, required)):
        if not isinstance(item, dict):
            raise AccountError(f"{name}[{i}] must be an object")
        object_id = item.get("id")
        if not isinstance(object_id, str) or not object_id:
            raise AccountError(f"{name}[{i}] has no 'id'")
        if object_id in store:
            raise AccountError(f"{name}[{i}]: the id {object_id} is used twice")
        try:
            store[object_id] = clean(item, object_id)
        except AccountError as exc:
            raise AccountError(f"{name}[{i}] ({object_id}): {exc}") from None


def _parse_objects(data: JSON) -> Objects:
    objects = Objects()
    # Parts a file leaves without an id get new ones that avoid every id the file uses.
    ids = IdMaker(random.Random(0), _ids_in(data))
    emails: dict[str, str] = {}
    team_names: dict[str, str] = {}
    policy_names: dict[str, str] = {}

    _each(
        data,
        "users",
        True,
        objects.users,
        lambda o, i: validation.clean_user(objects, o, i, loading=True, seen=emails),
    )
    owners = [u for u, v in objects.users.items() if v["role"] == "owner"]
    if len(owners) != 1:
        raise AccountError(
            f"the account must have exactly one user with role owner, found {len(owners)}"
        )
    _each(
        data,
        "teams",
        True,
        objects.teams,
        lambda o, i: validation.clean_team(objects, o, i, seen=team_names),
    )
    _memberships(objects, _items(data, "memberships", False))

    def clean_schedule(obj: JSON, object_id: str) -> JSON:
        if obj.get("type") == "schedule_v3":
            return validation.clean_schedule_v3(objects, obj, object_id, ids.long)
        return validation.clean_schedule(objects, obj, object_id, ids.new)

    _each(data, "schedules", True, objects.schedules, clean_schedule)
    _each(
        data,
        "escalation_policies",
        True,
        objects.escalation_policies,
        lambda o, i: validation.clean_policy(objects, o, i, ids.new, seen=policy_names),
    )
    _each(
        data,
        "services",
        False,
        objects.services,
        lambda o, i: validation.clean_service(objects, o, i),
    )
    objects.overrides.load(_items(data, "overrides", False), objects.schedules, objects.users)
    return objects


def _memberships(objects: Objects, items: list[Any]) -> None:
    for i, m in enumerate(items):
        where = f"memberships[{i}]"
        if not isinstance(m, dict):
            raise AccountError(f"{where} must be an object with team_id, user_id and role")
        team_id, user_id, role = m.get("team_id"), m.get("user_id"), m.get("role", "manager")
        if not isinstance(team_id, str) or team_id not in objects.teams:
            raise AccountError(f"{where}: team {team_id!r} does not exist")
        if not isinstance(user_id, str) or user_id not in objects.users:
            raise AccountError(f"{where}: user {user_id!r} does not exist")
        if role not in TEAM_ROLES:
            raise AccountError(f"{where}: role must be one of {', '.join(TEAM_ROLES)}")
        members = objects.memberships.setdefault(team_id, [])
        if any(x["user_id"] == user_id for x in members):
            raise AccountError(f"{where}: user {user_id} is on team {team_id} twice")
        members.append({"user_id": user_id, "role": role})


def _audit_records(items: list[Any]) -> list[JSON]:
    seen: set[str] = set()
    for i, record in enumerate(items):
        where = f"audit_records[{i}]"
        if not isinstance(record, dict):
            raise AccountError(f"{where} must be an object")
        for key in ("id", "execution_time", "action", "root_resource", "method"):
            if not record.get(key):
                raise AccountError(f"{where} has no '{key}'")
        try:
            record_time(record)
        except AccountError as exc:
            raise AccountError(f"{where}.{exc}") from None
        root = record["root_resource"]
        if not isinstance(root, dict) or not root.get("id") or not root.get("type"):
            raise AccountError(f"{where}.root_resource must be a reference with id and type")
        if record["id"] in seen:
            raise AccountError(f"{where}: the id {record['id']} is used twice")
        seen.add(record["id"])
    return items


def _ids_in(data: Any) -> set[str]:
    """Every string under an ``id`` key anywhere in ``data``."""
    found: set[str] = set()
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("id"), str):
                found.add(item["id"])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found
