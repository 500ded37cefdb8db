"""Schedule specs: validation and their APScheduler triggers (used by ``pdsearch.scheduler``).

    {"interval_minutes": 30}                       every 30 minutes (1 .. 525,600, a year)
    {"cron": "0 3 * * 1-5", "timezone"?: "Europe/Berlin"}
        a five-field crontab line read as crontab(5) does (0 and 7 are Sunday, names, @daily;
        day-of-month and weekday both restricted: either matches), in UTC unless a time zone
        is named; it must fire within the next year
    {"run_at": "2030-01-01T09:00:00Z"}             once, an ISO 8601 time with a zone, in the future
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from pdsearch.store import iso

MAX_INTERVAL_MINUTES: Final = 525_600
CRON_HORIZON: Final = timedelta(days=366)
SPEC_KEYS: Final = ("interval_minutes", "cron", "run_at")
OPTIONAL_KEYS: Final = ("timezone",)  # with cron only
_HOW: Final = (
    'Give exactly one of {"interval_minutes": 30}, {"cron": "0 3 * * *"} (five fields, UTC) '
    'or {"run_at": "2030-01-01T09:00:00Z"} (ISO 8601 with a time zone).'
)
_MACROS: Final = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_DAY_NAMES: Final = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


class ScheduleError(ValueError):
    """A schedule spec that cannot be used; the message says what to give instead."""


def validate_spec(spec: Mapping[str, Any], *, now: datetime | None = None) -> dict[str, Any]:
    """The spec checked and normalised (run_at in UTC with ``Z``), or ``ScheduleError``."""
    now = now or datetime.now(UTC)
    if not isinstance(spec, Mapping):
        raise ScheduleError(f"A schedule must be an object. {_HOW}")
    unknown = sorted(set(spec) - set(SPEC_KEYS) - set(OPTIONAL_KEYS))
    if unknown:
        raise ScheduleError(f"Unknown schedule field {', '.join(map(str, unknown))}. {_HOW}")
    given = [k for k in SPEC_KEYS if spec.get(k) is not None]
    if len(given) != 1:
        raise ScheduleError(_HOW)
    key = given[0]
    value = spec[key]
    zone = spec.get("timezone")
    if zone is not None and key != "cron":
        raise ScheduleError(
            "timezone goes with cron only; interval_minutes and run_at (which carries its own "
            "offset) need none."
        )
    if key == "interval_minutes":
        return {"interval_minutes": check_interval(value)}
    if key == "cron":
        expr = check_cron_text(value)
        first = cron_trigger(expr, zone).get_next_fire_time(None, now)
        if first is None or first > now + CRON_HORIZON:
            raise ScheduleError(
                f"The cron line {expr!r} would not fire within the next year; check its day and "
                "month fields."
            )
        return {"cron": expr} if zone is None else {"cron": expr, "timezone": zone}
    run_at = parse_run_at(value)
    if run_at <= now:
        raise ScheduleError(
            f"run_at {iso(run_at)} is in the past; give a time in the future, e.g. "
            f"{iso((now + timedelta(hours=1)).replace(microsecond=0))}."
        )
    return {"run_at": iso(run_at)}


def check_interval(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScheduleError("interval_minutes must be a whole number of minutes, e.g. 30.")
    if not 1 <= value <= MAX_INTERVAL_MINUTES:
        raise ScheduleError(
            f"interval_minutes must be between 1 and {MAX_INTERVAL_MINUTES:,} (a year); "
            f"got {value}."
        )
    return value


def check_cron_text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ScheduleError("cron must be a crontab line such as '0 3 * * *'.")
    expr = " ".join(value.split())
    if len(expr) > 200:
        raise ScheduleError("The cron line is too long; give five fields such as '0 3 * * *'.")
    return expr


def parse_run_at(value: Any) -> datetime:
    """An aware datetime from an ISO 8601 string (or datetime), else ``ScheduleError``."""
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, str):
        try:
            when = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ScheduleError(
                f"run_at {value!r} is not an ISO 8601 time; give e.g. 2030-01-01T09:00:00Z."
            ) from None
    else:
        raise ScheduleError("run_at must be an ISO 8601 time such as 2030-01-01T09:00:00Z.")
    if when.tzinfo is None or when.utcoffset() is None:
        raise ScheduleError(
            "run_at needs a time zone, e.g. 2030-01-01T09:00:00Z or 2030-01-01T10:00:00+01:00."
        )
    return when.astimezone(UTC)


def time_zone(name: Any) -> tzinfo:
    """The IANA time zone of that name (None: UTC), else ``ScheduleError``."""
    if name is None:
        return UTC
    if not isinstance(name, str) or not name.strip():
        raise ScheduleError("timezone must be an IANA name such as Europe/Berlin.")
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"Unknown time zone {name!r}; give an IANA name such as Europe/Berlin, "
            "America/New_York or UTC."
        ) from None


def cron_trigger(expr: str, zone: str | None = None) -> CronTrigger | OrTrigger:
    """An APScheduler trigger firing as crontab(5) would for ``expr``, in ``zone`` (UTC when
    None)."""
    tz = time_zone(zone)
    expr = _MACROS.get(expr.strip().lower(), expr)
    fields = expr.split()
    if len(fields) != 5:
        raise ScheduleError(
            f"A cron line has five fields (minute hour day-of-month month day-of-week), e.g. "
            f"'0 3 * * *' for 03:00 UTC daily; {expr!r} has {len(fields)}."
        )
    minute, hour, dom, month, dow = fields
    weekday = _translate_weekdays(dow)
    try:
        if not dom.startswith("*") and not dow.startswith("*"):
            # cron fires when either the day of month or the weekday matches.
            return OrTrigger(
                [
                    CronTrigger(minute=minute, hour=hour, day=dom, month=month, timezone=tz),
                    CronTrigger(
                        minute=minute, hour=hour, month=month, day_of_week=weekday, timezone=tz
                    ),
                ]
            )
        return CronTrigger(
            minute=minute, hour=hour, day=dom, month=month, day_of_week=weekday, timezone=tz
        )
    except ValueError as exc:
        raise ScheduleError(f"The cron line {expr!r} is not valid: {exc}.") from None


def _translate_weekdays(field: str) -> str:
    """crontab weekdays (0 or 7 = Sunday) as APScheduler 3 day names (where 0 = Monday)."""
    if field == "*":
        return "*"
    days: set[int] = set()
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) < 1:
                raise ScheduleError(f"Bad step in the cron weekday field {field!r}.")
            step = int(step_text)
        if base == "*":
            first, last = 0, 6
        elif "-" in base:
            lo, _, hi = base.partition("-")
            first, last = _weekday(lo, field), _weekday(hi, field)
            if last == 0 and first > 0:
                last = 7  # "mon-sun" runs Monday to Sunday
            if first > last:
                raise ScheduleError(f"The cron weekday range {base!r} runs backwards.")
        else:
            first = _weekday(base, field)
            last = 6 if step_text else first
        days.update(d % 7 for d in range(first, last + 1, step))
    return ",".join(_DAY_NAMES[d] for d in sorted(days))


def _weekday(text: str, field: str) -> int:
    """0-7 as written (7 is Sunday too), or a day name's number."""
    text = text.strip().lower()
    if text.isdigit() and int(text) <= 7:
        return int(text)
    if text in _DAY_NAMES:
        return _DAY_NAMES.index(text)
    raise ScheduleError(
        f"Unrecognised weekday {text!r} in the cron field {field!r}; use 0-7 (0 and 7 are "
        "Sunday) or sun, mon, ... sat."
    )


def build_trigger(
    spec: Mapping[str, Any], anchor: datetime
) -> IntervalTrigger | CronTrigger | OrTrigger | DateTrigger:
    """The APScheduler trigger of a validated spec; intervals count from ``anchor``."""
    if "interval_minutes" in spec:
        return IntervalTrigger(
            minutes=int(spec["interval_minutes"]), start_date=anchor, timezone=UTC
        )
    if "cron" in spec:
        return cron_trigger(str(spec["cron"]), spec.get("timezone"))
    return DateTrigger(run_date=parse_run_at(spec["run_at"]), timezone=UTC)
