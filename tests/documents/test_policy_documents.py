"""Escalation policies become documents exactly as DESIGN.md 2.1 says."""

from __future__ import annotations

from typing import Any

from mapdata import (
    example_policies,
    example_schedule,
    example_teams,
    example_users,
    ref,
    team,
    user,
)

from pdsearch.documents import build_context, policy_document
from pdsearch.pagerduty.models import EscalationPolicy


def make_policy(**overrides: Any) -> EscalationPolicy:
    data: dict[str, Any] = {
        "id": "PPAY001",
        "name": "Payments Escalation",
        "description": "Wakes the payments team for card processing outages.",
        "html_url": "https://acme.pagerduty.com/escalation_policies/PPAY001",
        "num_loops": 2,
        "on_call_handoff_notifications": "always",
        "escalation_rules": [
            {"id": "R1", "escalation_delay_in_minutes": 30,
             "targets": [ref("schedule", "SPAY", "old name")]},
            {"id": "R2", "escalation_delay_in_minutes": 15,
             "targets": [ref("schedule", "SPAY"), ref("user", "UADA", "Ada")]},
            {"id": "R3", "escalation_delay_in_minutes": 10,
             "targets": [ref("user", "UGONE", "Grace Hopper"), ref("user", "UNONAME")],
             "escalation_rule_assignment_strategy": "round_robin"},
        ],
        "services": [ref("service", "SV1", "Checkout API"), ref("service", "SV2", "Card Vault")],
        "teams": [ref("team", "TPAY", "Payments"), ref("team", "TSRE", "SRE"),
                  ref("team", "TPAY", "Payments")],
    }
    data.update(overrides)
    return EscalationPolicy.model_validate(data)


def context() -> Any:
    from pdsearch.pagerduty.models import Schedule

    schedule = Schedule.model_validate({"id": "SPAY", "name": "Payments Primary",
                                        "time_zone": "Europe/Berlin"})
    return build_context(
        "acme",
        users=[user("UADA", "Ada Lovelace", "ada@example.com", "admin")],
        teams=[team("TPAY", "Payments Platform"), team("TSRE", "Site Reliability")],
        schedules=[schedule],
        policies=[make_policy()],
    )


def test_spec_example_policy_maps_every_field() -> None:
    policy = example_policies()[0]
    ctx = build_context("acme", example_users(), example_teams(), [example_schedule()], [],
                        [policy])
    doc = policy_document(policy, ctx, "conn-1")
    assert doc.id == "escalation_policy:PANZZEQ"
    assert doc.type == "escalation_policy"
    assert doc.title == "Engineering Escalation Policy"
    assert doc.url == "https://subdomain.pagerduty.com/escalation_policies/PANZZEQ"
    assert doc.sys_racl == ("acme", "PQ9K7I8")
    assert doc.source == "conn-1"
    assert "1 level" in doc.content
    assert "Level 1: immediately, notify user 'PagerDuty Admin', schedule 'Daily Engineering "\
        "Rotation'" in doc.content
    assert "Does not repeat" in doc.content
    assert "Handoff notifications: only if the policy has services" in doc.content
    assert "Team: Engineering" in doc.content
    assert "Services: My Mail Service" in doc.content


def test_levels_read_with_the_delay_before_each_level() -> None:
    doc = policy_document(make_policy(), context(), "c")
    text = doc.content
    assert "Description: Wakes the payments team for card processing outages." in text
    assert text.startswith("Escalation policy 'Payments Escalation' with 3 levels.")
    assert "3 levels of escalation." in text
    # escalation_delay_in_minutes is the wait before the NEXT rule fires.
    assert "Level 1: immediately, notify schedule 'Payments Primary'." in text
    assert ("Level 2: after 30 minutes, notify schedule 'Payments Primary', "
            "user 'Ada Lovelace' <ada@example.com>.") in text
    assert "Level 3: after 15 minutes (45 minutes after the incident was triggered)" in text
    assert "This is the last of 3 levels." in text
    assert "Starts again at level 1 after 10 minutes if not acknowledged." in text
    # A person is given with their e-mail once; later mentions use the name.
    assert text.count("ada@example.com") == 1
    assert "Assignment: round robin" in text


def test_every_delay_is_said_the_last_level_s_too() -> None:
    """The last rule's delay is one of the policy's details even when nothing follows it."""
    once = policy_document(make_policy(num_loops=0), context(), "c").content
    assert "Does not repeat." in once
    assert "Escalates after 10 minutes, but the policy does not repeat" in once
    assert "Starts again at level 1" not in once
    delays = [r.escalation_delay_in_minutes for r in make_policy().escalation_rules]
    for delay in delays:  # each rule's delay appears in words somewhere
        assert f"after {delay} minutes" in once, delay


def test_the_pagerduty_id_is_in_the_content() -> None:
    policy = make_policy()
    assert f"PagerDuty ID: {policy.id}." in policy_document(policy, context(), "c").content


def test_names_fall_back_to_summary_then_id() -> None:
    text = policy_document(make_policy(), context(), "c").content
    assert "user 'Grace Hopper'" in text  # not in the users listing: the reference's summary
    assert "user 'UNONAME'" in text  # no summary either: the id
    assert "old name" not in text  # a known schedule is named as the account names it now


def test_repeats_handoff_teams_and_services_in_words() -> None:
    text = policy_document(make_policy(), context(), "c").content
    assert "Repeats 2 times" in text
    assert "Handoff notifications: always" in text
    assert "Teams: Payments Platform, Site Reliability." in text
    assert "Services: Checkout API, Card Vault." in text
    once = policy_document(make_policy(num_loops=1), context(), "c").content
    assert "Repeats 1 time:" in once
    unset = policy_document(make_policy(on_call_handoff_notifications=None), context(), "c")
    assert "Handoff notifications: not set" in unset.content


def test_sys_racl_is_subdomain_then_team_ids_without_repeats() -> None:
    doc = policy_document(make_policy(), context(), "c")
    assert doc.sys_racl == ("acme", "TPAY", "TSRE")
    lone = policy_document(make_policy(teams=[]), context(), "c")
    assert lone.sys_racl == ("acme",)
    assert "Teams: none" in lone.content


def test_policy_without_rules_or_name_still_maps() -> None:
    doc = policy_document(
        make_policy(name="", summary="Legacy policy", escalation_rules=[], services=[],
                    num_loops=0, description=None),
        context(), "c",
    )
    assert doc.title == "Legacy policy"
    assert "0 levels" in doc.content
    assert "Services: none." in doc.content
    assert "Description" not in doc.content


def test_hash_is_stable_and_follows_renames() -> None:
    ctx = context()
    first = policy_document(make_policy(), ctx, "c")
    again = policy_document(make_policy(), context(), "c")
    assert first.content_hash == again.content_hash
    renamed = policy_document(make_policy(name="Payments Escalation (EU)"), ctx, "c")
    assert renamed.content_hash != first.content_hash
    assert renamed.title == "Payments Escalation (EU)"
    # Renaming a person the policy notifies changes the policy's text too.
    other = build_context(
        "acme", users=[user("UADA", "Ada King", "ada@example.com")],
        teams=list(ctx.teams.values()), policies=[make_policy()],
        schedules=[],
    )
    assert policy_document(make_policy(), other, "c").content_hash != first.content_hash
