"""Whatever PagerDuty (or a broken proxy) sends, mapping either succeeds or raises MappingError
naming the object: the sync engine counts one failed object and goes on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import given, settings
from hypothesis import strategies as st
from mapdata import layer, ref, user

from pdsearch.documents import (
    MappingError,
    build_context,
    recurrence_words,
    restriction_words,
    schedule_document,
)
from pdsearch.pagerduty.models import Restriction, Schedule, ScheduleV3

T = TypeVar("T")


def attempt(call: Callable[[], T]) -> T | MappingError:
    """What ``call`` returns, or the MappingError it raised (any other error propagates)."""
    try:
        return call()
    except MappingError as exc:
        return exc

rrule_parts = st.sampled_from([
    "FREQ=DAILY", "FREQ=WEEKLY", "FREQ=MONTHLY", "FREQ=YEARLY", "FREQ=HOURLY", "FREQ=NEVER",
    "INTERVAL=2", "INTERVAL=0", "INTERVAL=x", "BYDAY=MO,TU", "BYDAY=1MO", "BYDAY=XX", "BYDAY=",
    "BYDAY=+2FR", "BYDAY=aMO", "COUNT=3", "COUNT=-1", "UNTIL=20260101T000000Z", "UNTIL=soon",
    "BYMONTH=13", "BYMONTH=2", "BYHOUR=25", "BYHOUR=9", "BYMONTHDAY=31", "WKST=MO", "=", "X",
])
lines = st.one_of(
    st.lists(rrule_parts, max_size=5).map(lambda p: "RRULE:" + ";".join(p)),
    st.sampled_from(["EXDATE:20260101T090000Z", "EXDATE:2026-01-01", "RDATE;VALUE=DATE:20260704",
                     "RDATE:", "EXDATE;TZID=Europe/Berlin:20260101T090000", "nonsense"]),
    st.text(max_size=40),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(lines, max_size=4))
def test_recurrence_words_never_fails_otherwise(recurrence: list[str]) -> None:
    text = attempt(lambda: recurrence_words(recurrence, "PSCHED"))
    if isinstance(text, MappingError):
        assert text.object_id == "PSCHED"
    else:
        assert text


restrictions = st.builds(
    lambda kind, start, dur, day: Restriction.model_validate(
        {"type": kind, "start_time_of_day": start, "duration_seconds": dur,
         "start_day_of_week": day}),
    st.sampled_from(["daily_restriction", "weekly_restriction"]),
    st.one_of(st.from_regex(r"\A[0-9]{1,2}:[0-9]{2}(:[0-9]{2})?\Z"), st.text(max_size=10)),
    st.integers(min_value=-10, max_value=10 * 86400),
    st.one_of(st.none(), st.integers(min_value=-1, max_value=9)),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(restrictions, min_size=1, max_size=6))
def test_restriction_words_never_fails_otherwise(items: list[Restriction]) -> None:
    text = attempt(lambda: restriction_words(items, "PSCHED"))
    if isinstance(text, MappingError):
        assert text.object_id == "PSCHED"
    else:
        assert text


moments = st.one_of(
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.sampled_from(["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", "yesterday", ""]),
)
zones = st.sampled_from(["Europe/Berlin", "UTC", "Mars/Olympus", "", "../etc", "Europe"])


@settings(max_examples=150, deadline=None)
@given(moments, moments, zones, st.integers(min_value=-1, max_value=4 * 604800))
def test_layer_and_event_times_never_fail_otherwise(
    start: str, end: str, zone: str, turn: int
) -> None:
    ctx = build_context("acme", users=[user("U1", "Ada Lovelace", "ada@example.com")])
    v2 = Schedule.model_validate({"id": "PS2", "name": "S", "time_zone": zone,
                                  "schedule_layers": [layer("L", turn, ["U1"], start=start,
                                                            end=end or None)]})
    event: dict[str, Any] = {
        "id": "E1", "name": "Shift", "start_time": {"date_time": start, "time_zone": zone},
        "end_time": {"date_time": end, "time_zone": zone}, "effective_since": start,
        "recurrence": ["RRULE:FREQ=DAILY"],
        "assignment_strategy": {"type": "rotating_member_assignment_strategy",
                                "members": [{"type": "user_member", "user_id": "U1"}]},
    }
    v3 = ScheduleV3.model_validate({"id": "PS3", "name": "S3", "time_zone": zone,
                                    "teams": [ref("team", "T1")],
                                    "rotations": [{"id": "R1", "events": [event]}]})
    for schedule in (v2, v3):
        doc = attempt(lambda: schedule_document(schedule, ctx, "c"))  # noqa: B023 - called at once
        if isinstance(doc, MappingError):
            assert doc.object_id == schedule.id
        else:
            assert "'Ada Lovelace'" in doc.content
