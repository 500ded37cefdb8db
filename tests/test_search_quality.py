"""Search quality: realistic questions over a generated account find the right documents.

A seeded simulator account is read back through PagerDuty's shapes, mapped by
``pdsearch.documents`` and written to a real ``SqliteIndex``. Each question is one a person would
type; where it is generic, the documents it should find are derived from the account's data (not
from the document text), so the test keeps its meaning if the generator changes. A question
passes when the documents it should find are in the top 3 (or, when three or more documents fit
it equally, when every one of the top 3 fits it).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "documents"))

from mapdata import SimulatedAccount

from pdsearch.documents import build_context, derive_entities, policy_document, schedule_document
from pdsearch.index.base import Grant
from pdsearch.index.sqlite import SqliteIndex
from pdsearch.pagerduty.models import (
    EscalationPolicy,
    Schedule,
    ScheduleV3,
    Team,
    User,
)
from pdsearch.permissions import Entity, normalize_email

SEED = 2026
DAY = 86400
WEEK = 7 * DAY
TOP = 3


@dataclass(frozen=True)
class Case:
    """``expected`` are the documents that fit the question: all of them must be in the top 3,
    or, when three or more fit, the top 3 must hold only them."""

    question: str
    expected: frozenset[str]

    def passes(self, top: list[str]) -> bool:
        if len(self.expected) >= TOP:
            return len(top) == TOP and set(top) <= self.expected
        return self.expected <= set(top)


@dataclass
class World:
    sim: SimulatedAccount
    index: SqliteIndex
    entities: list[Entity]

    def sees(self, email: str) -> set[Grant]:
        who = normalize_email(email)
        return {Grant("pd", e.entity_id) for e in self.entities if who and who in e.members}

    def top(self, question: str, email: str, limit: int = TOP) -> list[str]:
        return [h.id for h in self.index.search(question, self.sees(email), limit=limit).hits]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterable[World]:
    sim = SimulatedAccount(seed=SEED, teams=15, users=120, schedules=40, policies=30)
    ctx = build_context(sim.subdomain, sim.users, sim.teams, sim.schedules, sim.schedules_v3,
                        sim.policies)
    docs = [policy_document(p, ctx, "pd") for p in sim.policies]
    docs += [schedule_document(s, ctx, "pd") for s in sim.schedules]
    docs += [schedule_document(s, ctx, "pd") for s in sim.schedules_v3]
    index = SqliteIndex(tmp_path_factory.mktemp("quality") / "index.db")
    index.upsert(docs)
    yield World(sim, index, derive_entities(sim.subdomain, sim.users, sim.teams))
    index.close()


# --- facts of the generated account ---------------------------------------------------------


def pid(policy: EscalationPolicy) -> str:
    return f"escalation_policy:{policy.id}"


def sid(schedule: Schedule | ScheduleV3) -> str:
    return f"schedule:{schedule.id}"


def words_in(name: str, *words: str) -> bool:
    lowered = re.findall(r"\w+", name.lower())
    return all(w.lower() in lowered for w in words)


def all_schedules(sim: SimulatedAccount) -> list[Schedule | ScheduleV3]:
    return [*sim.schedules, *sim.schedules_v3]


def policy_user_ids(policy: EscalationPolicy) -> set[str]:
    return {t.id for r in policy.escalation_rules for t in r.targets if "user" in t.type}


def schedule_user_ids(schedule: Schedule | ScheduleV3) -> set[str]:
    return {u.id for u in schedule.users}


def delays_said(policy: EscalationPolicy) -> set[int]:
    """Every "after N minutes" the policy implies: before each level, and before a repeat."""
    rules = policy.escalation_rules
    said = {r.escalation_delay_in_minutes for r in rules[:-1]}
    if policy.num_loops and rules:
        said.add(rules[-1].escalation_delay_in_minutes)
    return said


def one(items: Iterable[str], what: str) -> frozenset[str]:
    found = frozenset(items)
    assert found, f"the generated account (seed {SEED}) has no {what}; pick another seed"
    return found


def cases(world: World) -> list[Case]:
    sim = world.sim
    teams = {t.id: t for t in sim.teams}
    out: list[Case] = []

    def add(question: str, expected: Iterable[str], what: str, optional: bool = False) -> None:
        # Facts the generator makes only now and then are optional: a question about a fact
        # the account lacks is left out (the test still needs 20 questions).
        found = frozenset(expected)
        if found or not optional:
            out.append(Case(question, one(found, what)))

    def policies_where(test: Callable[[EscalationPolicy], bool]) -> list[str]:
        return [pid(p) for p in sim.policies if test(p)]

    def schedules_where(test: Callable[[Schedule | ScheduleV3], bool]) -> list[str]:
        return [sid(s) for s in all_schedules(sim) if test(s)]

    # Names people remember.
    add("payments escalation",
        policies_where(lambda p: words_in(p.name, "payments", "escalation")),
        "payments escalation policy")

    def kind_of(word: str, preferred: str) -> str:
        """The kind ("Primary", "On-Call"...) of a schedule of the team named with ``word``."""
        names = sorted(s.name for s in all_schedules(sim) for t in s.teams
                       if words_in(teams[t.id].name, word) and s.name.startswith(teams[t.id].name))
        assert names, f"no schedule of a {word} team (seed {SEED})"
        team_name = next(t.name for t in sim.teams if words_in(t.name, word))
        kinds = [n.removeprefix(team_name).strip() for n in names]
        return preferred if preferred in kinds else kinds[0]

    kind = kind_of("database", "Primary")
    add(f"who is on the database {kind.lower()} schedule",
        schedules_where(lambda s: words_in(s.name, "database", *re.findall(r"\w+", kind))),
        "database schedule")
    kind = kind_of("identity", "Secondary")
    add(f"identity {kind.lower()}", schedules_where(
        lambda s: words_in(s.name, "identity", *re.findall(r"\w+", kind))),
        "identity schedule")
    kind = kind_of("billing", "On-Call")
    add(f"billing {kind.lower()}", schedules_where(
        lambda s: words_in(s.name, "billing", *re.findall(r"\w+", kind))), "billing schedule")

    # People: someone on exactly one schedule and on no policy, by name and by e-mail.
    in_docs: dict[str, list[str]] = {}
    for s in all_schedules(sim):
        for user_id in schedule_user_ids(s):
            in_docs.setdefault(user_id, []).append(sid(s))
    for p in sim.policies:
        for user_id in policy_user_ids(p):
            in_docs.setdefault(user_id, []).append(pid(p))
    users = {u.id: u for u in sim.users}
    loners: list[User] = sorted(
        (users[u] for u, docs in in_docs.items()
         if len(docs) == 1 and docs[0].startswith("schedule:")),
        key=lambda u: u.name,
    )
    assert len(loners) >= 2, "need two people who are on a single schedule"
    add(loners[0].name, in_docs[loners[0].id], "person on one schedule")
    add(loners[1].email, in_docs[loners[1].id], "person on one schedule")
    # Someone paged directly by a policy: every document naming them should come first.
    direct = sorted((u for u in users.values()
                     if any(d.startswith("escalation_policy:") for d in in_docs.get(u.id, []))),
                    key=lambda u: (len(in_docs[u.id]), u.name))
    add(f"{direct[0].name}", in_docs[direct[0].id], "person paged by a policy")

    # Rotations, time zones and restrictions.
    def weekly_in(zone: str) -> Callable[[Schedule | ScheduleV3], bool]:
        return lambda s: isinstance(s, Schedule) and s.time_zone == zone and any(
            layer.rotation_turn_length_seconds == WEEK for layer in s.schedule_layers)

    weekly_zones = sorted({s.time_zone for s in sim.schedules if weekly_in(s.time_zone)(s)})
    zone = "Europe/Berlin" if "Europe/Berlin" in weekly_zones else weekly_zones[0]
    add(f"weekly rotation {zone}", schedules_where(weekly_in(zone)), "weekly rotation")
    def daily_in(zone: str) -> Callable[[Schedule | ScheduleV3], bool]:
        return lambda s: isinstance(s, Schedule) and s.time_zone == zone and any(
            layer.rotation_turn_length_seconds == DAY for layer in s.schedule_layers)

    daily_zones = sorted({s.time_zone for s in sim.schedules if daily_in(s.time_zone)(s)},
                         key=lambda z: (len(schedules_where(daily_in(z))), z))
    add(f"daily rotation {daily_zones[0]}", schedules_where(daily_in(daily_zones[0])),
        "daily rotation")
    twelve = [s for s in sim.schedules
              if any(x.rotation_turn_length_seconds == 12 * 3600 for x in s.schedule_layers)]
    zone = sorted(s.time_zone for s in twelve)[0]
    add(f"every 12 hours {zone}",
        [sid(s) for s in twelve if s.time_zone == zone], "12-hour rotation")
    add("work week rotation", schedules_where(lambda s: isinstance(s, Schedule) and any(
        r.type == "weekly_restriction" and r.start_day_of_week == 1
        and r.start_time_of_day.startswith("09:00") and r.duration_seconds == 4 * DAY + 8 * 3600
        for layer in s.schedule_layers for r in layer.restrictions)), "work-week restriction",
        optional=True)
    add("daily 08:00-18:00", schedules_where(lambda s: isinstance(s, Schedule) and any(
        r.type == "daily_restriction" and r.start_time_of_day.startswith("08:00")
        and r.duration_seconds == 10 * 3600
        for layer in s.schedule_layers for r in layer.restrictions)), "08:00-18:00 restriction",
        optional=True)
    add("weekend rotation", schedules_where(lambda s: words_in(s.name, "weekend") or (
        isinstance(s, Schedule) and any(
            words_in(layer.name or "", "weekend") or any(
                r.type == "weekly_restriction" and r.start_day_of_week == 5
                and r.duration_seconds == 2 * DAY + 14 * 3600 for r in layer.restrictions)
            for layer in s.schedule_layers))), "weekend cover", optional=True)
    v3_teams = sorted(teams[t.id].name for s in sim.schedules_v3 for t in s.teams)
    assert v3_teams, "need a shift-based schedule with a team"
    add(f"shift-based {v3_teams[0]}",
        [sid(s) for s in sim.schedules_v3
         if any(words_in(teams[t.id].name, *v3_teams[0].split()) for t in s.teams)],
        "shift-based schedule of a team")
    add("weekdays rotation shift-based", [
        sid(s) for s in sim.schedules_v3
        if any("BYDAY=MO,TU,WE,TH,FR" in line for r in s.rotations for e in r.events
               for line in e.recurrence)], "weekday v3 event", optional=True)

    # Escalation facts.
    by_levels: dict[int, list[EscalationPolicy]] = {}
    for p in sim.policies:
        by_levels.setdefault(len(p.escalation_rules), []).append(p)
    most = max(by_levels)
    add(f"{most} levels", [pid(p) for p in by_levels[most]], "policy with the most levels")
    delayed = sorted((p for p in sim.policies if 30 in delays_said(p) and p.teams),
                     key=lambda p: p.name)
    base = teams[delayed[0].teams[0].id].name
    add(f"{base} escalation after 30 minutes",
        policies_where(lambda p: 30 in delays_said(p) and words_in(p.name, *base.split())),
        "30-minute delay")
    always = sorted((p for p in sim.policies
                     if p.on_call_handoff_notifications == "always" and p.teams),
                    key=lambda p: p.name)
    base = teams[always[0].teams[0].id].name
    add(f"{base} handoff notifications always",
        policies_where(lambda p: p.on_call_handoff_notifications == "always"
                       and words_in(p.name, *base.split())), "handoff always")
    add("round robin escalation", policies_where(lambda p: any(
        r.escalation_rule_assignment_strategy == "round_robin" for r in p.escalation_rules)),
        "round robin", optional=True)
    quiet = sorted((p for p in sim.policies if p.num_loops == 0 and p.teams),
                   key=lambda p: p.name)
    base = teams[quiet[0].teams[0].id].name
    add(f"{base} escalation does not repeat",
        policies_where(lambda p: p.num_loops == 0 and words_in(p.name, *base.split())),
        "policy that does not repeat")
    loops = max(p.num_loops for p in sim.policies)
    add(f"repeats {loops} times", policies_where(lambda p: p.num_loops == loops),
        "repeating policy")
    services = sorted((s.summary or "", pid(p)) for p in sim.policies for s in p.services)
    service_name, service_policy = next(x for x in services
                                        if sum(y[0] == x[0] for y in services) == 1)
    add(service_name, [service_policy], "service")

    # Schedules through the policies that use them.
    used = {s.id: [p for p in sim.policies
                   if any(t.id == s.id for r in p.escalation_rules for t in r.targets)]
            for s in all_schedules(sim)}
    chosen = sorted(sim.policies, key=lambda p: p.name)[0]
    add(f"schedule used by {chosen.name}",
        [sid(s) for s in all_schedules(sim)
         if any(words_in(p.name, *chosen.name.split()) for p in used[s.id])],
        "schedule used by a policy")

    # Teams, private ones included.
    private = private_team_with_schedules(sim)
    add(f"{private.name} schedule",
        schedules_where(lambda s: any(t.id == private.id for t in s.teams)), "private team")
    zones = sorted({s.time_zone for s in all_schedules(sim)},
                   key=lambda z: (sum(s.time_zone == z for s in all_schedules(sim)), z))
    add(zones[0], schedules_where(lambda s: s.time_zone == zones[0]), "time zone")
    return out


def private_team_with_schedules(sim: SimulatedAccount) -> Team:
    owned = {t.id for s in all_schedules(sim) for t in s.teams}
    return next(t for t in sim.teams if t.private and t.id in owned)


# --- the tests ------------------------------------------------------------------------------


def admin_email(world: World) -> str:
    return next(u.email for u in world.sim.users if u.role == "admin")


def test_realistic_questions_find_their_documents(world: World) -> None:
    questions = cases(world)
    assert len(questions) >= 20
    assert len({c.question for c in questions}) == len(questions)
    email = admin_email(world)
    failures = []
    for case in questions:
        got = world.top(case.question, email)
        if not case.passes(got):
            titles = [doc.title if (doc := world.index.get("pd", d)) else d for d in got]
            failures.append(f"{case.question!r}: top {TOP} {titles} ({got}); "
                            f"expected {sorted(case.expected)}")
    assert not failures, "\n".join(failures)


def test_private_team_schedule_is_seen_by_members_only(world: World) -> None:
    sim = world.sim
    team = private_team_with_schedules(sim)
    by_email = {normalize_email(u.email): u for u in sim.users}
    admins = {normalize_email(u.email) for u in sim.users if u.role in ("owner", "admin")}
    members = next(e for e in world.entities if e.entity_id == team.id).members
    member = sorted(m for m in members if m not in admins)[0]
    outsider = sorted(e for e in by_email if e not in members and e not in admins)[0]
    assert Grant("pd", team.id) in world.sees(member)
    assert Grant("pd", sim.subdomain) not in world.sees(member)
    team_docs = {sid(s) for s in all_schedules(sim) if any(t.id == team.id for t in s.teams)}
    assert set(world.top(f"{team.name} schedule", member)) & team_docs

    outsider_sees = world.sees(outsider)
    for case in [*cases(world), Case(team.name, frozenset()), Case("", frozenset())]:
        results = world.index.search(case.question, outsider_sees, limit=100)
        assert results.total == len(results.hits)  # the total counts visible documents only
        for doc_id in [h.id for h in results.hits]:
            doc = world.index.get("pd", doc_id)
            assert doc is not None
            assert doc_id not in team_docs, f"{outsider} saw {doc_id} for {case.question!r}"
            assert {g.entity for g in outsider_sees} & set(doc.sys_racl)
    assert by_email[outsider].role not in ("owner", "admin")


def test_a_pagerduty_id_finds_its_object(world: World) -> None:
    """People paste ids from PagerDuty's URLs and alerts: the id alone finds the object, first."""
    admin = admin_email(world)
    objects = [(f"escalation_policy:{p.id}", p.id) for p in world.sim.policies[:5]]
    objects += [(sid(s), s.id) for s in all_schedules(world.sim)[:5]]
    for doc_id, pd_id in objects:
        assert world.top(pd_id, admin)[:1] == [doc_id], pd_id
        assert world.top(pd_id.lower(), admin)[:1] == [doc_id], pd_id
