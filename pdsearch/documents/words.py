"""PagerDuty's numbers, times and rules in the words a person would use.

Rotation lengths, restrictions, RFC 5545 recurrences, dates and durations. Reading them is also
where malformed objects show: every reader raises ``MappingError`` naming the object.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pdsearch.documents.context import MappingError
from pdsearch.pagerduty.models import Restriction

DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_RRULE_DAYS = {"MO": 0, "TU": 1, "WE": 2, "TH": 3, "FR": 4, "SA": 5, "SU": 6}
_ORDINALS = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", -1: "last",
             -2: "second to last"}
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")
_FREQ_UNITS = {"SECONDLY": "second", "MINUTELY": "minute", "HOURLY": "hour", "DAILY": "day",
               "WEEKLY": "week", "MONTHLY": "month", "YEARLY": "year"}
_EVERY_ONE = {"second": "every second", "minute": "every minute", "hour": "hourly",
              "day": "daily", "week": "weekly", "month": "monthly", "year": "yearly"}
_DAY = 86400
_WEEK = 7 * _DAY


def rotation_words(seconds: int) -> str:
    """A rotation length in words: "daily", "weekly", "every 12 hours", "every 2 weeks"."""
    for unit, unit_seconds in (("week", _WEEK), ("day", _DAY), ("hour", 3600), ("minute", 60)):
        if seconds % unit_seconds == 0:
            return _every(seconds // unit_seconds, unit)
    return _every(seconds, "second")


def _every(n: int, unit: str) -> str:
    return _EVERY_ONE[unit] if n == 1 else f"every {n} {unit}s"


# --- restrictions -------------------------------------------------------------------------


def restriction_words(restrictions: Sequence[Restriction], object_id: str) -> str:
    """Restrictions in words: "weekdays 09:00–17:00", "Monday 09:00 to Friday 17:00"."""
    # Weekly restrictions sharing a time window are grouped ("weekdays 09:00–17:00"), placed
    # where their first member appears, so the text stays stable for an unchanged schedule.
    items: list[str | tuple[int, int]] = []
    groups: dict[tuple[int, int], list[int]] = {}
    for r in restrictions:
        start = _time_of_day(object_id, r.start_time_of_day)
        dur = r.duration_seconds
        if r.type == "daily_restriction":
            if not 0 < dur <= _DAY:
                raise MappingError(object_id, f"daily restriction lasting {dur} seconds")
            items.append("daily " + ("all day" if dur == _DAY else time_window(start, dur)))
            continue
        day = r.start_day_of_week
        if day is None or not 1 <= day <= 7:
            raise MappingError(object_id, f"weekly restriction with start day {day!r}")
        if not 0 < dur <= _WEEK:
            raise MappingError(object_id, f"weekly restriction lasting {dur} seconds")
        if dur <= _DAY:
            if (start, dur) not in groups:
                items.append((start, dur))
            days = groups.setdefault((start, dur), [])
            if day not in days:
                days.append(day)
        elif dur == _WEEK:
            items.append(f"all week, turning over {DAY_NAMES[day - 1]} {hhmm(start)}")
        else:
            items.append(_span_words(day, start, dur))
    out = []
    for item in items:
        if isinstance(item, tuple):
            start, dur = item
            window = "all day" if start == 0 and dur == _DAY else time_window(start, dur)
            out.append(f"{_days_words(groups[item])} {window}")
        else:
            out.append(item)
    return join(out)


def _span_words(day: int, start: int, dur: int) -> str:
    """A weekly restriction longer than a day: "Monday 09:00 to Friday 17:00 (the work week)"."""
    begin = (day - 1) * _DAY + start
    end_day, end_time = divmod(begin + dur, _DAY)
    text = (f"{DAY_NAMES[day - 1]} {hhmm(start)} to {DAY_NAMES[end_day % 7]} "
            f"{hhmm(end_time)}")
    # Name the spans people talk about: a window covering all of Saturday and Sunday is the
    # weekend; one running from Monday to Friday is the work week. A window may wrap past
    # Sunday midnight, so each day is also tried a week later.
    covers = [(begin <= d * _DAY and (d + 1) * _DAY <= begin + dur)
              or (begin <= d * _DAY + _WEEK and (d + 1) * _DAY + _WEEK <= begin + dur)
              for d in range(7)]
    if covers[5] and covers[6] and day in (5, 6, 7) and not any(covers[:4]):
        text += " (the weekend)"
    elif day == 1 and end_day == 4 and not covers[5]:
        text += " (the work week)"
    return text


def _days_words(days: list[int]) -> str:
    ordered = sorted(days)
    if ordered == [1, 2, 3, 4, 5, 6, 7]:
        return "every day"
    if ordered == [1, 2, 3, 4, 5]:
        return "weekdays (Monday to Friday)"
    if ordered == [6, 7]:
        return "weekends (Saturday and Sunday)"
    if len(ordered) >= 3 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{DAY_NAMES[ordered[0] - 1]} to {DAY_NAMES[ordered[-1] - 1]}"
    return join([DAY_NAMES[d - 1] for d in ordered])


def _time_of_day(object_id: str, text: str) -> int:
    """Seconds since midnight of "HH:MM:SS" (or "HH:MM")."""
    pieces = text.split(":")
    try:
        if len(pieces) not in (2, 3):
            raise ValueError(text)
        h, m, s = (int(p) for p in [*pieces, "0"][:3])
    except ValueError:
        raise MappingError(object_id, f"restriction start time {text!r} is not HH:MM:SS") from None
    if not (0 <= h < 24 and 0 <= m < 60 and 0 <= s < 60):
        raise MappingError(object_id, f"restriction start time {text!r} is out of range")
    return h * 3600 + m * 60 + s


# --- recurrence (RFC 5545) ----------------------------------------------------------------


def recurrence_words(recurrence: Sequence[str], object_id: str) -> str:
    """RFC 5545 recurrence lines in words: FREQ=WEEKLY;BYDAY=MO,TU → "weekly on Monday, Tuesday"."""
    rules: list[str] = []
    exdates: list[str] = []
    rdates: list[str] = []
    for line in recurrence:
        name, sep, value = line.strip().partition(":")
        if not sep:
            raise MappingError(object_id, f"recurrence line {line!r} has no ':'")
        kind = name.split(";")[0].upper()
        if kind == "RRULE":
            rules.append(_rrule_words(value, object_id))
        elif kind == "EXDATE":
            exdates.extend(_ical_date(object_id, v) for v in value.split(","))
        elif kind == "RDATE":
            rdates.extend(_ical_date(object_id, v) for v in value.split(","))
        else:
            raise MappingError(object_id, f"unknown recurrence line {line!r}")
    text = " and ".join(rules) if rules else "once (no recurrence)"
    if rdates:
        text += f", also on {join(rdates)}"
    if exdates:
        text += f", except on {join(exdates)}"
    return text


def _rrule_words(value: str, object_id: str) -> str:
    parts: dict[str, str] = {}
    for piece in value.split(";"):
        if not piece:
            continue
        key, sep, val = piece.partition("=")
        if not sep or not val:
            raise MappingError(object_id, f"RRULE part {piece!r} is not KEY=VALUE")
        parts[key.upper()] = val.upper()
    freq = parts.get("FREQ")
    if freq not in _FREQ_UNITS:
        raise MappingError(object_id, f"RRULE {value!r} has no valid FREQ")
    interval = _bounded(parts.get("INTERVAL", "1"), 1, None, object_id, "INTERVAL")
    text = _every(interval, _FREQ_UNITS[freq])
    if "BYDAY" in parts:
        days = parts["BYDAY"].split(",")
        text += " on " + join([_byday_words(d, object_id) for d in days])
        if sorted(days, key=lambda d: _RRULE_DAYS.get(d, 9)) == ["MO", "TU", "WE", "TH", "FR"]:
            text += " (weekdays)"
        elif sorted(days) == ["SA", "SU"]:
            text += " (weekends)"
    if "BYMONTHDAY" in parts:
        text += f" on day {join(parts['BYMONTHDAY'].split(','))} of the month"
    if "BYMONTH" in parts:
        months = [_MONTHS[_bounded(m, 1, 12, object_id, "BYMONTH") - 1]
                  for m in parts["BYMONTH"].split(",")]
        text += f" in {join(months)}"
    if "BYHOUR" in parts:
        hours = [f"{_bounded(h, 0, 23, object_id, 'BYHOUR'):02d}:00"
                 for h in parts["BYHOUR"].split(",")]
        text += f" at {join(hours)}"
    if "COUNT" in parts:
        occurrences = _bounded(parts["COUNT"], 1, None, object_id, "COUNT")
        text += f", {counted(occurrences, 'occurrence')} in all"
    if "UNTIL" in parts:
        text += f", until {_ical_date(object_id, parts['UNTIL'])}"
    return text


def _byday_words(token: str, object_id: str) -> str:
    """"MO" → "Monday"; "-1SU" (an nth weekday of the month) → "the last Sunday"."""
    day = token[-2:]
    if day not in _RRULE_DAYS:
        raise MappingError(object_id, f"RRULE BYDAY value {token!r} is not a weekday")
    name = DAY_NAMES[_RRULE_DAYS[day]]
    if len(token) == 2:
        return name
    try:
        nth = int(token[:-2])
    except ValueError:
        raise MappingError(object_id, f"RRULE BYDAY value {token!r} is malformed") from None
    return f"the {_ORDINALS.get(nth, f'number {nth}')} {name}"


def _ical_date(object_id: str, text: str) -> str:
    text = text.strip()
    try:
        if "T" in text:
            moment = datetime.strptime(text.rstrip("Z"), "%Y%m%dT%H%M%S")
            return f"{moment:%Y-%m-%d %H:%M}" + (" UTC" if text.endswith("Z") else "")
        return f"{datetime.strptime(text, '%Y%m%d'):%Y-%m-%d}"
    except ValueError:
        raise MappingError(object_id, f"recurrence date {text!r} is malformed") from None


def _bounded(text: str, low: int, high: int | None, object_id: str, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise MappingError(object_id, f"RRULE {what}={text!r} is not a number") from None
    if value < low or (high is not None and value > high):
        raise MappingError(object_id, f"RRULE {what}={value} is out of range")
    return value


# --- dates, times and durations -----------------------------------------------------------


def parse_instant(object_id: str, what: str, text: str) -> datetime:
    """An ISO 8601 date and time; one without an offset is taken as UTC."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise MappingError(object_id, f"{what} {text!r} is not a date and time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def in_zone(moment: datetime, tz_name: str) -> datetime:
    """``moment`` in the named zone, or unchanged when the zone is unknown (or the date is at
    the very edge of the calendar): the text then keeps the offset PagerDuty gave."""
    try:
        return moment.astimezone(ZoneInfo(tz_name))
    except (ZoneInfoNotFoundError, ValueError, OSError, OverflowError):
        return moment


