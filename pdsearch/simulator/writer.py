"""Writes to an account's state: create, update, delete, team membership; each one audited.

``AccountWriter`` works on an ``AccountState`` (the account owns one writer over its own state).
Bodies are the inner objects of PagerDuty's request envelopes (``{"schedule": {...}}`` → the
``{...}``); the app unwraps them. Updates are PUTs as PagerDuty treats them: fields given replace
the stored ones, fields left out keep their value (``schedule_layers``, ``rotations`` and
``escalation_rules``, when given, replace the whole list). Every change appends audit records
in the spec's ``AuditRecord`` shape (see ``audit.py`` for what they say).

Deletes follow PagerDuty's refusals rather than leave dangling references:

- a user who is the account owner, or the only user of a schedule layer, or the only target of an
  escalation rule, or the only member of a v3 event, cannot be deleted (``AccountError``);
  otherwise the user leaves every team, layer, rule and event;
- a schedule used as a target by an escalation policy cannot be deleted;
- an escalation policy used by a service cannot be deleted;
- deleting a team unassigns it from schedules, policies and services and ends its memberships;
- deleting a schedule drops its overrides.

Overrides of a layer-based schedule are written here too (``add_overrides``, ``end_override``):
each request that changes some is audited as an update of its schedule with the field
``overrides``, so an incremental reader re-reads the schedule.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pdsearch.simulator import validation
from pdsearch.simulator.account_state import AccountState
from pdsearch.simulator.audit import RETENTION, Actor, make_record
from pdsearch.simulator.constants import TEAM_ROLES
from pdsearch.simulator.errors import AccountError, NotFound
from pdsearch.simulator.objects import schedule_user_ids, target_ids
from pdsearch.simulator.overrides import Override, parse_override

JSON = dict[str, Any]

# Fields whose before and after values the audit records carry (PagerDuty's examples show
# name, email, description, time_zone, num_loops, default_role...).
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
    "status",
)
# Lists recorded by name only; what they reference is in ``references`` (users, targets).
_LIST_FIELDS = ("schedule_layers", "rotations", "escalation_rules")


class AccountWriter:
    """Every change to one account's state; see the module docstring for the rules."""

    def __init__(self, state: AccountState) -> None:
        self.state = state

    # ------------------------------------------------------------------ create / update / delete

    def create(self, kind: str, obj: JSON, *, actor: Actor | None = None) -> str:
        """Store a new object; returns its id."""
        state = self.state
        with state.lock:
            if kind == "users" and isinstance(obj, dict) and obj.get("role") == "owner":
                raise AccountError("an account has exactly one owner; choose another role")
            object_id = state.new_id()
            clean = self._clean(kind, obj, object_id)
            state.store(kind)[object_id] = clean
            state.touch(kind)
            fields = [
                {"name": f, "value": _text(clean[f])}
                for f in _SCALAR_FIELDS
                if clean.get(f) is not None
            ]
            references = self._reference_changes(kind, {}, clean)
            self._record(kind, object_id, "create", actor, fields=fields, references=references)
            return object_id

    def update(self, kind: str, object_id: str, obj: JSON, *, actor: Actor | None = None) -> None:
        """Change an object: fields given replace stored ones."""
        state = self.state
        with state.lock:
            before = state.get(kind, object_id)
            if not isinstance(obj, dict):
                raise AccountError(f"the {kind} body must be a JSON object")
            merged = {**before, **{k: v for k, v in obj.items() if k not in ("id", "type")}}
            if kind == "schedules_v3" and "rotations" not in obj:
                merged["rotations"] = before.get("rotations", [])
            clean = self._clean(kind, merged, object_id)
            state.store(kind)[object_id] = clean
            state.touch(kind)
            fields = [
                {"name": f, "before_value": _text(before.get(f)), "value": _text(clean.get(f))}
                for f in _SCALAR_FIELDS
                if before.get(f) != clean.get(f)
            ]
            fields += [
                {"name": f} for f in _LIST_FIELDS if f in clean and before.get(f) != clean.get(f)
            ]
            references = self._reference_changes(kind, before, clean)
            if fields or references:  # PagerDuty records changes, not requests
                self._record(kind, object_id, "update", actor, fields=fields, references=references)

    def delete(self, kind: str, object_id: str, *, actor: Actor | None = None) -> None:
        """Remove an object, or refuse as PagerDuty does (see the module docstring)."""
        state = self.state
        with state.lock:
            obj = state.get(kind, object_id)
            root = state.ref(kind, object_id)
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
                    for s, v in state.services.items()
                    if (v.get("escalation_policy") or {}).get("id") == object_id
                ]
                if services:
                    raise AccountError(
                        f"escalation policy {object_id} is used by services {', '.join(services)}; "
                        "move those services to another policy first"
                    )
            elif kind == "teams":
                self._unassign_team(object_id, actor)
            if kind == "schedules":
                state.overrides.drop_schedule(object_id)
            del state.store(kind)[object_id]
            state.touch(kind)
            fields = [
                {"name": f, "before_value": _text(obj[f])}
                for f in _SCALAR_FIELDS
                if obj.get(f) is not None
            ]
            self._record(kind, object_id, "delete", actor, fields=fields, root=root)

    def _clean(self, kind: str, obj: JSON, object_id: str) -> JSON:
        if not isinstance(obj, dict):
            raise AccountError(f"the {kind} body must be a JSON object")
        state = self.state
        objects = state.objects
        if kind == "users":
            return validation.clean_user(objects, obj, object_id)
        if kind == "teams":
            return validation.clean_team(objects, obj, object_id)
        if kind == "schedules":
            return validation.clean_schedule(objects, obj, object_id, state.new_id)
        if kind == "schedules_v3":
            return validation.clean_schedule_v3(objects, obj, object_id, state.new_long_id)
        if kind == "escalation_policies":
            return validation.clean_policy(objects, obj, object_id, state.new_id)
        if kind == "services":
            return validation.clean_service(objects, obj, object_id)
        raise AccountError(f"unknown kind {kind!r}")

    def _policies_targeting(self, target_id: str) -> list[str]:
        return [
            policy_id
            for policy_id, policy in self.state.escalation_policies.items()
            if target_id in target_ids(policy)
        ]

    def _delete_user(self, user_id: str, actor: Actor | None) -> None:
        state = self.state
        if state.users[user_id].get("role") == "owner":
            raise AccountError("the account owner can't be deleted; transfer ownership first")
        blockers = sorted(set(self._sole_places(user_id)))
        if blockers:
            raise AccountError(
                f"user {user_id} can't be deleted: they are {'; '.join(blockers)}. "
                "Replace them there first."
            )
        for team_id in [
            t for t, ms in state.memberships.items() if any(m["user_id"] == user_id for m in ms)
        ]:
            self.remove_team_member(team_id, user_id, actor=actor)
        for schedule_id, schedule in state.schedules.items():
            before = schedule_user_ids(schedule)
            if user_id not in before:
                continue
            for layer in schedule.get("schedule_layers") or []:
                layer["users"] = [u for u in layer["users"] if u["user"]["id"] != user_id]
            for rotation in schedule.get("rotations") or []:
                for event in rotation.get("events", []):
                    strategy = event.get("assignment_strategy", {})
                    strategy["members"] = [
                        m for m in strategy.get("members", []) if m.get("user_id") != user_id
                    ]
            kind = state.schedule_kind(schedule_id)
            lists = "schedule_layers" if kind == "schedules" else "rotations"
            self._record(
                kind,
                schedule_id,
                "update",
                actor,
                fields=[{"name": lists}],
                references=[{"name": "users", "removed": [state.ref("users", user_id)]}],
            )
        for policy_id, policy in state.escalation_policies.items():
            if user_id not in target_ids(policy):
                continue
            for rule in policy["escalation_rules"]:
                rule["targets"] = [t for t in rule["targets"] if t["id"] != user_id]
            self._record(
                "escalation_policies",
                policy_id,
                "update",
                actor,
                fields=[{"name": "escalation_rules"}],
                references=[{"name": "targets", "removed": [state.ref("users", user_id)]}],
            )
        state.touch("schedules", "escalation_policies")

    def _sole_places(self, user_id: str) -> list[str]:
        """Where ``user_id`` is the only one, so deleting them would leave something empty."""
        places: list[str] = []
        for schedule_id, schedule in self.state.schedules.items():
            for layer in schedule.get("schedule_layers") or []:
                if [u["user"]["id"] for u in layer["users"]] == [user_id]:
                    places.append(f"the only user of a layer of schedule {schedule_id}")
            for rotation in schedule.get("rotations") or []:
                for event in rotation.get("events", []):
                    members = event.get("assignment_strategy", {}).get("members", [])
                    if [m.get("user_id") for m in members] == [user_id]:
                        places.append(f"the only member of an event of schedule {schedule_id}")
        for policy_id, policy in self.state.escalation_policies.items():
            for rule in policy["escalation_rules"]:
                if [t["id"] for t in rule["targets"]] == [user_id]:
                    places.append(f"the only target of a rule of escalation policy {policy_id}")
        return places

    def _unassign_team(self, team_id: str, actor: Actor | None) -> None:
        state = self.state
        state.memberships.pop(team_id, None)
        removed = [state.ref("teams", team_id)]
        for kind, store in (
            ("schedules", state.schedules),
            ("escalation_policies", state.escalation_policies),
            ("services", state.services),
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
        state = self.state
        with state.lock:
            state.get("teams", team_id)
            state.get("users", user_id)
            if role not in TEAM_ROLES:
                raise AccountError(f"'role' must be one of {', '.join(TEAM_ROLES)}")
            members = state.memberships.setdefault(team_id, [])
            for member in members:
                if member["user_id"] == user_id:
                    if member["role"] != role:
                        before, member["role"] = member["role"], role
                        state.touch("memberships")
                        # PagerDuty's shape: the team is the root, the member the resource.
                        self._record(
                            "teams",
                            team_id,
                            "update",
                            actor,
                            resource=state.ref("users", user_id),
                            fields=[{"name": "team_role", "before_value": before, "value": role}],
                        )
                    return
            members.append({"user_id": user_id, "role": role})
            state.touch("memberships")
            self._record(
                "teams",
                team_id,
                "update",
                actor,
                references=[{"name": "members", "added": [state.ref("users", user_id)]}],
            )

    def remove_team_member(self, team_id: str, user_id: str, *, actor: Actor | None = None) -> None:
        """Take a user off a team; ``NotFound`` if they are not on it."""
        state = self.state
        with state.lock:
            state.get("teams", team_id)
            members = state.memberships.get(team_id, [])
            kept = [m for m in members if m["user_id"] != user_id]
            if len(kept) == len(members):
                raise NotFound("team member", user_id)
            state.memberships[team_id] = kept
            state.touch("memberships")
            self._record(
                "teams",
                team_id,
                "update",
                actor,
                references=[{"name": "members", "removed": [state.ref("users", user_id)]}],
            )

    # ------------------------------------------------------------------ schedule overrides

    def add_overrides(
        self, schedule_id: str, items: Sequence[Any], *, actor: Actor | None = None
    ) -> list[Override | AccountError]:
        """Create each of ``items`` (client-shaped overrides) on a layer-based schedule; one
        result per item, the override or why it was refused (PagerDuty answers per item)."""
        state = self.state
        with state.lock:
            schedule = state.get("schedules", schedule_id)
            results: list[Override | AccountError] = []
            for item in items:
                try:
                    start, end, user_id = parse_override(
                        item, state.users, str(schedule["time_zone"])
                    )
                except AccountError as exc:
                    results.append(exc)
                else:
                    results.append(state.overrides.add(schedule_id, start, end, user_id))
            if any(isinstance(r, Override) for r in results):
                self._overrides_changed(schedule_id, actor)
            return results

    def end_override(
        self, schedule_id: str, override_id: str, moment: int, *, actor: Actor | None = None
    ) -> Override | None:
        """Remove an override that has not started (``None``), or end one under way at
        ``moment`` (the shortened override). A past one cannot change (``AccountError``)."""
        state = self.state
        with state.lock:
            state.get("schedules", schedule_id)
            override = state.overrides.get(schedule_id, override_id)
            if override is None:
                raise NotFound("overrides", override_id)
            if override.end <= moment:
                raise AccountError("A past override cannot be removed.")
            ended: Override | None = None
            if override.start < moment:
                ended = state.overrides.truncate(schedule_id, override_id, moment)
            else:
                state.overrides.remove(schedule_id, override_id)
            self._overrides_changed(schedule_id, actor)
            return ended

    def _overrides_changed(self, schedule_id: str, actor: Actor | None) -> None:
        self.state.touch("schedules")
        self._record("schedules", schedule_id, "update", actor, fields=[{"name": "overrides"}])

    # ------------------------------------------------------------------ audit records

    def _reference_changes(self, kind: str, before: JSON, after: JSON) -> list[JSON]:
        """``references`` entries for what an object points at: its teams, a schedule's users,
        a policy's targets, a service's policy (``before`` is empty for a create)."""
        state = self.state
        changes = [
            _diff("teams", _ids(before.get("teams")), _ids(after.get("teams")), self._team_ref)
        ]
        if kind in ("schedules", "schedules_v3"):
            changes.append(
                _diff("users", schedule_user_ids(before), schedule_user_ids(after), self._user_ref)
            )
        elif kind == "escalation_policies":
            old = target_ids(before) if before else []
            changes.append(_diff("targets", old, target_ids(after), self._target_ref))
        elif kind == "services":
            old = _ids([before["escalation_policy"]]) if before else []
            new = _ids([after["escalation_policy"]])
            changes.append(
                _diff("escalation_policy", old, new, lambda i: state.ref("escalation_policies", i))
            )
        return [c for c in changes if c is not None]

    def _team_ref(self, team_id: str) -> JSON:
        return self.state.ref("teams", team_id)

    def _user_ref(self, user_id: str) -> JSON:
        return self.state.ref("users", user_id)

    def _target_ref(self, target_id: str) -> JSON:
        state = self.state
        if target_id in state.schedules:
            return state.ref(state.schedule_kind(target_id), target_id)
        return state.ref("users", target_id)

    def _actors(self, actor: Actor) -> list[JSON]:
        if actor.user_id is not None:
            return [self.state.ref("users", actor.user_id)]
        if actor.app_id is not None:
            return [{"id": actor.app_id, "type": "app_reference", "summary": actor.app_id}]
        if actor.api_key_id is not None:
            summary = f"API key ending in {actor.token_tail}" if actor.token_tail else "API key"
            return [{"id": actor.api_key_id, "type": "api_key_reference", "summary": summary}]
        return []

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
        state = self.state
        actor = actor or Actor()
        now = state.now()
        trail = state.audit_records
        trail.add(
            make_record(
                trail.new_id(now),
                now,
                actor,
                self._actors(actor),
                root or state.ref(kind, object_id),
                action,
                resource=resource,
                fields=fields,
                references=references,
            )
        )
        trail.prune(now - RETENTION)


def _diff(name: str, old: list[str], new: list[str], ref: Callable[[str], JSON]) -> JSON | None:
    """A ``references`` entry: what ``new`` adds to and removes from ``old``; None if nothing."""
    added = [ref(i) for i in new if i not in old]
    removed = [ref(i) for i in old if i not in new]
    if not added and not removed:
        return None
    change: JSON = {"name": name}
    if added:
        change["added"] = added
    if removed:
        change["removed"] = removed
    return change


def _ids(refs: Any) -> list[str]:
    return [r["id"] for r in refs or []]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return str(value)
