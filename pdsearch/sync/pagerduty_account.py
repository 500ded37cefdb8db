"""What one sync knows of a PagerDuty account, and how it is kept between syncs.

A full sync reads the whole account into an ``AccountData``; an incremental one starts from the
data the last sync kept (``snapshot``/``restore``, JSON by kind and id, stored by the service in
``store.sync_state``) and patches in what changed. Documents and entities are always made from
the whole ``AccountData`` (``pdsearch.documents`` resolves every id to a name, and a schedule's
document names the policies that page it), so a user renamed re-renders every document naming
them without anything read but that user.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from pdsearch.documents import POLICY_TYPE, SCHEDULE_TYPE
from pdsearch.documents.context import is_schedule
from pdsearch.pagerduty.models import (
    EscalationPolicy,
    Schedule,
    ScheduleV3,
    Service,
    Team,
    TeamMember,
    User,
)

M = TypeVar("M", bound=BaseModel)

#: The kinds kept, as ``store.sync_state`` names them.
USERS, TEAMS, POLICIES, SCHEDULES, SCHEDULES_V3, MEMBERS, SERVICES = (
    "users", "teams", "escalation_policies", "schedules", "schedules_v3", "members", "services")


class SnapshotError(Exception):
    """The kept data cannot be read back (written by another version): sync in full."""


@dataclass
class AccountData:
    """Everything one sync knows of the account, by id (insertion order = listing order)."""

    subdomain: str = ""
    users: dict[str, User] = field(default_factory=dict)
    teams: dict[str, Team] = field(default_factory=dict)
    policies: dict[str, EscalationPolicy] = field(default_factory=dict)
    schedules: dict[str, Schedule] = field(default_factory=dict)
    schedules_v3: dict[str, ScheduleV3] = field(default_factory=dict)
    #: Every service, for what each is for (a policy's document says it); empty when the
    #: credential may not read services.
    services: dict[str, Service] = field(default_factory=dict)
    #: Team id -> its member listing, only when the users listing did not carry teams.
    memberships: dict[str, list[TeamMember]] | None = None

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """kind -> id -> JSON, for ``store.sync_state``."""
        out: dict[str, dict[str, Any]] = {
            kind: {i: _dump(o) for i, o in objects.items()}
            for kind, objects in self._kinds().items()
        }
        if self.memberships is not None:
            out[MEMBERS] = {t: {"members": [_dump(m) for m in ms]}
                            for t, ms in self.memberships.items()}
        return out

    def dump_one(self, kind: str, object_id: str) -> Any | None:
        """One object's JSON as ``snapshot`` writes it, or None when it is not kept."""
        if kind == MEMBERS:
            ms = (self.memberships or {}).get(object_id)
            return None if ms is None else {"members": [_dump(m) for m in ms]}
        obj = self._kinds()[kind].get(object_id)
        return None if obj is None else _dump(obj)

    def references(self) -> dict[str, set[str]]:
        """Object id -> the ids of the documents that show something of it (its own document
        too). What a document shows of another object is what ``pdsearch.documents`` resolves:
        users and teams by name, a policy's schedule targets by name, a schedule's policies by
        name and levels (the policies that target it, and those PagerDuty lists on it)."""
        out: dict[str, set[str]] = {}

        def note(object_id: str, doc_id: str) -> None:
            out.setdefault(object_id, set()).add(doc_id)

        for policy in self.policies.values():
            doc_id = f"{POLICY_TYPE}:{policy.id}"
            note(policy.id, doc_id)
            for ref in policy.teams:
                note(ref.id, doc_id)
            for service in policy.services:  # named, with what it is for
                note(service.id, doc_id)
            for rule in policy.escalation_rules:
                for target in rule.targets:
                    note(target.id, doc_id)
                    if is_schedule(target):  # the schedule's document names this policy
                        note(policy.id, f"{SCHEDULE_TYPE}:{target.id}")
        schedules: list[Schedule | ScheduleV3] = [*self.schedules.values(),
                                                  *self.schedules_v3.values()]
        for schedule in schedules:
            doc_id = f"{SCHEDULE_TYPE}:{schedule.id}"
            for ref in [*schedule.teams, *schedule.users, *schedule.escalation_policies]:
                note(ref.id, doc_id)
            note(schedule.id, doc_id)
            for user_id in _schedule_user_ids(schedule):
                note(user_id, doc_id)
        return out

    def document_ids(self) -> set[str]:
        """Every document this account makes."""
        return {f"{POLICY_TYPE}:{i}" for i in self.policies} | {
            f"{SCHEDULE_TYPE}:{i}" for i in [*self.schedules, *self.schedules_v3]}

    def remove(self, kind: str, object_id: str) -> bool:
        """Forget one object; True when it was kept."""
        return self._kinds()[kind].pop(object_id, None) is not None

    def _kinds(self) -> dict[str, dict[str, Any]]:
        return {USERS: self.users, TEAMS: self.teams, POLICIES: self.policies,
                SCHEDULES: self.schedules, SCHEDULES_V3: self.schedules_v3,
                SERVICES: self.services}


def restore(subdomain: str, kept: dict[str, dict[str, Any]]) -> AccountData:
    """The ``AccountData`` a ``snapshot`` was made from (``SnapshotError`` if unreadable)."""
    try:
        data = AccountData(
            subdomain=subdomain,
            users=_load(User, kept.get(USERS, {})),
            teams=_load(Team, kept.get(TEAMS, {})),
            policies=_load(EscalationPolicy, kept.get(POLICIES, {})),
            schedules=_load(Schedule, kept.get(SCHEDULES, {})),
            schedules_v3=_load(ScheduleV3, kept.get(SCHEDULES_V3, {})),
            services=_load(Service, kept.get(SERVICES, {})),
        )
        if MEMBERS in kept:
            data.memberships = {
                t: [TeamMember.model_validate(m)
                    for m in (json.loads(v) if isinstance(v, str) else v)["members"]]
                for t, v in kept[MEMBERS].items()
            }
    except (ValidationError, KeyError, TypeError, ValueError) as exc:
        raise SnapshotError(f"the objects kept by the last sync cannot be read ({exc})") from None
    return data


def _dump(obj: BaseModel) -> Any:
    return obj.model_dump(mode="json", by_alias=True, exclude_defaults=True)


def _load(model: type[M], raw: dict[str, Any]) -> dict[str, M]:
    """Objects from JSON text (parsed and validated in one step) or from parsed JSON."""
    from_text: Callable[[str], M] = model.model_validate_json
    from_json: Callable[[Any], M] = model.model_validate
    return {object_id: from_text(data) if isinstance(data, str) else from_json(data)
            for object_id, data in raw.items()}


def _schedule_user_ids(schedule: Schedule | ScheduleV3) -> set[str]:
    if isinstance(schedule, Schedule):
        return {u.user.id for layer in schedule.schedule_layers for u in layer.users}
    return {m.user_id for rotation in schedule.rotations for event in rotation.events
            for m in event.assignment_strategy.members if m.user_id}
