"""The simulated PagerDuty account: PagerDuty-shaped JSON dicts keyed by id.

Stored objects hold only what a client sets (PagerDuty's request shapes); what PagerDuty computes
on read (``summary``, ``self``, ``html_url``, a user's ``teams``, a schedule's ``users``, ``teams``
and ``escalation_policies``, a policy's ``services``) is derived by the ``render_*`` methods, so it
can never go stale after a write.

Kinds used by the listing and write methods: ``users``, ``teams``, ``schedules`` (layer-based v2),
``schedules_v3`` (shift-based; PagerDuty serves them only under ``/v3/schedules``),
``escalation_policies`` and ``services``. Writes live in ``account_writes.py`` (mixed in here);
every one appends an audit record.

Errors: ``AccountError`` (a ``ValueError``) for invalid input or files, the app's 400 code 2001;
``NotFound`` for an unknown id, the app's 404.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pdsearch.simulator.account_writes import AccountWrites, Actor, AuditTrail
from pdsearch.simulator.errors import AccountError, NotFound
from pdsearch.simulator.generator import IdMaker
from pdsearch.simulator.validation import TEAM_ROLES, USER_ROLES

JSON = dict[str, Any]

__all__ = ["TEAM_ROLES", "USER_ROLES", "Account", "AccountError", "Actor", "AuditTrail", "NotFound"]

KINDS = ("users", "teams", "schedules", "schedules_v3", "escalation_policies", "services")
DEFAULT_ABILITIES = (
    "teams",
    "read_only_users",
    "advanced_permissions",
    "audit_trail",
    "escalation_policy_support",
    "urgencies",
)

# kind -> (reference type, API path, web path)
_REF: dict[str, tuple[str, str, str]] = {
    "users": ("user_reference", "users", "users"),
    "teams": ("team_reference", "teams", "teams"),
    "schedules": ("schedule_reference", "schedules", "schedules"),
    "schedules_v3": ("schedule_v3_reference", "v3/schedules", "schedules"),
    "escalation_policies": (
        "escalation_policy_reference",
        "escalation_policies",
        "escalation_policies",
    ),
    "services": ("service_reference", "services", "service-directory"),
}


class Account(AccountWrites):
    """A whole PagerDuty account in memory. Reads are lock-free; writes hold ``self.lock``."""

    def __init__(
        self,
        subdomain: str = "acme",
        region: str = "us",
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if region not in ("us", "eu"):
            raise AccountError(f"region must be 'us' or 'eu', not {region!r}")
        self.subdomain = subdomain
        self.region = region
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.users: dict[str, JSON] = {}
        self.teams: dict[str, JSON] = {}
        self.memberships: dict[str, list[JSON]] = {}  # team id -> [{"user_id", "role"}]
        self.schedules: dict[str, JSON] = {}  # v2 ("schedule") and v3 ("schedule_v3")
        self.escalation_policies: dict[str, JSON] = {}
        self.services: dict[str, JSON] = {}
        self.audit_records = AuditTrail()  # oldest first; call it to query, newest first
        self._ids: IdMaker | None = None
        self.abilities: list[str] = list(DEFAULT_ABILITIES)
        self.lock = threading.RLock()
        self._version = 0
        self._kind_versions: dict[str, int] = {}
        self._derived_version = -1
        self._sorted: dict[tuple[str, int], list[str]] = {}
        self._texts: dict[tuple[str, int], dict[str, str]] = {}
        self._user_teams: dict[str, list[str]] = {}
        self._schedule_policies: dict[str, list[str]] = {}
        self._user_policies: dict[str, list[str]] = {}
        self._policy_services: dict[str, list[str]] = {}
        self._id_counter = 0

    # ----------------------------------------------------------------- hosts and references

    @property
    def api_url(self) -> str:
        return (
            "https://api.eu.pagerduty.com" if self.region == "eu" else "https://api.pagerduty.com"
        )

    @property
    def web_url(self) -> str:
        host = (
            f"{self.subdomain}.eu.pagerduty.com"
            if self.region == "eu"
            else (f"{self.subdomain}.pagerduty.com")
        )
        return f"https://{host}"

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
        from pdsearch.simulator.generator import generate_into

        account = cls(subdomain, region)
        generate_into(account, seed, teams, users, schedules, policies)
        return account

    def store(self, kind: str) -> dict[str, JSON]:
        if kind in ("schedules", "schedules_v3"):
            return self.schedules
        if kind not in KINDS:
            raise AccountError(f"unknown kind {kind!r}; known kinds: {', '.join(KINDS)}")
        store: dict[str, JSON] = getattr(self, kind)
        return store

    def get(self, kind: str, object_id: str) -> JSON:
        """The stored object (not a copy; do not change it outside the write methods)."""
        obj = self.store(kind).get(object_id)
        if obj is None or not _kind_matches(kind, obj):
            raise NotFound(kind, object_id)
        return obj

    def exists(self, kind: str, object_id: str) -> bool:
        obj = self.store(kind).get(object_id)
        return obj is not None and _kind_matches(kind, obj)

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

    def ref(self, kind: str, object_id: str) -> JSON:
        """A reference in the spec's shape: id, type ``*_reference``, summary, self, html_url."""
        ref_type, api_path, web_path = _REF[kind]
        obj = self.store(kind).get(object_id)
        summary = obj.get("name") if obj is not None else None
        return {
            "id": object_id,
            "type": ref_type,
            "summary": summary,
            "self": f"{self.api_url}/{api_path}/{object_id}",
            "html_url": f"{self.web_url}/{web_path}/{object_id}",
        }

    def _decorate(self, kind: str, obj: JSON) -> JSON:
        _ref_type, api_path, web_path = _REF[kind]
        # Unset optional fields are left out: the spec types most of them as non-nullable.
        out = {k: v for k, v in obj.items() if v is not None}
        out["summary"] = obj.get("name")
        out["self"] = f"{self.api_url}/{api_path}/{obj['id']}"
        out["html_url"] = f"{self.web_url}/{web_path}/{obj['id']}"
        return out

    # ----------------------------------------------------------------- derived indexes

    def _touch(self, *kinds: str) -> None:
        """Call after every change so derived indexes and sorted listings are rebuilt.

        ``kinds`` whose names or set of ids changed get their listings re-sorted (all when none
        is named); the derived indexes are rebuilt after any change."""
        self._version += 1
        for kind in kinds or KINDS:
            for k in ("schedules", "schedules_v3") if kind.startswith("schedules") else (kind,):
                self._kind_versions[k] = self._kind_versions.get(k, 0) + 1

    def _derive(self) -> None:
        if self._derived_version == self._version:
            return
        with self.lock:
            user_teams: dict[str, list[str]] = {}
            for team_id, members in self.memberships.items():
                for member in members:
                    user_teams.setdefault(member["user_id"], []).append(team_id)
            schedule_policies: dict[str, list[str]] = {}
            user_policies: dict[str, list[str]] = {}
            for policy_id, policy in self.escalation_policies.items():
                for rule in policy.get("escalation_rules", []):
                    for target in rule.get("targets", []):
                        if target["type"] in ("user", "user_reference"):
                            index = user_policies
                        else:
                            index = schedule_policies
                        bucket = index.setdefault(target["id"], [])
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
                (user_policies, "escalation_policies"),
                (policy_services, "services"),
            ):
                rank = {object_id: n for n, object_id in enumerate(self._sorted_ids(kind))}
                for key, ids in mapping.items():
                    mapping[key] = _by_rank(ids, rank)
            self._user_teams = user_teams
            self._schedule_policies = schedule_policies
            self._user_policies = user_policies
            self._policy_services = policy_services
            self._derived_version = self._version

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
        key = (kind, self._kind_versions.get(kind, 0))
        cached = self._sorted.get(key)
        if cached is None:
            store = self.store(kind)
            with self.lock:
                ids = [i for i, obj in list(store.items()) if _kind_matches(kind, obj)]
            cached = sorted(ids, key=lambda i: (str(store[i].get("name", "")).lower(), i))
            self._sorted = {
                k: v for k, v in self._sorted.items() if k[1] == self._kind_versions.get(k[0], 0)
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
        key = (kind, self._kind_versions.get(kind, 0))
        cached = self._texts.get(key)
        if cached is None:
            store = self.store(kind)
            with self.lock:
                cached = {i: _search_text(obj) for i, obj in store.items()}
            self._texts = {
                key: cached,
                **{
                    k: v for k, v in self._texts.items() if k[1] == self._kind_versions.get(k[0], 0)
                },
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

    def team_ids_of_user(self, user_id: str) -> list[str]:
        self._derive()
        return list(self._user_teams.get(user_id, []))

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
            out["schedule_layers"] = [
                self._render_layer(layer) for layer in schedule["schedule_layers"]
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

    # ----------------------------------------------------------------- files

    def to_json(self) -> JSON:
        """The ``--save`` file: PagerDuty's own object shapes (as written), plus memberships and,
        once there are any, the audit records (oldest first)."""
        with self.lock:
            data: JSON = {
                "subdomain": self.subdomain,
                "region": self.region,
                "abilities": list(self.abilities),
                "users": [dict(u) for u in self.users.values()],
                "teams": [dict(t) for t in self.teams.values()],
                "memberships": [
                    {"team_id": team_id, "user_id": m["user_id"], "role": m["role"]}
                    for team_id, members in self.memberships.items()
                    for m in members
                ],
                "schedules": [json.loads(json.dumps(s)) for s in self.schedules.values()],
                "escalation_policies": [
                    json.loads(json.dumps(p)) for p in self.escalation_policies.values()
                ],
                "services": [json.loads(json.dumps(s)) for s in self.services.values()],
            }
            if self.audit_records:  # kept so a reloaded account still answers /audit/records
                data["audit_records"] = json.loads(json.dumps(list(self.audit_records)))
            return data

    @classmethod
    def from_json(cls, data: Any) -> Account:
        """Build an account from ``to_json()`` output, checking it; raises ``AccountError``."""
        from pdsearch.simulator.account_load import load_into

        if not isinstance(data, dict):
            raise AccountError("the account file must hold a JSON object")
        subdomain = data.get("subdomain", "acme")
        region = data.get("region", "us")
        if not isinstance(subdomain, str) or not subdomain:
            raise AccountError("'subdomain' must be a non-empty string")
        account = cls(subdomain, region)
        load_into(account, data)
        return account

    @classmethod
    def load(cls, path: str | Path) -> Account:
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
            return cls.from_json(data)
        except AccountError as exc:
            raise AccountError(f"account file {path}: {exc}") from None

    def save(self, path: str | Path) -> None:
        """Write ``to_json()`` atomically (a temporary file, then a rename)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        try:
            tmp.write_text(json.dumps(self.to_json(), indent=1), encoding="utf-8")
            tmp.replace(path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise AccountError(
                f"cannot write account file {path}: {exc.strerror or exc}; "
                "check that its folder exists and is writable"
            ) from None


def _kind_matches(kind: str, obj: JSON) -> bool:
    if kind == "schedules":
        return obj.get("type") != "schedule_v3"
    if kind == "schedules_v3":
        return obj.get("type") == "schedule_v3"
    return True


def _by_rank(ids: list[str], rank: dict[str, int]) -> list[str]:
    return sorted(set(ids), key=lambda i: rank.get(i, -1))


def _search_text(obj: JSON) -> str:
    return f"{obj.get('name') or ''}\n{obj.get('email') or ''}".lower()


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
