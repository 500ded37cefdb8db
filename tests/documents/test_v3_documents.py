"""Shift-based (v3) schedules map to the same document shape as v2 ones (type "schedule")."""

from __future__ import annotations

from typing import Any

import pytest
from mapdata import ref, team, user

from pdsearch.documents import MappingError, build_context, recurrence_words, schedule_document
from pdsearch.pagerduty.models import EscalationPolicy, ScheduleV3


def event(name: str, rrule: list[str], strategy: dict[str, Any],
          start: str = "2026-03-02T08:00:00Z", end: str = "2026-03-02T16:00:00Z",
          tz: str = "Europe/Berlin", until: str | None = None) -> dict[str, Any]:
    return {"id": f"E{name[:4]}", "type": "schedule_event", "name": name,
            "start_time": {"date_time": start, "time_zone": tz},
            "end_time": {"date_time": end, "time_zone": tz},
            "effective_since": "2026-03-02T00:00:00Z", "effective_until": until,
            "recurrence": rrule, "assignment_strategy": strategy}


def rotating(*users: str, shifts: int = 1) -> dict[str, Any]:
    return {"type": "rotating_member_assignment_strategy", "shifts_per_member": shifts,
            "members": [{"type": "user_member", "user_id": u} for u in users]}


def make_v3(**overrides: Any) -> ScheduleV3:
    data: dict[str, Any] = {
        "id": "PV3SHFT",
        "type": "schedule_v3",
        "name": "Checkout Shifts",
        "description": "Follow-the-sun coverage for checkout.",
        "time_zone": "Europe/Berlin",
        "html_url": "https://acme.pagerduty.com/schedules/PV3SHFT",
        "teams": [ref("team", "TCHK", "Checkout"), ref("team", "TSRE", "SRE")],
        "rotations": [
            {"id": "ROT1", "type": "schedule_rotation", "events": [
                event("Day shift", ["RRULE:FREQ=WEEKLY;BYDAY=MO,TU"],
                      rotating("UADA", "UBOB", shifts=2)),
            ]},
            {"id": "ROT2", "type": "schedule_rotation", "events": [
                event("Weekend cover", ["RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=SA",
                                        "EXDATE:20261226T080000Z"],
                      {"type": "every_member_assignment_strategy",
                       "members": [{"type": "user_member", "user_id": "UCAT"},
                                   {"type": "empty_member"}]},
                      start="2026-03-07T08:00:00Z", end="2026-03-09T08:00:00Z",
                      until="2026-12-31T00:00:00Z"),
            ]},
        ],
    }
    data.update(overrides)
    return ScheduleV3.model_validate(data)


def context(schedule: ScheduleV3) -> Any:
    policy = EscalationPolicy.model_validate({
        "id": "PCHK", "name": "Checkout Escalation",
        "escalation_rules": [
            {"escalation_delay_in_minutes": 5, "targets": [ref("user", "UADA")]},
            {"escalation_delay_in_minutes": 5,
             "targets": [{"id": "PV3SHFT", "type": "schedule_v3_reference"}]},
        ],
    })
    return build_context(
        "acme",
        users=[user("UADA", "Ada Lovelace", "ada@example.com"),
               user("UBOB", "Bob Stone", "bob@example.com"),
               user("UCAT", "Cat Ng", "cat@example.com")],
        teams=[team("TCHK", "Checkout"), team("TSRE", "Site Reliability")],
        schedules_v3=[schedule],
        policies=[policy],
    )


def test_v3_schedule_document_fields() -> None:
    sched = make_v3()
    doc = schedule_document(sched, context(sched), "conn-9")
    assert doc.id == "schedule:PV3SHFT"
    assert doc.type == "schedule"
    assert doc.title == "Checkout Shifts"
    assert doc.url == "https://acme.pagerduty.com/schedules/PV3SHFT"
    assert doc.sys_racl == ("acme", "TCHK", "TSRE")
    assert doc.source == "conn-9"


