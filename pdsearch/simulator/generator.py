"""A believable, seeded organisation: the objects ``Account.generate`` installs.

Everything is drawn from one ``random.Random(seed)``, in a fixed order, so a seed always gives the
same objects. Teams get a theme (Payments, Database Reliability...); each team's schedules,
policies and services carry its theme's name, so searching "payments escalation" finds the
Payments team's policy. Some layer-based schedules get overrides, drawn from a stream of their own
(``override_gen.py``). Sizes scale linearly: 10,000 users with 2,000 schedules and policies take
well under a few seconds.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pdsearch.simulator import names
from pdsearch.simulator.avatars import avatar_url
from pdsearch.simulator.constants import NOT_ON_CALL, TEAM_ROLES
from pdsearch.simulator.ids import IdMaker
from pdsearch.simulator.objects import Objects
from pdsearch.simulator.override_gen import generate_overrides

JSON = dict[str, Any]

HOUR = 3600
DAY = 24 * HOUR
# Rotation turn lengths: 8 h, 12 h, daily, every two days, weekly (most common), two-weekly.
TURN_LENGTHS = (8 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY, 14 * DAY)
TURN_WEIGHTS = (1, 3, 5, 1, 8, 2)
# Roles other than owner and admin, and how common each is.
OTHER_ROLES = (
    "user",
    "limited_user",
    "observer",
    "read_only_user",
    "restricted_access",
    "read_only_limited_user",
)
OTHER_ROLE_WEIGHTS = (60, 15, 6, 9, 5, 5)


def iso_in_zone(moment: datetime, time_zone: str) -> str:
    """``moment`` as ISO 8601 with the zone's offset, the way PagerDuty writes layer starts."""
    return moment.astimezone(ZoneInfo(time_zone)).isoformat()


def _ref(object_id: str, ref_type: str) -> JSON:
    return {"id": object_id, "type": ref_type}


def _unique(name: str, used: set[str]) -> str:
    """``name``, or ``name 2``, ``name 3``... so names stay unique (case-insensitively)."""
    candidate, n = name, 1
    while candidate.lower() in used:
        n += 1
        candidate = f"{name} {n}"
    used.add(candidate.lower())
    return candidate


def generate(
    seed: int, teams: int, users: int, schedules: int, policies: int, subdomain: str = "acme"
) -> Objects:
    """The objects of a generated account (e-mails on ``<subdomain>.example.com``).

    Raises ``ValueError`` for negative sizes or no users."""
    for label, value in (
        ("teams", teams),
        ("users", users),
        ("schedules", schedules),
        ("policies", policies),
    ):
        if value < 0:
            raise ValueError(f"{label} must be 0 or more, not {value}")
    if users < 1:
        raise ValueError("an account needs at least one user (its owner)")
    rng = random.Random(seed)
    gen = _Generator(Objects(), rng, IdMaker(rng), subdomain)
    user_ids = gen.users(users)
    team_ids = gen.teams(teams)
    gen.memberships(team_ids, user_ids)
    schedule_ids = gen.schedules(schedules, team_ids, user_ids)
    gen.policies(policies, team_ids, user_ids, schedule_ids)
    generate_overrides(gen.objects, seed)  # its own random stream: nothing above changes
    return gen.objects


