"""The simulated PagerDuty account: its state, the reads that render it, and its writer.

``Account`` is an ``AccountState`` (objects, hosts, abilities, audit trail, clock, lock, version;
``account_state.py``) with PagerDuty's reads on top: listings in PagerDuty's stable order with its
filters, and ``render_*`` methods that add what PagerDuty computes on read (``summary``,
``self``, ``html_url``, a user's ``teams``, a schedule's ``users``, ``teams`` and
``escalation_policies``, a policy's ``services``), so nothing derived can go stale after a write.
Writes go through ``self.writer`` (an ``AccountWriter``, ``writer.py``); the methods here that
write return what the API answers with.

Kinds used by the listing and write methods: ``users``, ``teams``, ``schedules`` (layer-based v2),
``schedules_v3`` (shift-based; PagerDuty serves them only under ``/v3/schedules``),
``escalation_policies`` and ``services``.

Errors: ``AccountError`` (a ``ValueError``) for invalid input or files, the app's 400 code 2001;
``NotFound`` for an unknown id, the app's 404.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from pdsearch.simulator.account_file import (
    LoadedAccount,
    dump_account,
    parse_account,
    read_account,
    write_account,
)
from pdsearch.simulator.account_state import AccountState
from pdsearch.simulator.audit import Actor, AuditTrail
from pdsearch.simulator.constants import REFERENCES
from pdsearch.simulator.errors import AccountError, NotFound
from pdsearch.simulator.generator import generate
from pdsearch.simulator.objects import Objects, kind_matches, schedule_user_ids
from pdsearch.simulator.writer import AccountWriter

JSON = dict[str, Any]

__all__ = ["Account", "AccountError", "Actor", "AuditTrail", "NotFound"]


class Account(AccountState):
    """A whole PagerDuty account in memory. Reads are lock-free; writes hold ``self.lock``."""

    def __init__(
        self,
        subdomain: str = "acme",
        region: str = "us",
        *,
        clock: Callable[[], datetime] | None = None,
        objects: Objects | None = None,
    ) -> None:
        super().__init__(subdomain, region, clock=clock, objects=objects)
        self.writer = AccountWriter(self)
        self._derived_version = -1
        self._sorted: dict[tuple[str, int], list[str]] = {}
        self._texts: dict[tuple[str, int], dict[str, str]] = {}
        self._user_teams: dict[str, list[str]] = {}
        self._schedule_policies: dict[str, list[str]] = {}
        self._policy_services: dict[str, list[str]] = {}

    @classmethod
    def generate(
        cls,
        seed: int,
        teams: int,
        users: int,
        schedules: int,
        policies: int,
        subdomain: str = "acme",
        region: str = "us",
    ) -> Account:
        """A realistic account, the same for the same arguments (see ``generator.py``)."""
        objects = generate(seed, teams, users, schedules, policies, subdomain)
        return cls(subdomain, region, objects=objects)

    def _decorate(self, kind: str, obj: JSON) -> JSON:
        _ref_type, api_path, web_path = REFERENCES[kind]
        # Unset optional fields are left out: the spec types most of them as non-nullable.
        out = {k: v for k, v in obj.items() if v is not None}
        out["summary"] = obj.get("name")
        out["self"] = f"{self.api_url}/{api_path}/{obj['id']}"
        out["html_url"] = f"{self.web_url}/{web_path}/{obj['id']}"
        return out

    # ----------------------------------------------------------------- derived indexes

    def _derive(self) -> None:
        if self._derived_version == self.version:
            return
        with self.lock:
            user_teams: dict[str, list[str]] = {}
            for team_id, members in self.memberships.items():
                for member in members:
                    user_teams.setdefault(member["user_id"], []).append(team_id)
            schedule_policies: dict[str, list[str]] = {}
            for policy_id, policy in self.escalation_policies.items():
                for rule in policy.get("escalation_rules", []):
                    for target in rule.get("targets", []):
                        if target["type"] in ("user", "user_reference"):
                            continue  # a schedule's policies are what is indexed
                        bucket = schedule_policies.setdefault(target["id"], [])
                        if not bucket or bucket[-1] != policy_id:
                            bucket.append(policy_id)
            policy_services: dict[str, list[str]] = {}
            for service_id, service in self.services.items():
                ep = service.get("escalation_policy")
                if ep:
                    policy_services.setdefault(ep["id"], []).append(service_id)
            for mapping, kind in (
                (user_teams, "teams"),
                (schedule_policies, "escalation_policies"),
                (policy_services, "services"),
            ):
                rank = {object_id: n for n, object_id in enumerate(self._sorted_ids(kind))}
                for key, ids in mapping.items():
                    mapping[key] = _by_rank(ids, rank)
            self._user_teams = user_teams
            self._schedule_policies = schedule_policies
            self._policy_services = policy_services
            self._derived_version = self.version

    def _name_key(self, kind: str, object_id: str) -> tuple[str, str]:
        obj = self.store(kind).get(object_id) or {}
        return (str(obj.get("name", "")).lower(), object_id)

    # ----------------------------------------------------------------- listing

    def list_ids(
        self,
        kind: str,
        *,
        query: str | None = None,
        team_ids: Iterable[str] | None = None,
        user_ids: Iterable[str] | None = None,
        sort_by: str | None = None,
    ) -> list[str]:
        """Ids of ``kind`` in PagerDuty's stable order (by name, case-insensitive, then id).

        ``query`` matches a case-insensitive substring of the name (and of the e-mail for users);
        ``team_ids`` keeps objects of any of those teams (users: members); ``user_ids`` (policies)
        keeps policies targeting any of those users; ``sort_by`` is ``name``, ``name:asc`` or
        ``name:desc``.
        Sets of filters are ANDed, values within one are ORed, as PagerDuty does.
        """
        if sort_by not in (None, "name", "name:asc", "name:desc"):
            raise AccountError(f"sort_by must be name, name:asc or name:desc, not {sort_by!r}")
        self._derive()
        ids = self._sorted_ids(kind)
        if query:
            needle = query.lower()
            texts = self._search_texts(kind)
            ids = [i for i in ids if needle in texts.get(i, "")]
        if team_ids is not None:
            wanted = set(team_ids)
            ids = [i for i in ids if wanted.intersection(self._team_ids_of(kind, i))]
        if user_ids is not None:
            users = set(user_ids)
            ids = [i for i in ids if users.intersection(self._target_user_ids(i))]
        if sort_by == "name:desc":
            ids = list(reversed(ids))
        return ids

    def _sorted_ids(self, kind: str) -> list[str]:
        key = (kind, self.kind_versions.get(kind, 0))
        cached = self._sorted.get(key)
        if cached is None:
            store = self.store(kind)
            with self.lock:
                ids = [i for i, obj in list(store.items()) if kind_matches(kind, obj)]
            cached = sorted(ids, key=lambda i: (str(store[i].get("name", "")).lower(), i))
            self._sorted = {
                k: v for k, v in self._sorted.items() if k[1] == self.kind_versions.get(k[0], 0)
            }
            self._sorted[key] = cached
        return cached

    def _team_ids_of(self, kind: str, object_id: str) -> list[str]:
        if kind == "users":
            return self._user_teams.get(object_id, [])
        if kind == "teams":
            return [object_id]
        obj = self.store(kind).get(object_id) or {}
        return [t["id"] for t in obj.get("teams") or []]

    def _search_texts(self, kind: str) -> dict[str, str]:
        """Lower-cased name (and e-mail) per id, what ``query`` matches; cached per version."""
        key = (kind, self.kind_versions.get(kind, 0))
        cached = self._texts.get(key)
        if cached is None:
            store = self.store(kind)
            with self.lock:
                cached = {i: _search_text(obj) for i, obj in store.items()}
            self._texts = {
                key: cached,
                **{k: v for k, v in self._texts.items() if k[1] == self.kind_versions.get(k[0], 0)},
            }
        return cached

    def _target_user_ids(self, policy_id: str) -> list[str]:
        policy = self.escalation_policies.get(policy_id, {})
        return [
            t["id"]
            for rule in policy.get("escalation_rules", [])
            for t in rule.get("targets", [])
            if t["type"] in ("user", "user_reference")
        ]

    def members(self, team_id: str) -> list[JSON]:
        """``[{"user": UserReference, "role"}]`` for ``/teams/{id}/members``, by user name."""
        if team_id not in self.teams:
            raise NotFound("teams", team_id)
        entries = sorted(
            self.memberships.get(team_id, []), key=lambda m: self._name_key("users", m["user_id"])
        )
        return [{"user": self.ref("users", m["user_id"]), "role": m["role"]} for m in entries]

    # ----------------------------------------------------------------- rendering

    def render_user(self, user_id: str, include_teams: bool = True) -> JSON:
        """A User. ``teams`` (TeamReferences) is present when ``include_teams``."""
        out = self._decorate("users", self.get("users", user_id))
        if include_teams:
            self._derive()
            out["teams"] = [self.ref("teams", t) for t in self._user_teams.get(user_id, [])]
        return out

    def render_team(self, team_id: str) -> JSON:
        return self._decorate("teams", self.get("teams", team_id))

    def render_service(self, service_id: str) -> JSON:
        out = self._decorate("services", self.get("services", service_id))
        ep = out.get("escalation_policy")
        if ep:
            out["escalation_policy"] = self.ref("escalation_policies", ep["id"])
        out["teams"] = [self.ref("teams", t["id"]) for t in out.get("teams") or []]
        return out

    def _schedule_common(self, kind: str, schedule: JSON) -> JSON:
        self._derive()
        out = self._decorate(kind, schedule)
        out["teams"] = [self.ref("teams", t["id"]) for t in schedule.get("teams") or []]
        out["escalation_policies"] = [
            self.ref("escalation_policies", p)
            for p in self._schedule_policies.get(schedule["id"], [])
        ]
        out["users"] = [self.ref("users", u) for u in schedule_user_ids(schedule)]
        return out

    def render_schedule(self, schedule_id: str, include_layers: bool = True) -> JSON:
        """A layer-based Schedule; v3 ids raise ``NotFound`` as ``/schedules/{id}`` would."""
        schedule = self.get("schedules", schedule_id)
        out = self._schedule_common("schedules", schedule)
        if include_layers:
            # PagerDuty reads layers back highest (last written) first, the reverse of the
            # order a client writes them in; the last written wins where layers overlap.
            out["schedule_layers"] = [
                self._render_layer(layer) for layer in reversed(schedule["schedule_layers"])
            ]
        else:
            out.pop("schedule_layers", None)
        return out

    def _render_layer(self, layer: JSON) -> JSON:
        # A layer without end has no ``end``: PagerDuty documents null, the spec's type is a
        # non-nullable date-time; leaving it out satisfies both readings.
        out = {k: v for k, v in layer.items() if v is not None}
        out["users"] = [{"user": self.ref("users", u["user"]["id"])} for u in layer["users"]]
        out["restrictions"] = [dict(r) for r in layer.get("restrictions", [])]
        return out

    def render_schedule_v3(self, schedule_id: str, include_users: bool = False) -> JSON:
        """The ``schedule`` of the v3 ScheduleResponse: rotations with events and strategies."""
        schedule = self.get("schedules_v3", schedule_id)
        out = self._schedule_common("schedules_v3", schedule)
        out.pop("summary", None)  # the v3 detail schema has no summary
        if not include_users:
            out.pop("users", None)
        rotations = []
        for rotation in schedule.get("rotations", []):
            rot_self = f"{out['self']}/rotations/{rotation['id']}"
            events = [
                {
                    **event,
                    "self": f"{rot_self}/events/{event['id']}",
                    "html_url": f"{out['html_url']}",
                }
                for event in rotation.get("events", [])
            ]
            rotations.append(
                {**rotation, "events": events, "self": rot_self, "html_url": out["html_url"]}
            )
        out["rotations"] = rotations
        return out

    def render_schedule_v3_reference(self, schedule_id: str) -> JSON:
        """A V3ScheduleReference, the item of ``GET /v3/schedules``."""
        self.get("schedules_v3", schedule_id)
        return self.ref("schedules_v3", schedule_id)

    def render_policy(self, policy_id: str, includes: Iterable[str] = ()) -> JSON:
        """An EscalationPolicy. ``includes`` may hold ``targets`` (targets expanded to full user
        and schedule objects, types ``user``/``schedule``), ``services``, ``teams`` and
        ``escalation_rule_assignment_strategies``; the spec keeps services and teams references."""
        include = set(includes)
        policy = self.get("escalation_policies", policy_id)
        self._derive()
        out = self._decorate("escalation_policies", policy)
        rules = []
        for rule in policy["escalation_rules"]:
            rendered = dict(rule)
            rendered["targets"] = [
                self._render_target(t, "targets" in include) for t in rule["targets"]
            ]
            rules.append(rendered)
        out["escalation_rules"] = rules
        out["teams"] = [self.ref("teams", t["id"]) for t in policy.get("teams") or []]
        out["services"] = [
            self.ref("services", s) for s in self._policy_services.get(policy_id, [])
        ]
        return out

    def _render_target(self, target: JSON, expand: bool) -> JSON:
        if target["type"] in ("user", "user_reference"):
            if expand:
                user = self.render_user(target["id"], include_teams=False)
                return user
            return self.ref("users", target["id"])
        kind = self.schedule_kind(target["id"])
        if expand and kind == "schedules":
            return self.render_schedule(target["id"], include_layers=False)
        return self.ref(kind, target["id"])

    def render(self, kind: str, object_id: str) -> JSON:
        """The default rendering of any kind (what a write answers with)."""
        if kind == "users":
            return self.render_user(object_id)
        if kind == "teams":
            return self.render_team(object_id)
        if kind == "schedules":
            return self.render_schedule(object_id)
        if kind == "schedules_v3":
            return self.render_schedule_v3(object_id)
        if kind == "escalation_policies":
            return self.render_policy(object_id)
        if kind == "services":
            return self.render_service(object_id)
        raise AccountError(f"unknown kind {kind!r}")

    # ----------------------------------------------------------------- writes

    def create(self, kind: str, obj: JSON, *, actor: Actor | None = None) -> JSON:
        """Store a new object; returns it rendered as the create endpoint answers."""
        with self.lock:
            return self.render(kind, self.writer.create(kind, obj, actor=actor))

    def update(self, kind: str, object_id: str, obj: JSON, *, actor: Actor | None = None) -> JSON:
        """Change an object (fields given replace stored ones); returns it rendered."""
        with self.lock:
            self.writer.update(kind, object_id, obj, actor=actor)
            return self.render(kind, object_id)

    def delete(self, kind: str, object_id: str, *, actor: Actor | None = None) -> None:
        """Remove an object, or refuse as PagerDuty does (``AccountError``)."""
        self.writer.delete(kind, object_id, actor=actor)

    def add_team_member(
        self, team_id: str, user_id: str, role: str = "manager", *, actor: Actor | None = None
    ) -> None:
        """Add a user to a team, or change their role there."""
        self.writer.add_team_member(team_id, user_id, role, actor=actor)

    def remove_team_member(self, team_id: str, user_id: str, *, actor: Actor | None = None) -> None:
        """Take a user off a team; ``NotFound`` if they are not on it."""
        self.writer.remove_team_member(team_id, user_id, actor=actor)

    # ----------------------------------------------------------------- files

    def to_json(self) -> JSON:
        """The ``--save`` file: PagerDuty's own object shapes (as written), plus memberships and,
        once there are any, the audit records (oldest first)."""
        return dump_account(self)

    @classmethod
    def from_json(cls, data: Any) -> Account:
        """Build an account from ``to_json()`` output, checking it; raises ``AccountError``."""
        return cls._install(parse_account(data))

    @classmethod
    def load(cls, path: str | Path) -> Account:
        return cls._install(read_account(path))

    @classmethod
    def _install(cls, loaded: LoadedAccount) -> Account:
        account = cls(loaded.subdomain, loaded.region, objects=loaded.objects)
        if loaded.abilities is not None:
            account.abilities = list(loaded.abilities)
        for record in loaded.audit_records:
            account.audit_records.add(record)
        return account

    def save(self, path: str | Path) -> None:
        """Write ``to_json()`` atomically (a temporary file, then a rename)."""
        write_account(path, self.to_json())


def _by_rank(ids: list[str], rank: dict[str, int]) -> list[str]:
    return sorted(set(ids), key=lambda i: rank.get(i, -1))


def _search_text(obj: JSON) -> str:
    return f"{obj.get('name') or ''}\n{obj.get('email') or ''}".lower()