def test_v3_rotations_events_and_members_in_words() -> None:
    sched = make_v3()
    text = schedule_document(sched, context(sched), "c").content
    assert "Shift-based schedule 'Checkout Shifts' of the Checkout, Site Reliability teams." in text
    assert "Description: Follow-the-sun coverage for checkout." in text
    assert "Time zone: Europe/Berlin." in text
    assert "2 rotations." in text
    assert ("Rotation 1 event 'Day shift': weekly on Monday, Tuesday, 09:00–17:00 "
            "Europe/Berlin.") in text
    assert "Effective from 2026-03-02 01:00 Europe/Berlin, with no end date." in text
    assert ("Members take turns, each covering 2 shifts before the next takes over, in this "
            "order: 'Ada Lovelace', then 'Bob Stone'.") in text
    assert ("Rotation 2 event 'Weekend cover': every 2 weeks on Saturday, except on "
            "2026-12-26 08:00 UTC, from Saturday 09:00 to Monday 09:00 (2 days)") in text
    assert "until 2026-12-31 01:00 Europe/Berlin" in text
    assert ("Every member takes every shift, together: 'Cat Ng', "
            "an empty slot (nobody).") in text
    assert ("Who is on the Checkout Shifts schedule (all users): 'Ada Lovelace' <ada@example.com>, "
            "'Bob Stone' <bob@example.com>, "
            "'Cat Ng' <cat@example.com>.") in text
    assert "Teams: Checkout, Site Reliability." in text
    # A policy can target a v3 schedule (schedule_v3_reference).
    assert "Used by escalation policy: 'Checkout Escalation' (at level 2 of 2 levels)." in text


@pytest.mark.parametrize(
    ("lines", "words"),
    [
        (["RRULE:FREQ=WEEKLY;BYDAY=MO,TU"], "weekly on Monday, Tuesday"),
        (["RRULE:FREQ=DAILY"], "daily"),
        (["RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"],
         "weekly on Monday, Tuesday, Wednesday, Thursday, Friday (weekdays)"),
        (["RRULE:FREQ=WEEKLY;BYDAY=SU,SA"], "weekly on Sunday, Saturday (weekends)"),
        (["RRULE:FREQ=DAILY;INTERVAL=3"], "every 3 days"),
        (["RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=FR"], "every 2 weeks on Friday"),
        (["RRULE:FREQ=MONTHLY;BYDAY=1MO"], "monthly on the first Monday"),
        (["RRULE:FREQ=MONTHLY;BYDAY=-1FR"], "monthly on the last Friday"),
        (["RRULE:FREQ=MONTHLY;BYMONTHDAY=1,15"], "monthly on day 1, 15 of the month"),
        (["RRULE:FREQ=YEARLY;BYMONTH=12"], "yearly in December"),
        (["RRULE:FREQ=DAILY;COUNT=10"], "daily, 10 occurrences in all"),
        (["RRULE:FREQ=WEEKLY;UNTIL=20260901T000000Z"], "weekly, until 2026-09-01 00:00 UTC"),
        (["RRULE:FREQ=HOURLY;INTERVAL=12"], "every 12 hours"),
        (["RRULE:FREQ=DAILY", "RDATE;VALUE=DATE:20260704"], "daily, also on 2026-07-04"),
        ([], "once (no recurrence)"),
    ],
)
def test_recurrence_in_words(lines: list[str], words: str) -> None:
    assert recurrence_words(lines, "S1") == words


@pytest.mark.parametrize(
    "lines",
    [["RRULE:BYDAY=MO"], ["RRULE:FREQ=SOMETIMES"], ["RRULE:FREQ=WEEKLY;BYDAY=XX"],
     ["RRULE:FREQ=DAILY;INTERVAL=0"], ["RRULE:FREQ=DAILY;INTERVAL"], ["FREQ=DAILY"],
     ["RRULE:FREQ=DAILY", "EXDATE:tomorrow"], ["VEVENT:FREQ=DAILY"]],
)
def test_malformed_recurrence_raises_mapping_error(lines: list[str]) -> None:
    sched = make_v3(rotations=[{"id": "R", "events": [event("Bad", lines, rotating("UADA"))]}])
    with pytest.raises(MappingError) as caught:
        schedule_document(sched, context(sched), "c")
    assert caught.value.object_id == "PV3SHFT"


def test_daily_event_of_a_whole_day_reads_as_a_daily_window() -> None:
    day = event("Daily On-Call", ["RRULE:FREQ=DAILY"], rotating("UADA", "UBOB", shifts=7),
                start="2026-03-02T08:00:00Z", end="2026-03-03T08:00:00Z")
    sched = make_v3(rotations=[{"id": "R", "events": [day]}])
    text = schedule_document(sched, context(sched), "c").content
    assert ("'Daily On-Call': daily, 09:00 for 1 day, until 09:00 the next day "
            "Europe/Berlin.") in text
    assert "each covering 7 shifts" in text


def test_event_ending_before_it_starts_is_a_mapping_error() -> None:
    bad = event("Backwards", ["RRULE:FREQ=DAILY"], rotating("UADA"),
                start="2026-03-02T16:00:00Z", end="2026-03-02T08:00:00Z")
    sched = make_v3(rotations=[{"id": "R", "events": [bad]}])
    with pytest.raises(MappingError, match="ends before it starts"):
        schedule_document(sched, context(sched), "c")
