"""The ``final_schedule`` of a shift-based (v3) schedule: its events' shifts over a window.

What PagerDuty documents (spec ``FinalSchedule``, ``ComputedShiftAssignment``; the v2-to-v3
guide): a flat list of assignments ``{start_time, end_time, member, source}``, several of which
may overlap (v3 allows concurrent on-calls), and ``rendered_coverage_percentage``. How the
simulator expands an event (choices in docs/SIMULATOR.md):

- occurrences follow its ``RRULE`` from ``start_time`` on the wall clock of
  ``start_time.time_zone``, each lasting as long as ``start_time`` to ``end_time`` does on that
  clock; only ``FREQ=DAILY`` and ``FREQ=WEEKLY`` (with ``INTERVAL``, ``BYDAY``, ``COUNT``,
  ``UNTIL``) are expanded, any other rule is refused with a 400 naming it;
- occurrences count from ``start_time``; only what lies between ``effective_since`` and
  ``effective_until`` is on call;
- ``rotating_member_assignment_strategy``: occurrence ``n`` goes to member
  ``(n // shifts_per_member) mod len(members)``; ``every_member_assignment_strategy``: to all;
  an ``empty_member`` slot puts nobody on call.

Custom shifts and v3 overrides are not simulated, so every ``source`` is a ``schedule_rotation``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pdsearch.simulator.schedule_render import coverage
from pdsearch.simulator.timeline import (
    DAY,
    WEEK,
    BadTime,
    Budget,
    at_wall,
    instant,
    iso,
    wall,
    zone,
)

JSON = dict[str, Any]
_DAYS = {"MO": 0, "TU": 1, "WE": 2, "TH": 3, "FR": 4, "SA": 5, "SU": 6}
# Wall-clock day 0 (1970-01-01) was a Thursday: Monday-based weekday 3.
_THURSDAY = 3


class UnsupportedRule(ValueError):
    """A recurrence the simulator does not expand."""


@dataclass(frozen=True)
class Rule:
    freq: str  # DAILY or WEEKLY
    interval: int
    days: tuple[int, ...]  # Monday-based weekdays, WEEKLY only
    count: int | None
    until: int | None  # an instant

    @classmethod
    def parse(cls, lines: list[str], first_weekday: int) -> Rule:
        rules = [line for line in lines if line.upper().startswith("RRULE:")]
        if len(rules) != 1 or len(rules) != len(lines):
            raise UnsupportedRule(f"recurrence {lines!r}: only one RRULE line is expanded")
        parts = dict(
            p.split("=", 1) for p in rules[0][len("RRULE:") :].upper().split(";") if "=" in p
        )
        freq = parts.pop("FREQ", "")
        if freq not in ("DAILY", "WEEKLY"):
            raise UnsupportedRule(f"{rules[0]}: only FREQ=DAILY and FREQ=WEEKLY are expanded")
        byday = parts.pop("BYDAY", None)
        until = parts.pop("UNTIL", None)
        parts.pop("WKST", None)
        try:
            interval = int(parts.pop("INTERVAL", "1"))
            count = int(parts.pop("COUNT")) if "COUNT" in parts else None
            days = tuple(sorted({_DAYS[d] for d in byday.split(",")})) if byday else None
            end = _until(until) if until else None
        except (KeyError, ValueError, BadTime):
            raise UnsupportedRule(
                f"{rules[0]}: INTERVAL, COUNT, BYDAY or UNTIL is not valid"
            ) from None
        if parts or interval < 1 or (freq == "DAILY" and days is not None):
            raise UnsupportedRule(f"{rules[0]}: only INTERVAL, BYDAY, COUNT, UNTIL are expanded")
        return cls(freq, interval, days or (first_weekday,), count, end)


def _until(value: str) -> int:
    # RFC 5545 UNTIL: 20261231T235959Z or a date.
    text = value.rstrip("Z")
    stamp = f"{text[:4]}-{text[4:6]}-{text[6:8]}"
    if "T" in text:
        stamp += f"T{text[9:11]}:{text[11:13]}:{text[13:15]}"
    return instant(stamp + "+00:00")


@dataclass(frozen=True)
class Shift:
    start: int
    end: int
    user: str
    rotation_id: str


def _occurrences(rule: Rule, first: int, lo: int, hi: int) -> Iterator[tuple[int, int]]:
    """``(n, wall start)`` of occurrences whose wall-clock start lies in ``[lo, hi)``."""
    first_day, time_of_day = divmod(first, DAY)
    if rule.freq == "DAILY":
        step = rule.interval * DAY
        n = max(0, (lo - first + step - 1) // step)
        while True:
            start = first + n * step
            if start >= hi or (rule.count is not None and n >= rule.count):
                return
            yield n, start
            n += 1
    monday = first_day - (first_day + _THURSDAY) % 7  # the Monday of the first week
    skipped = sum(1 for d in rule.days if d < (first_day + _THURSDAY) % 7)
    week = max(0, (lo - monday * DAY - WEEK) // (WEEK * rule.interval))
    while True:
        week_start = monday + week * 7 * rule.interval
        for position, day in enumerate(rule.days):
            n = week * len(rule.days) + position - skipped
            start = (week_start + day) * DAY + time_of_day
            if n < 0 or start < lo:
                continue
            if start >= hi or (rule.count is not None and n >= rule.count):
                return
            yield n, start
        week += 1


def event_shifts(
    event: JSON, rotation_id: str, default_zone: str, lo: int, hi: int, budget: Budget
) -> list[Shift]:
    start_time, end_time = event["start_time"], event["end_time"]
    tz = zone(str(start_time.get("time_zone") or default_zone))
    first = wall(instant(start_time["date_time"]), tz)
    length = wall(instant(end_time["date_time"]), tz) - first
    if length <= 0:
        return []
    since = instant(event["effective_since"]) if event.get("effective_since") else None
    until = instant(event["effective_until"]) if event.get("effective_until") else None
    rule = Rule.parse(list(event.get("recurrence") or []), (first // DAY + _THURSDAY) % 7)
    strategy = event.get("assignment_strategy") or {}
    members = [
        m.get("user_id") if m.get("type") == "user_member" else None
        for m in strategy.get("members") or []
    ]
    every = strategy.get("type") == "every_member_assignment_strategy"
    per_member = max(1, int(strategy.get("shifts_per_member") or 1))
    shifts: list[Shift] = []
    # Wall-clock bounds reaching a day past the window cover every offset.
    for n, start_wall in _occurrences(rule, first, wall(lo, tz) - length - DAY, wall(hi, tz) + DAY):
        a, b = at_wall(start_wall, tz), at_wall(start_wall + length, tz)
        if rule.until is not None and a > rule.until:
            break
        a = max(a, lo) if since is None else max(a, lo, since)
        b = min(b, hi) if until is None else min(b, hi, until)
        if a >= b or not members:
            continue
        chosen = members if every else [members[(n // per_member) % len(members)]]
        for user in chosen:
            if user:
                budget.spend()
                shifts.append(Shift(a, b, user, rotation_id))
    return shifts


def shifts_of(schedule: JSON, lo: int, hi: int, budget: Budget) -> list[tuple[int, Shift]]:
    """Every shift of the schedule meeting ``[lo, hi)`` (clipped to it), with its rotation's
    position, in order of start."""
    shifts: list[tuple[int, Shift]] = []
    for order, rotation in enumerate(schedule.get("rotations") or []):
        for event in rotation.get("events") or []:
            try:
                found = event_shifts(
                    event, rotation["id"], str(schedule["time_zone"]), lo, hi, budget
                )
            except (KeyError, TypeError):
                raise BadTime(
                    f"event {event.get('id')} has no usable start_time or end_time"
                ) from None
            shifts += [(order, s) for s in found]
    shifts.sort(key=lambda item: (item[1].start, item[0], item[1].end, item[1].user))
    return shifts


def final_schedule(
    schedule: JSON, since: int, until: int, *, out_zone: str, overflow: bool
) -> JSON:
    """The ``FinalSchedule`` object for ``[since, until)``; ``UnsupportedRule`` or ``BadTime``
    when an event cannot be expanded. With ``overflow``, shifts crossing the window keep their
    extent up to two weeks outside it."""
    reach = 2 * WEEK if overflow else 0
    shifts = shifts_of(schedule, since - reach, until + reach, Budget())
    tz = zone(out_zone)
    out = []
    for _order, s in shifts:
        if not (s.start < until and s.end > since):
            continue
        a, b = (s.start, s.end) if overflow else (max(s.start, since), min(s.end, until))
        out.append(
            {
                "type": "computed_shift_assignment",
                "start_time": iso(a, tz),
                "end_time": iso(b, tz),
                "member": {"type": "user_member", "user_id": s.user},
                "source": {"type": "schedule_rotation", "rotation_id": s.rotation_id},
            }
        )
    spans = [(s.start, s.end, s.user) for _o, s in shifts]
    return {
        "type": "final_schedule",
        "rendered_coverage_percentage": coverage(spans, since, until),
        "computed_shift_assignments": out,
    }
