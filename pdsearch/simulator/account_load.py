"""Loading an account file (``--load``): PagerDuty's own object shapes, checked like writes.

Objects are checked in dependency order (users, teams, memberships, schedules, policies,
services) with the same rules as the write endpoints, so a loaded account is one the API could
have built. A problem raises ``AccountError`` naming the list, the position and the id, e.g.
``escalation_policies[3] (PABC123): escalation_rules[0].targets[1]: user 'PX' does not exist``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pdsearch.simulator import validation
from pdsearch.simulator.account_writes import ROOT_TYPE_OF
from pdsearch.simulator.errors import AccountError

if TYPE_CHECKING:
    from pdsearch.simulator.account import Account

JSON = dict[str, Any]

_LISTS = ("users", "teams", "memberships", "schedules", "escalation_policies", "services")


def is_account_file(path: Path) -> bool:
    """True for a file ``Account.save`` wrote (JSON with the account's keys): ``--save`` may
    overwrite it, but not some other file given by mistake."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and {"subdomain", "users", "teams"} <= data.keys()


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


def load_into(account: Account, data: JSON) -> None:
    known = (*_LISTS, "subdomain", "region", "abilities", "audit_records")
    unknown = sorted(k for k in data if k not in known)
    if unknown:
        raise AccountError(
            f"unknown top-level keys {', '.join(unknown)}; expected {', '.join(_LISTS)}"
        )
    abilities = data.get("abilities")
    if abilities is not None:
        if not isinstance(abilities, list) or not all(isinstance(a, str) for a in abilities):
            raise AccountError("'abilities' must be a list of strings")
        account.abilities = list(abilities)
    emails: dict[str, str] = {}
    team_names: dict[str, str] = {}
    policy_names: dict[str, str] = {}

    _each(
        data,
        "users",
        True,
        account.users,
        lambda o, i: validation.clean_user(account, o, i, loading=True, seen=emails),
    )
    owners = [u for u, v in account.users.items() if v["role"] == "owner"]
    if len(owners) != 1:
        raise AccountError(
            f"the account must have exactly one user with role owner, found {len(owners)}"
        )
    _each(
        data,
        "teams",
        True,
        account.teams,
        lambda o, i: validation.clean_team(account, o, i, seen=team_names),
    )

    for i, m in enumerate(_items(data, "memberships", False)):
        where = f"memberships[{i}]"
        if not isinstance(m, dict):
            raise AccountError(f"{where} must be an object with team_id, user_id and role")
        team_id, user_id, role = m.get("team_id"), m.get("user_id"), m.get("role", "manager")
        if team_id not in account.teams:
            raise AccountError(f"{where}: team {team_id!r} does not exist")
        if user_id not in account.users:
            raise AccountError(f"{where}: user {user_id!r} does not exist")
        if role not in validation.TEAM_ROLES:
            raise AccountError(f"{where}: role must be one of {', '.join(validation.TEAM_ROLES)}")
        members = account.memberships.setdefault(str(team_id), [])
        if any(x["user_id"] == user_id for x in members):
            raise AccountError(f"{where}: user {user_id} is on team {team_id} twice")
        members.append({"user_id": user_id, "role": role})

    def clean_schedule(obj: JSON, object_id: str) -> JSON:
        if obj.get("type") == "schedule_v3":
            return validation.clean_schedule_v3(account, obj, object_id, account._new_long_id)
        return validation.clean_schedule(account, obj, object_id, account.new_id)

    _each(data, "schedules", True, account.schedules, clean_schedule)
    _each(
        data,
        "escalation_policies",
        True,
        account.escalation_policies,
        lambda o, i: validation.clean_policy(account, o, i, account.new_id, seen=policy_names),
    )
    _each(
        data,
        "services",
        False,
        account.services,
        lambda o, i: validation.clean_service(account, o, i),
    )
    _audit_records(account, data)
    account._id_counter = len(account.audit_records)
    account._ids = None  # new ids must avoid every loaded one
    account._touch()


def _audit_records(account: Account, data: JSON) -> None:
    for i, record in enumerate(_items(data, "audit_records", False)):
        where = f"audit_records[{i}]"
        if not isinstance(record, dict):
            raise AccountError(f"{where} must be an object")
        for key in ("id", "execution_time", "action", "root_resource", "method"):
            if not record.get(key):
                raise AccountError(f"{where} has no '{key}'")
        try:
            when = datetime.fromisoformat(str(record["execution_time"]).replace("Z", "+00:00"))
        except ValueError:
            raise AccountError(f"{where}.execution_time is not an ISO 8601 date-time") from None
        if when.tzinfo is None:
            raise AccountError(f"{where}.execution_time needs a UTC offset")
        root = record["root_resource"]
        if not isinstance(root, dict) or not root.get("id") or not root.get("type"):
            raise AccountError(f"{where}.root_resource must be a reference with id and type")
        if record["id"] in account.audit_records.ids():
            raise AccountError(f"{where}: the id {record['id']} is used twice")
        ref_type = str(root["type"]).removesuffix("_reference")
        account.audit_records.add(when, ROOT_TYPE_OF.get(ref_type, ref_type), record)
