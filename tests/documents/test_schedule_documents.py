"""Layer-based (v2) schedules become documents exactly as DESIGN.md 2.1 says."""

from __future__ import annotations

from typing import Any

import pytest
from mapdata import (
    daily,
    example_listed_schedules,
    example_policies,
    example_schedule,
    example_teams,
    example_users,
    layer,
    ref,
    team,
    user,
    weekly,
)

from pdsearch.documents import (
    MappingError,
    build_context,
    restriction_words,
    rotation_words,
    schedule_document,
)
from pdsearch.pagerduty.models import EscalationPolicy, Restriction, Schedule

HOUR = 3600
DAY = 86400
WEEK = 7 * DAY


def make_schedule(**overrides: Any) -> Schedule:
    data: dict[str, Any] = {
        "id": "SDB",
        "name": "Database Primary",
        "description": "Primary on-call for the Postgres fleet.",
        "time_zone": "Europe/Berlin",
        "html_url": "https://acme.pagerduty.com/schedules/SDB",
        # As PagerDuty lists them: the highest layer first.
        "schedule_layers": [
            layer("Nights", 12 * HOUR, ["UBOB", "UCAT", "UADA"], [daily("20:00:00", 12 * HOUR)],
                  end="2026-12-31T00:00:00Z"),
            layer("Business hours", WEEK, ["UADA", "UBOB"],
                  [weekly(d, "09:00:00", 8 * HOUR) for d in range(1, 6)]),
        ],
        "users": [ref("user", "UADA"), ref("user", "UBOB"), ref("user", "UCAT"),
                  ref("user", "UDAN", "Dan Extra")],
        "teams": [ref("team", "TDB", "Databases")],
        "escalation_policies": [ref("escalation_policy", "PDB", "DB policy (old)")],
    }
    data.update(overrides)
    return Schedule.model_validate(data)


def policy(pid: str, name: str, levels: list[list[str]]) -> EscalationPolicy:
    return EscalationPolicy.model_validate({
        "id": pid, "name": name,
        "escalation_rules": [
            {"escalation_delay_in_minutes": 30,
             "targets": [ref("schedule", t) if t.startswith("S") else ref("user", t)
                         for t in targets]}
            for targets in levels
        ],
    })


def context(schedule: Schedule | None = None) -> Any:
    return build_context(
        "acme",
        users=[user("UADA", "Ada Lovelace", "ada@example.com"),
               user("UBOB", "Bob Stone", "Bob.Stone@Example.com"),
               user("UCAT", "Cat Ng", "cat@example.com")],
        teams=[team("TDB", "Database Reliability", default_role="none")],
        schedules=[schedule or make_schedule()],
        policies=[
            policy("PDB", "Database Escalation", [["SDB"], ["UADA"], ["SDB", "UCAT"]]),
            policy("POPS", "Ops Catch-all", [["UBOB"], ["SDB"]]),
            policy("PNONE", "Unrelated", [["UCAT"]]),
        ],
    )


def test_spec_example_schedule_maps_every_field() -> None:
    sched = example_schedule()
    ctx = build_context("acme", example_users(), example_teams(), [sched], [],
                        example_policies())
    doc = schedule_document(sched, ctx, "conn-1")
    assert doc.id == "schedule:PI7DH85"
    assert doc.type == "schedule"
    assert doc.title == "Daily Engineering Rotation"
    assert doc.url == "https://subdomain.pagerduty.com/schedules/PI7DH85"
    assert doc.sys_racl == ("acme", "PQ9K7I8")
    assert doc.source == "conn-1"
    text = doc.content
    assert "Description: Rotation schedule for engineering" in text
    assert "Time zone: America/New_York." in text
    assert "Layer 1: daily rotation; shifts change at 20:00." in text
    assert "Starts 2015-11-06 21:00 America/New_York, no end date." in text
    assert "Restricted to daily 08:00–17:00." in text
    # Users are named from the users listing, with their e-mail.
    assert "'Earline Greenholt' <125.greenholt.earline@graham.name>" in text
    assert "Team: Engineering." in text
    # The policy listing targets it at level 1; the schedule itself names another policy.
    assert "'Another Escalation Policy'" in text
    assert "'Engineering Escalation Policy' (at level 1 of 1 level)" in text


def test_listed_schedule_without_teams_is_account_wide() -> None:
    sched = example_listed_schedules()[0]
    doc = schedule_document(sched, build_context("acme", example_users()), "c")
    assert doc.sys_racl == ("acme",)
    assert "Layer 1 'Night Shift': daily rotation" in doc.content
    assert "ends 2016-11-06 20:00 America/New_York" in doc.content
    assert "'PagerDuty Admin'" in doc.content


def test_layers_users_restrictions_and_time_zone() -> None:
    doc = schedule_document(make_schedule(), context(), "c")
    text = doc.content
    assert "Time zone: Europe/Berlin." in text
    assert "2 layers (a higher layer wins where layers overlap)." in text
    assert "Layer 1 'Business hours': weekly rotation; shifts change on Monday at 09:00." in text
    assert "Starts 2026-01-05 09:00 Europe/Berlin, no end date." in text
    assert "Users in rotation order: 'Ada Lovelace', then 'Bob Stone'." in text
    assert "Restricted to weekdays (Monday to Friday) 09:00–17:00." in text
    assert "Layer 2 'Nights': rotation every 12 hours. Starts" in text
    assert "ends 2026-12-31 01:00 Europe/Berlin" in text
    assert "'Bob Stone', then 'Cat Ng', then 'Ada Lovelace'" in text
    assert "daily 20:00 for 12 hours, until 08:00 the next day" in text
    assert ("Who is on the Database Primary schedule (all users): "
            "'Ada Lovelace' <ada@example.com>, 'Bob Stone' <Bob.Stone@Example.com>, "
            "'Cat Ng' <cat@example.com>, 'Dan Extra'.") in text
    assert "Team: Database Reliability (private team)." in text
    assert text.startswith("Schedule 'Database Primary' of the Database Reliability team.")
    assert doc.sys_racl == ("acme", "TDB")


