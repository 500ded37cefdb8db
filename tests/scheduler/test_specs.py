"""Validation of schedule specs and the crontab semantics of cron lines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pdsearch.scheduler import ScheduleError, cron_trigger, validate_spec

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)  # a Friday


def next_fires(expr: str, n: int = 5) -> list[datetime]:
    trig = cron_trigger(expr)
    out: list[datetime] = []
    prev = None
    now = NOW
    for _ in range(n):
        nxt = trig.get_next_fire_time(prev, now)
        assert nxt is not None
        out.append(nxt)
        prev, now = nxt, nxt + timedelta(seconds=1)
    return out


def test_valid_specs_are_normalized() -> None:
    assert validate_spec({"interval_minutes": 30}, now=NOW) == {"interval_minutes": 30}
    assert validate_spec({"cron": "  0  3 * * *  "}, now=NOW) == {"cron": "0 3 * * *"}
    assert validate_spec({"run_at": "2026-11-27T10:30:00+01:00"}, now=NOW) == {
        "run_at": "2026-11-27T09:30:00Z"
    }
    assert validate_spec({"run_at": "2027-01-01T00:00:00Z", "cron": None}, now=NOW) == {
        "run_at": "2027-01-01T00:00:00Z"
    }


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({}, "exactly one"),
        ({"interval_minutes": 5, "cron": "* * * * *"}, "exactly one"),
        ({"every": 5}, "Unknown schedule field every"),
        ({"interval_minutes": 0}, "between 1 and 525,600"),
        ({"interval_minutes": 525_601}, "between 1 and 525,600"),
        ({"interval_minutes": True}, "whole number"),
        ({"interval_minutes": "5"}, "whole number"),
        ({"interval_minutes": 1.5}, "whole number"),
        ({"cron": ""}, "crontab line"),
        ({"cron": "* * *"}, "five fields"),
        ({"cron": "61 * * * *"}, "not valid"),
        ({"cron": "x * * * *"}, "not valid"),
        ({"cron": "0 0 * * funday"}, "Unrecognised weekday"),
        ({"cron": "0 0 * * 5-1"}, "backwards"),
        ({"cron": "0 0 31 2 *"}, "within the next year"),
        ({"run_at": "2026-11-27T07:00:00Z"}, "in the past"),
        ({"run_at": "2026-12-01T07:00:00"}, "time zone"),
        ({"run_at": "tomorrow"}, "not an ISO 8601 time"),
        ({"run_at": 12345}, "ISO 8601"),
    ],
)
def test_invalid_specs_are_rejected_clearly(spec: dict[str, object], message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        validate_spec(spec, now=NOW)


def test_schedule_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="interval_minutes must be between"):
        validate_spec({"interval_minutes": -1}, now=NOW)


def test_cron_weekdays_follow_crontab_not_apscheduler() -> None:
    # In crontab 0 and 7 are Sunday (APScheduler 3 alone would read 0 as Monday).
    for expr in ("0 3 * * 0", "0 3 * * 7", "0 3 * * sun", "0 3 * * SUN"):
        assert {d.strftime("%a") for d in next_fires(expr)} == {"Sun"}, expr
    weekdays = next_fires("30 6 * * 1-5", 10)
    assert {d.strftime("%a") for d in weekdays} == {"Mon", "Tue", "Wed", "Thu", "Fri"}
    assert all((d.hour, d.minute) == (6, 30) for d in weekdays)
    assert {d.strftime("%a") for d in next_fires("0 0 * * mon-sun", 7)} == {
        "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"
    }
    assert {d.strftime("%a") for d in next_fires("0 0 * * */2", 8)} == {"Sun", "Tue", "Thu", "Sat"}


def test_cron_day_and_weekday_match_either_as_in_cron() -> None:
    fires = next_fires("0 0 13 * 5", 6)
    assert all(d.day == 13 or d.strftime("%a") == "Fri" for d in fires)
    assert any(d.day == 13 and d.strftime("%a") != "Fri" for d in next_fires("0 0 13 * 5", 12))


def test_cron_macros_and_utc() -> None:
    assert next_fires("@daily", 1) == [datetime(2026, 11, 28, 0, 0, tzinfo=UTC)]
    assert next_fires("@hourly", 2)[1] == datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    assert next_fires("*/15 * * * *", 2) == [
        datetime(2026, 11, 27, 8, 0, tzinfo=UTC),
        datetime(2026, 11, 27, 8, 15, tzinfo=UTC),
    ]


def test_cron_in_a_time_zone() -> None:
    spec = validate_spec({"cron": "0 3 * * *", "timezone": "Europe/Berlin"}, now=NOW)
    assert spec == {"cron": "0 3 * * *", "timezone": "Europe/Berlin"}
    first = cron_trigger("0 3 * * *", "Europe/Berlin").get_next_fire_time(None, NOW)
    assert first is not None
    assert first.astimezone(UTC) == datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
    # Summer time moves the UTC hour, not the local one.
    july = datetime(2027, 7, 1, tzinfo=UTC)
    summer = cron_trigger("0 3 * * *", "Europe/Berlin").get_next_fire_time(None, july)
    assert summer is not None
    assert summer.astimezone(UTC).hour == 1


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"cron": "0 3 * * *", "timezone": "Mars/Olympus"}, "Unknown time zone"),
        ({"cron": "0 3 * * *", "timezone": "../../etc/passwd"}, "Unknown time zone"),
        ({"cron": "0 3 * * *", "timezone": 5}, "IANA name"),
        ({"interval_minutes": 5, "timezone": "UTC"}, "cron only"),
    ],
)
def test_bad_time_zones(spec: dict[str, object], message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        validate_spec(spec, now=NOW)
