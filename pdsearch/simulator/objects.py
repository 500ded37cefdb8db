"""The account's objects by kind: what the generator and the loader build and the account installs.

Stored objects hold only what a client sets (PagerDuty's request shapes), references reduced to
``{"id", "type"}``; everything PagerDuty derives on read is computed by the account's renderers.
``Objects`` is plain data plus lookups: the checks in ``validation.py`` read it for references and
uniqueness, so a generated, loaded or written account obeys the same rules. Schedule overrides
travel with the objects (``overrides``, an ``OverrideStore``): the generator seeds some, the
account file carries them, the writer changes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pdsearch.simulator.constants import KINDS
from pdsearch.simulator.errors import AccountError, NotFound
from pdsearch.simulator.overrides import OverrideStore

JSON = dict[str, Any]


@dataclass
class Objects:
    users: dict[str, JSON] = field(default_factory=dict)
    teams: dict[str, JSON] = field(default_factory=dict)
    memberships: dict[str, list[JSON]] = field(default_factory=dict)  # team -> [{user_id, role}]
    schedules: dict[str, JSON] = field(default_factory=dict)  # v2 ("schedule") and v3
    escalation_policies: dict[str, JSON] = field(default_factory=dict)
    services: dict[str, JSON] = field(default_factory=dict)
    overrides: OverrideStore = field(default_factory=OverrideStore)  # of layer-based schedules

    def of_kind(self, kind: str) -> dict[str, JSON]:
        """The dict holding ``kind`` (v2 and v3 schedules share one)."""
        if kind in ("schedules", "schedules_v3"):
            return self.schedules
        if kind == "users":
            return self.users
        if kind == "teams":
            return self.teams
        if kind == "escalation_policies":
            return self.escalation_policies
        if kind == "services":
            return self.services
        raise AccountError(f"unknown kind {kind!r}; known kinds: {', '.join(KINDS)}")

    def get(self, kind: str, object_id: str) -> JSON:
        """The stored object (not a copy; change it only through the writer)."""
        obj = self.of_kind(kind).get(object_id)
        if obj is None or not kind_matches(kind, obj):
            raise NotFound(kind, object_id)
        return obj

    def exists(self, kind: str, object_id: str) -> bool:
        obj = self.of_kind(kind).get(object_id)
        return obj is not None and kind_matches(kind, obj)

    def schedule_kind(self, schedule_id: str) -> str:
        """``schedules`` or ``schedules_v3`` for a stored schedule id."""
        obj = self.schedules.get(schedule_id)
        if obj is None:
            raise NotFound("schedules", schedule_id)
        return "schedules_v3" if obj.get("type") == "schedule_v3" else "schedules"

    @property
    def owner_id(self) -> str:
        for user_id, user in self.users.items():
            if user.get("role") == "owner":
                return user_id
        raise AccountError("the account has no owner")

    def ids_in_use(self) -> set[str]:
        """Every id an object or one of its parts (layer, rule, rotation, event) carries."""
        taken: set[str] = set()
        for store in (self.users, self.teams, self.schedules, self.escalation_policies):
            taken.update(store)
        taken.update(self.services)
        for schedule in self.schedules.values():
            taken.update(layer.get("id", "") for layer in schedule.get("schedule_layers") or [])
            for rotation in schedule.get("rotations") or []:
                taken.add(rotation.get("id", ""))
                taken.update(event.get("id", "") for event in rotation.get("events", []))
        for policy in self.escalation_policies.values():
            taken.update(rule.get("id", "") for rule in policy.get("escalation_rules", []))
        taken.discard("")
        return taken


def kind_matches(kind: str, obj: JSON) -> bool:
    if kind == "schedules":
        return obj.get("type") != "schedule_v3"
    if kind == "schedules_v3":
        return obj.get("type") == "schedule_v3"
    return True


def schedule_user_ids(schedule: JSON) -> list[str]:
    """Every user on a schedule (v2 layers or v3 events), first appearance first, no repeats."""
    seen: dict[str, None] = {}
    for layer in schedule.get("schedule_layers") or []:
        for entry in layer.get("users", []):
            seen.setdefault(entry["user"]["id"], None)
    for rotation in schedule.get("rotations") or []:
        for event in rotation.get("events", []):
            for member in event.get("assignment_strategy", {}).get("members", []):
                if member.get("type") == "user_member" and member.get("user_id"):
                    seen.setdefault(member["user_id"], None)
    return list(seen)


def target_ids(policy: JSON) -> list[str]:
    """Every target of a policy's rules (users and schedules), first appearance first."""
    seen: dict[str, None] = {}
    for rule in policy.get("escalation_rules", []):
        for target in rule.get("targets", []):
            seen.setdefault(target["id"], None)
    return list(seen)