def test_policies_using_the_schedule_and_their_total_levels() -> None:
    text = schedule_document(make_schedule(), context(), "c").content
    assert ("Used by escalation policies: 'Database Escalation' (at levels 1, 3 of 3 levels), "
            "'Ops Catch-all' (at level 2 of 2 levels).") in text
    assert "5 escalation levels in total." in text
    assert "Unrelated" not in text
    unused = make_schedule(id="SLONE", escalation_policies=[])
    assert "Not used by any escalation policy." in schedule_document(unused, context(), "c").content


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(DAY, "daily"), (WEEK, "weekly"), (12 * HOUR, "every 12 hours"), (2 * WEEK, "every 2 weeks"),
     (3 * DAY, "every 3 days"), (HOUR, "hourly"), (36 * HOUR, "every 36 hours"),
     (90 * 60, "every 90 minutes"), (45, "every 45 seconds"), (1, "every second")],
)
def test_rotation_lengths_in_words(seconds: int, words: str) -> None:
    assert rotation_words(seconds) == words


@pytest.mark.parametrize(
    ("restrictions", "words"),
    [
        ([daily("08:00:00", 12 * HOUR)], "daily 08:00–20:00"),
        ([daily("00:00:00", DAY)], "daily all day"),
        ([weekly(d, "09:00:00", 8 * HOUR) for d in (1, 2, 3, 4, 5)],
         "weekdays (Monday to Friday) 09:00–17:00"),
        ([weekly(d, "00:00:00", DAY) for d in (6, 7)], "weekends (Saturday and Sunday) all day"),
        ([weekly(d, "10:00:00", 2 * HOUR) for d in (1, 3, 5)],
         "Monday, Wednesday, Friday 10:00–12:00"),
        ([weekly(d, "09:30:00", HOUR) for d in (2, 3, 4)],
         "Tuesday to Thursday 09:30–10:30"),
        ([weekly(1, "09:00:00", 4 * DAY + 8 * HOUR)],
         "Monday 09:00 to Friday 17:00 (the work week)"),
        ([weekly(5, "18:00:00", 2 * DAY + 14 * HOUR)],
         "Friday 18:00 to Monday 08:00 (the weekend)"),
        ([weekly(2, "12:00:00", 2 * DAY)], "Tuesday 12:00 to Thursday 12:00"),
        ([weekly(3, "09:00:00", DAY)], "Wednesday 09:00 for 1 day, until 09:00 the next day"),
        ([weekly(5, "22:00:00", 8 * HOUR)], "Friday 22:00 for 8 hours, until 06:00 the next day"),
        ([weekly(3, "09:00:00", WEEK)], "all week, turning over Wednesday 09:00"),
        ([daily("09:00:00", 3 * HOUR), daily("14:00:00", 3 * HOUR)],
         "daily 09:00–12:00, daily 14:00–17:00"),
    ],
)
def test_restrictions_in_words(restrictions: list[dict[str, Any]], words: str) -> None:
    parsed = [Restriction.model_validate(r) for r in restrictions]
    assert restriction_words(parsed, "S1") == words


@pytest.mark.parametrize(
    ("restriction", "reason"),
    [
        (daily("25:00:00", HOUR), "out of range"),
        (daily("nine", HOUR), "not HH:MM:SS"),
        (daily("09:00:00", 0), "lasting 0 seconds"),
        (daily("09:00:00", 2 * DAY), "lasting 172800 seconds"),
        ({"type": "weekly_restriction", "start_time_of_day": "09:00:00",
          "duration_seconds": HOUR}, "start day None"),
        (weekly(8, "09:00:00", HOUR), "start day 8"),
    ],
)
def test_malformed_restriction_raises_mapping_error_naming_the_schedule(
    restriction: dict[str, Any], reason: str
) -> None:
    bad = make_schedule(schedule_layers=[layer("Broken", DAY, ["UADA"], [restriction])])
    with pytest.raises(MappingError) as caught:
        schedule_document(bad, context(bad), "c")
    assert caught.value.object_id == "SDB"
    assert reason in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_malformed_layer_start_and_length_raise_mapping_error() -> None:
    bad_start = make_schedule(schedule_layers=[layer("X", DAY, ["UADA"], start="next monday")])
    with pytest.raises(MappingError, match="SDB: Layer 1 'X' start"):
        schedule_document(bad_start, context(), "c")
    bad_turn = make_schedule(schedule_layers=[layer("X", 0, ["UADA"])])
    with pytest.raises(MappingError, match="rotation length of 0 seconds"):
        schedule_document(bad_turn, context(), "c")


def test_hash_stable_and_changes_on_rename() -> None:
    first = schedule_document(make_schedule(), context(), "c")
    assert schedule_document(make_schedule(), context(), "c").content_hash == first.content_hash
    renamed = schedule_document(make_schedule(name="Database Primary (EU)"), context(), "c")
    assert renamed.content_hash != first.content_hash
    moved = schedule_document(make_schedule(teams=[]), context(), "c")
    assert moved.content_hash != first.content_hash
    assert moved.sys_racl == ("acme",)


def test_unknown_time_zone_keeps_the_offset() -> None:
    sched = make_schedule(time_zone="Mars/Olympus",
                          schedule_layers=[layer("X", DAY, ["UADA"])])
    text = schedule_document(sched, context(sched), "c").content
    assert "Time zone: Mars/Olympus." in text
    assert "Starts 2026-01-05 09:00 UTC+01:00" in text