class _Generator:
    def __init__(self, objects: Objects, rng: random.Random, ids: IdMaker, subdomain: str) -> None:
        self.objects = objects
        self.rng = rng
        self.ids = ids
        self.domain = f"{subdomain}.example.com"
        # Layers start on a Monday some weeks before a fixed date, so output never depends on
        # when it is generated.
        self.epoch = datetime(2025, 1, 6, tzinfo=UTC)
        self.team_theme: dict[str, int] = {}
        self.team_base: dict[str, str] = {}
        self.per_team: dict[tuple[str, str], int] = {}
        self.on_call: list[str] = []  # users whose role lets them be on call
        self.on_call_set: set[str] = set()

    # ------------------------------------------------------------------ users

    def users(self, count: int) -> list[str]:
        rng = self.rng
        roles = ["owner"]
        admins = min(max(2, count // 100), 25)
        roles += ["admin"] * admins
        roles += list(OTHER_ROLES)  # every role at least once
        while len(roles) < count:
            roles.append(rng.choices(OTHER_ROLES, weights=OTHER_ROLE_WEIGHTS)[0])
        roles = roles[:count]
        used_emails: set[str] = set()
        out: list[str] = []
        for role in roles:
            first = rng.choice(names.FIRST_NAMES)
            last = rng.choice(names.LAST_NAMES)
            local = f"{first}.{last}".lower().replace("-", "")
            email = f"{local}@{self.domain}"
            n = 1
            while email in used_emails:
                n += 1
                email = f"{local}{n}@{self.domain}"
            used_emails.add(email)
            user_id = self.ids.new()
            title = "Chief Technology Officer" if role == "owner" else rng.choice(names.JOB_TITLES)
            self.objects.users[user_id] = {
                "id": user_id,
                "type": "user",
                "name": f"{first} {last}",
                "email": email,
                "time_zone": rng.choice(names.TIME_ZONES),
                "color": rng.choice(names.COLORS),
                "role": role,
                "avatar_url": avatar_url(email),
                "description": rng.choice(names.BIOS),
                "invitation_sent": rng.random() < 0.03,
                "job_title": title,
                "created_via_sso": rng.random() < 0.4,
            }
            out.append(user_id)
        # Observers and read-only users cannot be on call in PagerDuty.
        self.on_call = [u for u in out if self.objects.users[u]["role"] not in NOT_ON_CALL]
        self.on_call_set = set(self.on_call)
        return out

    # ------------------------------------------------------------------ teams

    def teams(self, count: int) -> list[str]:
        rng = self.rng
        used: set[str] = set()
        out: list[str] = []
        themes = names.THEMES
        for i in range(count):
            theme_index = i % len(themes)
            round_ = i // len(themes)
            base, does, _services = themes[theme_index]
            qualifier = names.TEAM_QUALIFIERS[round_ % len(names.TEAM_QUALIFIERS)]
            name = f"{base} {qualifier}".strip()
            name = _unique(name, used)
            team_id = self.ids.new()
            private = rng.random() < 0.25
            region_note = f" in {qualifier}" if qualifier in ("EMEA", "APAC", "Americas") else ""
            self.objects.teams[team_id] = {
                "id": team_id,
                "type": "team",
                "name": name,
                "description": f"The {name} team {does}{region_note}.",
                "default_role": "none" if private else "manager",
            }
            self.team_theme[team_id] = theme_index
            self.team_base[team_id] = name
            out.append(team_id)
        return out

    def memberships(self, team_ids: list[str], user_ids: list[str]) -> None:
        if not team_ids:
            return
        rng = self.rng
        members: dict[str, dict[str, str]] = {t: {} for t in team_ids}
        for user_id in user_ids:
            r = rng.random()
            count = 0 if r < 0.08 else 1 if r < 0.78 else 2 if r < 0.95 else 3
            for team_id in rng.sample(team_ids, min(count, len(team_ids))):
                members[team_id][user_id] = rng.choices(TEAM_ROLES, weights=(10, 75, 15))[0]
        # Every team has at least two members and a manager.
        for team_id in team_ids:
            team_members = members[team_id]
            while len(team_members) < min(2, len(user_ids)):
                team_members.setdefault(rng.choice(user_ids), "responder")
            if team_members and "manager" not in team_members.values():
                team_members[next(iter(team_members))] = "manager"
            self.objects.memberships[team_id] = [
                {"user_id": u, "role": role} for u, role in team_members.items()
            ]

    # ------------------------------------------------------------------ schedules

    def schedules(self, count: int, team_ids: list[str], user_ids: list[str]) -> list[str]:
        rng = self.rng
        used: set[str] = set()
        out: list[str] = []
        for i in range(count):
            schedule_teams = self._pick_teams(team_ids, i)
            if schedule_teams:
                base = self.objects.teams[schedule_teams[0]]["name"]
                # Each team's schedules go Primary, Secondary, On-Call... in turn.
                nth = self.per_team.setdefault(("schedule", base), 0)
                self.per_team[("schedule", base)] = nth + 1
                kind = names.SCHEDULE_KINDS[nth % len(names.SCHEDULE_KINDS)]
            else:
                base = rng.choice(names.SHARED_GROUPS)
                kind = rng.choice(names.SCHEDULE_KINDS)
            name = _unique(f"{base} {kind}", used)
            pool = self._user_pool(schedule_teams, user_ids)
            time_zone = rng.choice(names.TIME_ZONES)
            schedule_id = self.ids.new()
            description = rng.choice(
                (
                    f"{kind} on-call rotation for {base}.",
                    f"Who answers {base} pages ({kind.lower()}).",
                    f"{base} {kind.lower()} coverage; swap shifts with overrides.",
                    "",
                )
            )
            teams_refs = [_ref(t, "team_reference") for t in schedule_teams]
            if rng.random() < 0.10:
                schedule = self._schedule_v3(schedule_id, name, description, time_zone, pool)
            else:
                schedule = {
                    "id": schedule_id,
                    "type": "schedule",
                    "name": name,
                    "description": description,
                    "time_zone": time_zone,
                    "schedule_layers": self._layers(time_zone, pool),
                }
            schedule["teams"] = teams_refs
            self.objects.schedules[schedule_id] = schedule
            out.append(schedule_id)
        return out

    def _pick_teams(self, team_ids: list[str], i: int) -> list[str]:
        if not team_ids:
            return []
        r = self.rng.random()
        if r < 0.10:
            return []
        first = team_ids[i % len(team_ids)]
        if r < 0.90 or len(team_ids) < 2:
            return [first]
        extra = self.rng.sample(team_ids, min(len(team_ids), self.rng.randint(1, 2)))
        return [first, *[t for t in extra if t != first]]

    def _user_pool(self, team_ids: list[str], user_ids: list[str]) -> list[str]:
        pool: list[str] = []
        for team_id in team_ids:
            pool.extend(
                m["user_id"]
                for m in self.objects.memberships.get(team_id, [])
                if m["role"] != "observer" and m["user_id"] in self.on_call_set
            )
        pool = list(dict.fromkeys(pool))
        if len(pool) < 2:
            everyone = self.on_call or user_ids
            pool.extend(self.rng.sample(everyone, min(len(everyone), 6)))
            pool = list(dict.fromkeys(pool))
        return pool

    def _layers(self, time_zone: str, pool: list[str]) -> list[JSON]:
        rng = self.rng
        layer_count = rng.choices((1, 2, 3), weights=(5, 3, 2))[0]
        layers: list[JSON] = []
        for n in range(layer_count):
            turn = rng.choices(TURN_LENGTHS, weights=TURN_WEIGHTS)[0]
            start = self.epoch - timedelta(weeks=rng.randint(1, 80), hours=rng.choice((0, 9, 17)))
            size = min(len(pool), rng.randint(2, 7))
            users = rng.sample(pool, size)
            name = f"Layer {n + 1}" if rng.random() < 0.6 else rng.choice(names.LAYER_NAMES)
            layers.append(
                {
                    "id": self.ids.new(),
                    "name": name,
                    "start": iso_in_zone(start, time_zone),
                    "end": None,
                    "rotation_virtual_start": iso_in_zone(start, time_zone),
                    "rotation_turn_length_seconds": turn,
                    "users": [{"user": _ref(u, "user_reference")} for u in users],
                    "restrictions": self._restrictions(turn),
                }
            )
        return layers

    def _restrictions(self, turn: int) -> list[JSON]:
        r = self.rng.random()
        if r < 0.25:  # business hours or night cover, every day
            start, hours = self.rng.choice((("09:00:00", 8), ("08:00:00", 10), ("18:00:00", 14)))
            return [
                {
                    "type": "daily_restriction",
                    "start_time_of_day": start,
                    "duration_seconds": hours * HOUR,
                }
            ]
        if r < 0.40 and turn >= DAY:  # weekdays only, or the weekend
            if self.rng.random() < 0.6:
                return [
                    {
                        "type": "weekly_restriction",
                        "start_time_of_day": "09:00:00",
                        "duration_seconds": (4 * 24 + 8) * HOUR,
                        "start_day_of_week": 1,
                    }
                ]
            return [
                {
                    "type": "weekly_restriction",
                    "start_time_of_day": "18:00:00",
                    "duration_seconds": (2 * 24 + 14) * HOUR,
                    "start_day_of_week": 5,
                }
            ]
        return []

    def _schedule_v3(
        self, schedule_id: str, name: str, description: str, time_zone: str, pool: list[str]
    ) -> JSON:
        rng = self.rng
        rotations: list[JSON] = []
        for _ in range(rng.choice((1, 1, 2))):
            events: list[JSON] = []
            for e in range(rng.choice((1, 1, 2))):
                weekdays = rng.random() < 0.5
                start_hour = rng.choice((0, 8, 9, 17)) if weekdays else 9
                day = self.epoch - timedelta(weeks=rng.randint(1, 40))
                start_local = datetime(
                    day.year, day.month, day.day, start_hour, tzinfo=ZoneInfo(time_zone)
                )
                end_local = start_local + timedelta(hours=8 if weekdays else 24)
                members = rng.sample(pool, min(len(pool), rng.randint(2, 6)))
                every = rng.random() < 0.15
                strategy: JSON = {
                    "type": "every_member_assignment_strategy"
                    if every
                    else "rotating_member_assignment_strategy",
                    "members": [{"type": "user_member", "user_id": u} for u in members],
                }
                if not every:
                    strategy["shifts_per_member"] = 5 if weekdays else rng.choice((1, 7))
                events.append(
                    {
                        "id": self.ids.long(),
                        "type": "schedule_event",
                        "name": ("Weekday On-Call" if weekdays else "Daily On-Call")
                        + (f" {e + 1}" if e else ""),
                        "start_time": {
                            "date_time": start_local.isoformat(),
                            "time_zone": time_zone,
                        },
                        "end_time": {"date_time": end_local.isoformat(), "time_zone": time_zone},
                        "effective_since": start_local.astimezone(UTC)
                        .isoformat()
                        .replace("+00:00", "Z"),
                        "effective_until": None,
                        "recurrence": ["RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"]
                        if weekdays
                        else ["RRULE:FREQ=DAILY"],
                        "assignment_strategy": strategy,
                    }
                )
            rotations.append({"id": self.ids.long(), "type": "schedule_rotation", "events": events})
        return {
            "id": schedule_id,
            "type": "schedule_v3",
            "name": name,
            "description": description,
            "time_zone": time_zone,
            "rotations": rotations,
        }

    # ------------------------------------------------------------------ policies and services

    def policies(
        self, count: int, team_ids: list[str], user_ids: list[str], schedule_ids: list[str]
    ) -> None:
        rng = self.rng
        objects = self.objects
        by_team: dict[str | None, list[str]] = {}
        for schedule_id in schedule_ids:
            teams = objects.schedules[schedule_id].get("teams") or []
            by_team.setdefault(teams[0]["id"] if teams else None, []).append(schedule_id)
        used: set[str] = set()
        used_services: set[str] = set()
        responders = self.on_call or user_ids
        for i in range(count):
            team_id = team_ids[i % len(team_ids)] if team_ids and rng.random() >= 0.12 else None
            if team_id:
                base = objects.teams[team_id]["name"]
                nth = self.per_team.setdefault(("policy", team_id), 0)
                self.per_team[("policy", team_id)] = nth + 1
                kind = names.POLICY_KINDS[nth % len(names.POLICY_KINDS)]
            else:
                base = rng.choice(names.SHARED_GROUPS)
                kind = rng.choice(names.POLICY_KINDS)
            name = _unique(f"{base} {kind}", used)
            candidates = by_team.get(team_id) or schedule_ids
            managers = (
                [
                    m["user_id"]
                    for m in objects.memberships.get(team_id or "", [])
                    if m["role"] == "manager" and m["user_id"] in self.on_call_set
                ]
                if team_id
                else []
            )
            first_line = self._user_pool([team_id], user_ids) if team_id else responders
            rules = self._rules(candidates, managers or responders, first_line)
            policy_id = self.ids.new()
            objects.escalation_policies[policy_id] = {
                "id": policy_id,
                "type": "escalation_policy",
                "name": name,
                "description": rng.choice(
                    (
                        f"Escalation for {base} incidents.",
                        f"Pages {base} on-call first, then managers.",
                        f"{base}: who gets woken up, and in what order.",
                        "",
                    )
                ),
                "num_loops": rng.choices((0, 1, 2, 3), weights=(6, 2, 1, 1))[0],
                "on_call_handoff_notifications": rng.choice(("if_has_services", "always")),
                "escalation_rules": rules,
                "teams": [_ref(team_id, "team_reference")] if team_id else [],
            }
            self._services(policy_id, team_id, used_services)

    def _rules(
        self, schedules: list[str], managers: list[str], responders: list[str]
    ) -> list[JSON]:
        rng = self.rng
        objects = self.objects
        count = rng.choices((1, 2, 3, 4, 5), weights=(3, 5, 4, 2, 1))[0]
        rules: list[JSON] = []
        for level in range(count):
            targets: list[JSON] = []
            if schedules and (level == 0 or rng.random() < 0.5):
                picks = min(len(schedules), rng.choice((1, 1, 2)))
                for schedule_id in rng.sample(schedules, picks):
                    v3 = objects.schedules[schedule_id]["type"] == "schedule_v3"
                    targets.append(
                        _ref(schedule_id, "schedule_v3_reference" if v3 else "schedule_reference")
                    )
            if not targets or rng.random() < 0.3:
                pool = managers if level > 0 else responders
                for user_id in rng.sample(pool, min(len(pool), rng.choice((1, 1, 2)))):
                    targets.append(_ref(user_id, "user_reference"))
            rules.append(
                {
                    "id": self.ids.new(),
                    "escalation_delay_in_minutes": rng.choice((5, 10, 15, 15, 30, 30, 60)),
                    "escalation_rule_assignment_strategy": "round_robin"
                    if rng.random() < 0.1
                    else "assign_to_everyone",
                    "targets": targets,
                }
            )
        return rules

    def _services(self, policy_id: str, team_id: str | None, used: set[str]) -> None:
        rng = self.rng
        count = rng.choices((0, 1, 2, 3), weights=(2, 5, 3, 1))[0]
        if team_id is not None:
            theme = names.THEMES[self.team_theme[team_id]]
            pool = list(theme[2])
            prefix = self.objects.teams[team_id]["name"].removeprefix(theme[0]).strip()
        else:
            pool = ["Status Page", "Internal Tools", "Customer Portal"]
            prefix = ""
        owner = self.objects.teams[team_id]["name"] if team_id is not None else None
        for _ in range(count):
            service, suffix = rng.choice(pool), rng.choice(names.SERVICE_SUFFIXES)
            name = _unique(f"{service}{suffix} {prefix}".strip(), used)
            service_id = self.ids.new()
            self.objects.services[service_id] = {
                "id": service_id,
                "type": "service",
                "name": name,
                "description": names.service_description(service, suffix, owner),
                "status": "active",
                "escalation_policy": _ref(policy_id, "escalation_policy_reference"),
                "teams": [_ref(team_id, "team_reference")] if team_id else [],
            }