def local_time(object_id: str, what: str, text: str, tz_name: str) -> str:
    """A date and time in the schedule's own zone, as a person there would read it."""
    moment = parse_instant(object_id, what, text)
    local = in_zone(moment, tz_name)
    if local is moment:
        offset = moment.utcoffset() or timedelta(0)
        return f"{moment:%Y-%m-%d %H:%M} UTC{_offset(offset)}"
    return f"{local:%Y-%m-%d %H:%M} {tz_name}"


def _offset(offset: timedelta) -> str:
    minutes = int(offset.total_seconds()) // 60
    if minutes == 0:
        return ""
    sign = "+" if minutes > 0 else "-"
    h, m = divmod(abs(minutes), 60)
    return f"{sign}{h:02d}:{m:02d}"


def time_window(start: int, dur: int) -> str:
    """"09:00–17:00" within a day; "18:00 for 14 hours, until 08:00 the next day" across
    midnight. A same-day window's length goes unsaid: it adds nothing but another number."""
    end = start + dur
    if end <= _DAY:
        return f"{hhmm(start)}–{hhmm(end)}"
    return f"{hhmm(start)} for {duration(dur)}, until {hhmm(end - _DAY)} the next day"


def hhmm(seconds: int) -> str:
    """A time of day, "09:00"; the seconds only when there are some."""
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h:02d}:{m:02d}" + (f":{s:02d}" if s else "")


def duration(seconds: int) -> str:
    """1 week, 12 hours, 4 days 8 hours, 90 minutes."""
    if seconds % _WEEK == 0:
        return counted(seconds // _WEEK, "week")
    days, rest = divmod(seconds, _DAY)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [counted(n, unit) for n, unit in ((days, "day"), (hours, "hour"),
                                              (minutes, "minute"), (secs, "second")) if n]
    return " ".join(parts) or "0 seconds"


# --- lists and counts ---------------------------------------------------------------------


def counted(n: int, noun: str) -> str:
    """"1 level", "3 levels"."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def join(items: Sequence[str]) -> str:
    return ", ".join(items)


def in_turn(items: Sequence[str]) -> str:
    # "A, then B, then C" rather than a numbered list: numbers in the text would match
    # searches for "5 levels" or "after 5 minutes" in every long rotation.
    return ", then ".join(items)
