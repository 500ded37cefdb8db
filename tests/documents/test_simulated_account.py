"""A whole generated account maps to documents that keep DESIGN.md 2.1 for every object."""

from __future__ import annotations

import pytest
from mapdata import SimulatedAccount

from pdsearch.documents import build_context, derive_entities, policy_document, schedule_document
from pdsearch.index.base import Document
from pdsearch.pagerduty.models import Schedule, ScheduleV3


@pytest.fixture(scope="module")
def sim() -> SimulatedAccount:
    return SimulatedAccount(seed=11)


def every_schedule(sim: SimulatedAccount) -> list[Schedule | ScheduleV3]:
    return [*sim.schedules, *sim.schedules_v3]


def mapped(sim: SimulatedAccount) -> tuple[list[Document], list[Document]]:
    ctx = build_context(sim.subdomain, sim.users, sim.teams, sim.schedules, sim.schedules_v3,
                        sim.policies)
    policies = [policy_document(p, ctx, "conn") for p in sim.policies]
    schedules = [schedule_document(s, ctx, "conn") for s in every_schedule(sim)]
    return policies, schedules


def test_every_object_maps_with_the_contract_fields(sim: SimulatedAccount) -> None:
    assert sim.schedules_v3, "the generated account should hold shift-based schedules"
    policy_docs, schedule_docs = mapped(sim)
    assert len(policy_docs) == len(sim.policies)
    assert len(schedule_docs) == len(sim.schedules) + len(sim.schedules_v3)
    objects = {**{f"escalation_policy:{p.id}": p for p in sim.policies},
               **{f"schedule:{s.id}": s for s in every_schedule(sim)}}
    for doc in [*policy_docs, *schedule_docs]:
        obj = objects[doc.id]
        assert doc.title == obj.name
        assert doc.url == obj.html_url
        assert doc.url.startswith("https://acme.pagerduty.com/")
        assert doc.type == ("escalation_policy" if doc.id.startswith("escalation") else "schedule")
        assert doc.sys_racl == ("acme", *[t.id for t in obj.teams])
        assert doc.source == "conn"
        assert len(doc.content_hash) == 64


def test_policy_content_resolves_every_target_and_counts_levels(sim: SimulatedAccount) -> None:
    policy_docs, _ = mapped(sim)
    users = {u.id: u for u in sim.users}
    schedules = {s.id: s.name for s in every_schedule(sim)}
    teams = {t.id: t.name for t in sim.teams}
    for policy, doc in zip(sim.policies, policy_docs, strict=True):
        levels = len(policy.escalation_rules)
        assert f"{levels} level{'s' if levels != 1 else ''} of escalation" in doc.content
        for number, rule in enumerate(policy.escalation_rules, start=1):
            assert f"Level {number}: " in doc.content
            for target in rule.targets:
                if target.id in users:
                    user = users[target.id]
                    assert f"'{user.name}' <{user.email}>" in doc.content
                else:
                    assert f"schedule '{schedules[target.id]}'" in doc.content
        for team in policy.teams:
            assert teams[team.id] in doc.content
        for service in policy.services:
            assert str(service.summary) in doc.content
        assert "Handoff notifications: " in doc.content
        if policy.num_loops:
            assert f"Repeats {policy.num_loops} time" in doc.content
        else:
            assert "Does not repeat." in doc.content


def test_schedule_content_names_users_zone_and_policies(sim: SimulatedAccount) -> None:
    _, schedule_docs = mapped(sim)
    users = {u.id: u for u in sim.users}
    rules_of = {p.id: len(p.escalation_rules) for p in sim.policies}
    by_id = {d.id: d for d in schedule_docs}
    for schedule in every_schedule(sim):
        doc = by_id[f"schedule:{schedule.id}"]
        assert f"Time zone: {schedule.time_zone}." in doc.content
        for ref in schedule.users:
            user = users[ref.id]
            assert f"'{user.name}' <{user.email}>" in doc.content
        using = {p.id for p in sim.policies for r in p.escalation_rules for t in r.targets
                 if t.id == schedule.id}
        assert using == {p.id for p in schedule.escalation_policies}
        if using:
            total = sum(rules_of[p] for p in using)
            assert f"{total} escalation level{'s' if total != 1 else ''} in total" in doc.content
        else:
            assert "Not used by any escalation policy." in doc.content
    for schedule in sim.schedules:
        doc = by_id[f"schedule:{schedule.id}"]
        # Listed highest first, numbered from the bottom (Layer 1) as PagerDuty's pages do.
        for n, layer in enumerate(reversed(schedule.schedule_layers), start=1):
            assert f"Layer {n}" in doc.content
            if layer.name and not layer.name.startswith("Layer"):
                assert f"Layer {n} '{layer.name}'" in doc.content
    for schedule in sim.schedules_v3:
        assert "Shift-based schedule" in by_id[f"schedule:{schedule.id}"].content


def test_mapping_is_deterministic(sim: SimulatedAccount) -> None:
    first = [d.content_hash for group in mapped(sim) for d in group]
    again = [d.content_hash for group in mapped(SimulatedAccount(seed=11)) for d in group]
    assert first == again


def test_entities_from_users_listing_match_membership_listings(sim: SimulatedAccount) -> None:
    from_users = derive_entities(sim.subdomain, sim.users, sim.teams)
    from_members = derive_entities(sim.subdomain, sim.users, sim.teams, sim.memberships)
    assert from_users == from_members
    account = from_users[0]
    assert account.entity_id == "acme"
    assert account.type == "account"
    assert account.members == {u.email.lower() for u in sim.users if u.role in ("owner", "admin")}
    assert [e.entity_id for e in from_users[1:]] == [t.id for t in sim.teams]
    for entity in from_users[1:]:
        expected = {u.email.lower() for u in sim.users if any(t.id == entity.entity_id
                                                              for t in u.teams)}
        assert entity.members == expected
        assert expected
