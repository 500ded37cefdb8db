"""Writes to the simulated account: create, update, delete, team membership; each one audited.

Bodies are the inner objects of PagerDuty's request envelopes (``{"schedule": {...}}`` → the
``{...}``); the app unwraps them. Updates are PUTs as PagerDuty treats them: fields given replace
the stored ones, fields left out keep their value (``schedule_layers`` and ``escalation_rules``,
when given, replace the whole list). Every write appends one audit record in the spec's
``AuditRecord`` shape.

Deletes follow PagerDuty's refusals rather than leave dangling references:

- a user who is the account owner, or the only user of a schedule layer, or the only target of an
  escalation rule, or the only member of a v3 event, cannot be deleted (``AccountError``);
  otherwise the user leaves every team, layer, rule and event;
- a schedule used as a target by an escalation policy cannot be deleted;
- an escalation policy used by a service cannot be deleted;
- deleting a team unassigns it from schedules, policies and services and ends its memberships.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterable, KeysView
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pdsearch.simulator import validation
from pdsearch.simulator.errors import AccountError, NotFound

if TYPE_CHECKING:
    from pdsearch.simulator.generator import IdMaker

JSON = dict[str, Any]

# kind -> the root_resource_types[] value of /audit/records
AUDIT_TYPES = {
    "users": "users",
    "teams": "teams",
    "schedules": "schedules",
    "schedules_v3": "schedules",
    "escalation_policies": "escalation_policies",
    "services": "services",
}
_SCALAR_FIELDS = (
    "name",
    "email",
    "role",
    "time_zone",
    "job_title",
    "description",
    "default_role",
    "num_loops",
    "on_call_handoff_notifications",
    "color",
)
AUDIT_METHODS = ("browser", "oauth", "api_token", "identity_provider", "other")
_LIST_FIELDS = ("schedule_layers", "rotations", "escalation_rules")


class Actor:
    """Who made a write, for its audit record: a user (or none: an account-level key) and how."""

    def __init__(
        self,
        user_id: str | None = None,
        method: str = "api_token",
        token_tail: str | None = None,
        *,
        request_id: str | None = None,
        remote_address: str | None = "127.0.0.1",
    ) -> None:
        if method not in AUDIT_METHODS:
            raise ValueError(f"method must be one of {', '.join(AUDIT_METHODS)}")
        self.user_id = user_id
        self.method = method
        self.token_tail = token_tail  # the last 4 characters at most; never the whole secret
        self.request_id = request_id
        self.remote_address = remote_address


class AccountWrites:
    """Mixed into ``Account``; see the module docstring for the rules."""

    if TYPE_CHECKING:
        users: dict[str, JSON]
        teams: dict[str, JSON]
        memberships: dict[str, list[JSON]]
        schedules: dict[str, JSON]
        escalation_policies: dict[str, JSON]
        services: dict[str, JSON]
        lock: threading.RLock
        clock: Callable[[], datetime]
        _id_counter: int

        def get(self, kind: str, object_id: str) -> JSON: ...
        def ref(self, kind: str, object_id: str) -> JSON: ...
        def render(self, kind: str, object_id: str) -> JSON: ...
        def _touch(self, *kinds: str) -> None: ...

    audit_records: AuditTrail
    _ids: IdMaker | None

    # ------------------------------------------------------------------ ids

    def _id_maker(self) -> IdMaker:
        from pdsearch.simulator.generator import IdMaker

        if self._ids is None:
            taken: set[str] = set()
            for store in (
                self.users,
                self.teams,
                self.schedules,
                self.escalation_policies,
                self.services,
            ):
                taken.update(store)
            for schedule in self.schedules.values():
                taken.update(layer.get("id", "") for layer in schedule.get("schedule_layers") or [])
            for policy in self.escalation_policies.values():
                taken.update(rule.get("id", "") for rule in policy.get("escalation_rules", []))
            self._ids = IdMaker(random.Random(len(taken)), taken)
        return self._ids

    def new_id(self) -> str:
        return self._id_maker().new()

    def _new_long_id(self) -> str:
        return self._id_maker().long()

    # ------------------------------------------------------------------ create / update / delete

    def _clean(self, kind: str, obj: JSON, object_id: str) -> JSON:
        if not isinstance(obj, dict):
            raise AccountError(f"the {kind} body must be a JSON object")
        if kind == "users":
            return validation.clean_user(self, obj, object_id)
        if kind == "teams":
            return validation.clean_team(self, obj, object_id)
        if kind == "schedules":
            return validation.clean_schedule(self, obj, object_id, self.new_id)
        if kind == "schedules_v3":
            return validation.clean_schedule_v3(self, obj, object_id, self._new_long_id)
        if kind == "escalation_policies":
            return validation.clean_policy(self, obj, object_id, self.new_id)
        if kind == "services":
            return validation.clean_service(self, obj, object_id)
        raise AccountError(f"unknown kind {kind!r}")

    def create(self, kind: str, obj: JSON, *, actor: Actor | None = None) -> JSON:
        """Store a new object; returns it rendered as the create endpoint answers."""
        with self.lock:
            if kind == "users" and isinstance(obj, dict) and obj.get("role") == "owner":
                raise AccountError("an account has exactly one owner; choose another role")
            object_id = self.new_id()
            clean = self._clean(kind, obj, object_id)
            self._store(kind)[object_id] = clean
            self._touch(kind)
            fields = [
                {"name": f, "value": _text(clean[f])}
                for f in _SCALAR_FIELDS
                if clean.get(f) is not None
            ]
            references = []
            if clean.get("teams"):
                references.append(
                    {"name": "teams", "added": [self.ref("teams", t["id"]) for t in clean["teams"]]}
                )
            self._record(kind, object_id, "create", actor, fields=fields, references=references)
            return self.render(kind, object_id)

    def update(self, kind: str, object_id: str, obj: JSON, *, actor: Actor | None = None) -> JSON:
        """Change an object: fields given replace stored ones; returns it rendered."""
        with self.lock:
            before = self.get(kind, object_id)
            if not isinstance(obj, dict):
                raise AccountError(f"the {kind} body must be a JSON object")
            merged = {**before, **{k: v for k, v in obj.items() if k not in ("id", "type")}}
            if kind == "schedules_v3" and "rotations" not in obj:
                merged["rotations"] = before.get("rotations", [])
            clean = self._clean(kind, merged, object_id)
            self._store(kind)[object_id] = clean
            self._touch(kind)
            fields = [
                {"name": f, "before_value": _text(before.get(f)), "value": _text(clean.get(f))}
                for f in _SCALAR_FIELDS
                if before.get(f) != clean.get(f)
            ]
            fields += [
                {"name": f, "value": None}
                for f in _LIST_FIELDS
                if f in clean and before.get(f) != clean.get(f)
            ]
            references = self._team_changes(before.get("teams"), clean.get("teams"))
            self._record(kind, object_id, "update", actor, fields=fields, references=references)
            return self.render(kind, object_id)

    def delete(self, kind: str, object_id: str, *, actor: Actor | None = None) -> None:
        """Remove an object, or refuse as PagerDuty does (see the module docstring)."""
        with self.lock:
            obj = self.get(kind, object_id)
            root = self.ref(kind, object_id)
            if kind == "users":
                self._delete_user(object_id, actor)
            elif kind in ("schedules", "schedules_v3"):
                users = self._policies_targeting(object_id)
                if users:
                    raise AccountError(
                        f"schedule {object_id} can't be deleted while escalation policies use it: "
                        f"{', '.join(users)}; remove it from those policies first"
                    )
            elif kind == "escalation_policies":
                services = [
                    s
                    for s, v in self.services.items()
                    if (v.get("escalation_policy") or {}).get("id") == object_id
                ]
                if services:
                    raise AccountError(
                        f"escalation policy {object_id} is used by services {', '.join(services)}; "
                        "move those services to another policy first"
                    )
            elif kind == "teams":
                self._unassign_team(object_id, actor)
            del self._store(kind)[object_id]
            self._touch(kind)
            fields = [
                {"name": f, "before_value": _text(obj[f])}
                for f in _SCALAR_FIELDS
                if obj.get(f) is not None
            ]
            self._record(kind, object_id, "delete", actor, fields=fields, root=root)

    def _store(self, kind: str) -> dict[str, JSON]:
        if kind in ("schedules", "schedules_v3"):
            return self.schedules
        store: dict[str, JSON] = getattr(self, kind)
        return store

    def _policies_targeting(self, target_id: str) -> list[str]:
        return [
            policy_id
            for policy_id, policy in self.escalation_policies.items()
            if any(t["id"] == target_id for r in policy["escalation_rules"] for t in r["targets"])
        ]

    def _delete_user(self, user_id: str, actor: Actor | None) -> None:
        if self.users[user_id].get("role") == "owner":
            raise AccountError("the account owner can't be deleted; transfer ownership first")
        blockers: list[str] = []
        for schedule_id, schedule in self.schedules.items():
            for layer in schedule.get("schedule_layers") or []:
                if [u["user"]["id"] for u in layer["users"]] == [user_id]:
                    blockers.append(f"the only user of a layer of schedule {schedule_id}")
            for rotation in schedule.get("rotations") or []:
                for event in rotation.get("events", []):
                    members = event.get("assignment_strategy", {}).get("members", [])
                    if [m.get("user_id") for m in members] == [user_id]:
                        blockers.append(f"the only member of an event of schedule {schedule_id}")
        for policy_id, policy in self.escalation_policies.items():
            for rule in policy["escalation_rules"]:
                if [t["id"] for t in rule["targets"]] == [user_id]:
                    blockers.append(f"the only target of a rule of escalation policy {policy_id}")
        if blockers:
            raise AccountError(
                f"user {user_id} can't be deleted: they are {'; '.join(sorted(set(blockers)))}. "
                "Replace them there first."
            )
        for team_id in [
            t for t, ms in self.memberships.items() if any(m["user_id"] == user_id for m in ms)
        ]:
            self.remove_team_member(team_id, user_id, actor=actor)
        for schedule_id, schedule in self.schedules.items():
            changed = False
            for layer in schedule.get("schedule_layers") or []:
                kept = [u for u in layer["users"] if u["user"]["id"] != user_id]
                changed |= len(kept) != len(layer["users"])
                layer["users"] = kept
            for rotation in schedule.get("rotations") or []:
                for event in rotation.get("events", []):
                    strategy = event.get("assignment_strategy", {})
                    kept = [m for m in strategy.get("members", []) if m.get("user_id") != user_id]
                    changed |= len(kept) != len(strategy.get("members", []))
                    strategy["members"] = kept
            if changed:
                kind = "schedules_v3" if schedule.get("type") == "schedule_v3" else "schedules"
                self._record(
                    kind,
                    schedule_id,
                    "update",
                    actor,
                    fields=[
                        {
                            "name": "schedule_layers" if kind == "schedules" else "rotations",
                            "value": None,
                        }
                    ],
                )
        for policy_id, policy in self.escalation_policies.items():
            changed = False
            for rule in policy["escalation_rules"]:
                kept = [t for t in rule["targets"] if t["id"] != user_id]
                changed |= len(kept) != len(rule["targets"])
                rule["targets"] = kept
            if changed:
                self._record(
                    "escalation_policies",
                    policy_id,
                    "update",
                    actor,
                    fields=[{"name": "escalation_rules", "value": None}],
                )

    def _unassign_team(self, team_id: str, actor: Actor | None) -> None:
        self.memberships.pop(team_id, None)
        removed = [self.ref("teams", team_id)]
        for kind, store in (
            ("schedules", self.schedules),
            ("escalation_policies", self.escalation_policies),
            ("services", self.services),
        ):
            for object_id, obj in store.items():
                teams = obj.get("teams") or []
                if any(t["id"] == team_id for t in teams):
                    obj["teams"] = [t for t in teams if t["id"] != team_id]
                    real_kind = "schedules_v3" if obj.get("type") == "schedule_v3" else kind
                    self._record(
                        real_kind,
                        object_id,
                        "update",
                        actor,
                        references=[{"name": "teams", "removed": removed}],
                    )

    # ------------------------------------------------------------------ team membership

    def add_team_member(
        self, team_id: str, user_id: str, role: str = "manager", *, actor: Actor | None = None
    ) -> None:
        """Add a user to a team, or change their role there (PUT /teams/{id}/users/{user_id})."""
        with self.lock:
            self.get("teams", team_id)
            self.get("users", user_id)
            if role not in validation.TEAM_ROLES:
                raise AccountError(f"'role' must be one of {', '.join(validation.TEAM_ROLES)}")
            members = self.memberships.setdefault(team_id, [])
            for member in members:
                if member["user_id"] == user_id:
                    if member["role"] != role:
                        before, member["role"] = member["role"], role
                        self._touch("memberships")
                        self._record(
                            "teams",
                            team_id,
                            "update",
                            actor,
                            resource=self.ref("users", user_id),
                            fields=[{"name": "team_role", "before_value": before, "value": role}],
                        )
                    return
            members.append({"user_id": user_id, "role": role})
            self._touch("memberships")
            self._record(
                "teams",
                team_id,
                "update",
                actor,
                references=[{"name": "members", "added": [self.ref("users", user_id)]}],
            )

    def remove_team_member(self, team_id: str, user_id: str, *, actor: Actor | None = None) -> None:
        """Take a user off a team; ``NotFound`` if they are not on it."""
        with self.lock:
            self.get("teams", team_id)
            members = self.memberships.get(team_id, [])
            kept = [m for m in members if m["user_id"] != user_id]
            if len(kept) == len(members):
                raise NotFound("team member", user_id)
            self.memberships[team_id] = kept
            self._touch("memberships")
            self._record(
                "teams",
                team_id,
                "update",
                actor,
                references=[{"name": "members", "removed": [self.ref("users", user_id)]}],
            )

    # ------------------------------------------------------------------ audit trail

    def _team_changes(self, before: Any, after: Any) -> list[JSON]:
        old = [t["id"] for t in before or []]
        new = [t["id"] for t in after or []]
        added = [self.ref("teams", t) for t in new if t not in old]
        removed = [self.ref("teams", t) for t in old if t not in new]
        if not added and not removed:
            return []
        return [{"name": "teams", "added": added, "removed": removed}]

    def _record(
        self,
        kind: str,
        object_id: str,
        action: str,
        actor: Actor | None,
        *,
        fields: list[JSON] | None = None,
        references: list[JSON] | None = None,
        resource: JSON | None = None,
        root: JSON | None = None,
    ) -> None:
        actor = actor or Actor()
        now = self.clock().astimezone(UTC)
        self._id_counter += 1
        root = root or self.ref(kind, object_id)
        details: JSON = {"resource": resource or root}
        if fields:
            details["fields"] = fields
        if references:
            details["references"] = references
        record: JSON = {
            "id": f"PD{now.strftime('%Y%m%d%H%M%S')}{self._id_counter:08d}",
            "execution_time": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "execution_context": {
                "request_id": actor.request_id,
                "remote_address": actor.remote_address,
            },
            "actors": [self.ref("users", actor.user_id)] if actor.user_id else [],
            "method": {
                "type": actor.method,
                "truncated_token": actor.token_tail[-4:] if actor.token_tail else None,
            },
            "root_resource": root,
            "action": action,
            "details": details,
        }
        self.audit_records.add(now, AUDIT_TYPES[kind], record)


class AuditTrail(list[JSON]):
    """The account's audit records, oldest first; call it to query them, newest first.

    ``account.audit_records`` is one: iterate it for every record, or call
    ``account.audit_records(since, until, root_resource_types, actions, resource_id)``.
    """

    def __init__(self) -> None:
        super().__init__()
        self._meta: dict[str, tuple[datetime, str]] = {}

    def ids(self) -> KeysView[str]:
        return self._meta.keys()

    def add(self, when: datetime, root_type: str, record: JSON) -> None:
        self._meta[record["id"]] = (when, root_type)
        self.append(record)

    def _meta_of(self, record: JSON) -> tuple[datetime, str]:
        meta = self._meta.get(record["id"])
        if meta is None:
            when = datetime.fromisoformat(str(record["execution_time"]).replace("Z", "+00:00"))
            ref_type = str(record["root_resource"]["type"]).removesuffix("_reference")
            meta = (when, ROOT_TYPE_OF.get(ref_type, ref_type))
        return meta

    def __call__(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        root_resource_types: Iterable[str] | None = None,
        actions: Iterable[str] | None = None,
        resource_id: str | None = None,
    ) -> list[JSON]:
        """Records newest first: ``since`` inclusive, ``until`` exclusive (aware datetimes),
        filtered by root resource type (``users``, ``teams``, ``schedules``,
        ``escalation_policies``, ``services``), action (``create``, ``update``, ``delete``) and
        root resource id (for the per-resource audit endpoints)."""
        types = set(root_resource_types) if root_resource_types is not None else None
        wanted = set(actions) if actions is not None else None
        out: list[JSON] = []
        for record in reversed(self):
            when, root_type = self._meta_of(record)
            if since is not None and when < since:
                continue
            if until is not None and when >= until:
                continue
            if types is not None and root_type not in types:
                continue
            if wanted is not None and record["action"] not in wanted:
                continue
            if resource_id is not None and record["root_resource"]["id"] != resource_id:
                continue
            out.append(record)
        return out


ROOT_TYPE_OF = {
    "user": "users",
    "team": "teams",
    "schedule": "schedules",
    "schedule_v3": "schedules",
    "escalation_policy": "escalation_policies",
    "service": "services",
}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return str(value)
