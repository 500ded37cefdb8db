"""Pure mapping of PagerDuty escalation policies and schedules to search documents.

DESIGN.md 2.1 is the contract: one document per policy and per schedule (v2 layer-based and v3
shift-based alike), ``sys_racl`` = the subdomain followed by the object's team ids, and content
written as prose a person can scan, with every id resolved to a name. Nothing here does I/O:
the sync engine gathers the account once into an ``AccountContext`` and maps each object.

A malformed object (a restriction PagerDuty would never send, an unreadable RRULE) raises
``MappingError`` naming the object, so the engine can count it as failed and carry on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pdsearch.index.base import Document
from pdsearch.pagerduty.models import (
    EscalationPolicy,
    EscalationRule,
    Reference,
    Restriction,
    Schedule,
    ScheduleEvent,
    ScheduleLayer,
    ScheduleV3,
    Team,
    User,
)

POLICY_TYPE = "escalation_policy"
SCHEDULE_TYPE = "schedule"

_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_RRULE_DAYS = {"MO": 0, "TU": 1, "WE": 2, "TH": 3, "FR": 4, "SA": 5, "SU": 6}
_ORDINALS = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", -1: "last",
             -2: "second to last"}
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")
_FREQ_UNITS = {"SECONDLY": ("second", "every second"), "MINUTELY": ("minute", "every minute"),
               "HOURLY": ("hour", "hourly"), "DAILY": ("day", "daily"),
               "WEEKLY": ("week", "weekly"), "MONTHLY": ("month", "monthly"),
               "YEARLY": ("year", "yearly")}
_HANDOFF_WORDS = {
    "always": "always (sent even when no service uses this policy)",
    "if_has_services": "only if the policy has services",
}
_STRATEGY_WORDS = {
    "round_robin": "round robin (one target at a time, in turn)",
    "assign_to_everyone": "assigned to everyone",
}


class MappingError(ValueError):
    """An object that cannot be turned into a document; names the object and the reason."""

    def __init__(self, object_id: str, reason: str) -> None:
        super().__init__(f"{object_id}: {reason}")
        self.object_id = object_id
        self.reason = reason


@dataclass(frozen=True)
class AccountContext:
    """What mapping needs to resolve ids to names, gathered once per sync.

    ``policies_by_schedule`` maps a schedule id to (policy id, level number) pairs, in policy
    order, for every rule that targets the schedule.
    """

    subdomain: str
    users: Mapping[str, User] = field(default_factory=dict)
    teams: Mapping[str, Team] = field(default_factory=dict)
    schedule_names: Mapping[str, str] = field(default_factory=dict)
    policies: Mapping[str, EscalationPolicy] = field(default_factory=dict)
    policies_by_schedule: Mapping[str, tuple[tuple[str, int], ...]] = field(default_factory=dict)


def build_context(
    subdomain: str,
    users: Iterable[User] = (),
    teams: Iterable[Team] = (),
    schedules: Iterable[Schedule] = (),
    schedules_v3: Iterable[ScheduleV3] = (),
    policies: Iterable[EscalationPolicy] = (),
) -> AccountContext:
    """Index the account's objects by id for name resolution."""
    schedule_names: dict[str, str] = {}
    all_schedules: list[Schedule | ScheduleV3] = [*schedules, *schedules_v3]
    for sched in all_schedules:
        if sched.name:
            schedule_names[sched.id] = sched.name
    policy_map = {p.id: p for p in policies}
    uses: dict[str, list[tuple[str, int]]] = {}
    for policy in policy_map.values():
        for level, rule in enumerate(policy.escalation_rules, start=1):
            for target in rule.targets:
                if _is_schedule(target):
                    pairs = uses.setdefault(target.id, [])
                    if (policy.id, level) not in pairs:
                        pairs.append((policy.id, level))
    return AccountContext(
        subdomain=subdomain,
        users={u.id: u for u in users},
        teams={t.id: t for t in teams},
        schedule_names=schedule_names,
        policies=policy_map,
        policies_by_schedule={k: tuple(v) for k, v in uses.items()},
    )


# --- the documents -----------------------------------------------------------------------


def policy_document(policy: EscalationPolicy, ctx: AccountContext, source: str) -> Document:
    """The document for one escalation policy."""
    name = _title(policy.name, policy.summary, policy.id)
    rules = policy.escalation_rules
    lines = [f"Escalation policy '{name}' with {_count(len(rules), 'level')}."]
    if policy.description and policy.description.strip():
        lines.append(f"Description: {policy.description.strip()}")
    lines.append(f"{_count(len(rules), 'level')} of escalation. {_repeats(policy.num_loops)}")
    elapsed = 0
    named: set[str] = set()  # users already given with their e-mail
    for index, rule in enumerate(rules):
        lines.append(_level_line(index, rule, rules, elapsed, policy.num_loops, ctx, named))
        elapsed += max(rule.escalation_delay_in_minutes, 0)
    handoff = policy.on_call_handoff_notifications
    if handoff:
        words = _HANDOFF_WORDS.get(handoff, handoff.replace("_", " "))
    else:
        words = "not set (PagerDuty's default: only if the policy has services)"
    # PagerDuty labels this "on-call handoff notifications"; "on call" is in nearly every
    # document, so the label keeps to the words that tell policies apart.
    lines.append(f"Handoff notifications: {words}.")
    lines.append(_team_line(policy.teams, ctx))
    services = [_ref_name(s, None) for s in policy.services]
    lines.append(f"Services: {_join(services)}." if services else "Services: none.")
    return Document(
        id=f"{POLICY_TYPE}:{policy.id}",
        type=POLICY_TYPE,
        title=name,
        content="\n".join(lines),
        url=policy.html_url or "",
        sys_racl=sys_racl(ctx.subdomain, policy.teams),
        source=source,
    )


def schedule_document(
    schedule: Schedule | ScheduleV3, ctx: AccountContext, source: str
) -> Document:
    """The document for one schedule, layer-based (v2) or shift-based (v3)."""
    name = _title(schedule.name, getattr(schedule, "summary", None), schedule.id)
    tz = schedule.time_zone or "UTC"
    kind = "Shift-based schedule" if isinstance(schedule, ScheduleV3) else "Schedule"
    owners = _team_names(schedule.teams, ctx, mark_private=False)
    # The opening line says whose schedule it is: "<team> schedule" is how people look for it.
    lines = [f"{kind} '{name}'" + (f" of the {_join(owners)} team{'s' if len(owners) > 1 else ''}."
                                   if owners else ", account-wide.")]
    if schedule.description and schedule.description.strip():
        lines.append(f"Description: {schedule.description.strip()}")
    lines.append(f"Time zone: {tz}.")
    if isinstance(schedule, ScheduleV3):
        lines.extend(_v3_lines(schedule, ctx))
        user_ids = _v3_user_ids(schedule)
    else:
        lines.append(f"{_count(len(schedule.schedule_layers), 'layer')}.")
        for number, layer in enumerate(schedule.schedule_layers, start=1):
            lines.append(_layer_line(schedule.id, number, layer, tz, ctx))
        user_ids = [u.user.id for layer in schedule.schedule_layers for u in layer.users]
    refs = {r.id: r for r in schedule.users}
    ordered = _dedupe([*user_ids, *refs])
    people = [_user_words(uid, ctx, refs.get(uid)) for uid in ordered]
    # Worded for the question people ask ("who is on the database schedule"): search terms
    # must all appear, so the everyday words are part of the sentence.
    lines.append(f"Who is on the {name} schedule (all users): {_join(people) or 'nobody'}.")
    lines.append(_team_line(schedule.teams, ctx))
    lines.extend(_usage_lines(schedule, ctx))
    return Document(
        id=f"{SCHEDULE_TYPE}:{schedule.id}",
        type=SCHEDULE_TYPE,
        title=name,
        content="\n".join(lines),
        url=schedule.html_url or "",
        sys_racl=sys_racl(ctx.subdomain, schedule.teams),
        source=source,
    )


def sys_racl(subdomain: str, teams: Sequence[Reference]) -> tuple[str, ...]:
    """The subdomain first, then the object's team ids in its own order, without repeats."""
    if not subdomain:
        raise ValueError("an account subdomain is needed for sys_racl")
    return tuple(_dedupe([subdomain, *(t.id for t in teams if t.id)]))


# --- escalation policies ------------------------------------------------------------------


def _level_line(
    index: int,
    rule: EscalationRule,
    rules: Sequence[EscalationRule],
    elapsed: int,
    loops: int,
    ctx: AccountContext,
    named: set[str],
) -> str:
    number = index + 1
    if index == 0:
        when = "immediately"
    else:
        step = rules[index - 1].escalation_delay_in_minutes
        when = f"after {_minutes(step)}"
        if index > 1 and elapsed != step:
            when += f" ({_minutes(elapsed)} after the incident was triggered)"
    targets = [_target_words(t, ctx, named) for t in rule.targets]
    text = f"Level {number}: {when}, notify {_join(targets) if targets else 'nobody (no targets)'}."
    strategy = rule.escalation_rule_assignment_strategy
    # PagerDuty's default (assign to everyone) goes unsaid; anything else is worth reading.
    if strategy and strategy != "assign_to_everyone":
        text += f" Assignment: {_STRATEGY_WORDS.get(strategy, strategy.replace('_', ' '))}."
    delay = rule.escalation_delay_in_minutes
    if number == len(rules) and number > 1:
        text += f" This is the last of {_count(number, 'level')}."
    # The delay before the next level is said once, on that level ("Level 2: after 30
    # minutes"); only the last level's delay, the wait before a repeat, is said here.
    if number == len(rules) and loops > 0:
        text += f" Starts again at level 1 after {_minutes(delay)} if not acknowledged."
    return text


def _repeats(num_loops: int) -> str:
    if num_loops <= 0:
        return "Does not repeat."
    return (f"Repeats {_count(num_loops, 'time')}: if no one acknowledges after the last level, "
            "escalation starts again at level 1.")


def _target_words(target: Reference, ctx: AccountContext, named: set[str]) -> str:
    if _is_schedule(target):
        name = ctx.schedule_names.get(target.id) or target.summary or target.id
        return f"schedule '{name}'"
    if target.type in ("user", "user_reference"):
        words = _user_words(target.id, ctx, target, email=target.id not in named)
        named.add(target.id)
        return f"user {words}"
    kind = target.type.removesuffix("_reference").replace("_", " ") or "target"
    return f"{kind} '{target.summary or target.id}'"


# --- layer-based (v2) schedules -----------------------------------------------------------


def _layer_line(schedule_id: str, number: int, layer: ScheduleLayer, tz: str,
                ctx: AccountContext) -> str:
    label = f"Layer {number}"
    layer_name = (layer.name or "").strip()
    if layer_name and layer_name.lower() != label.lower():
        label += f" '{layer_name}'"
    turn = layer.rotation_turn_length_seconds
    if turn <= 0:
        raise MappingError(schedule_id, f"{label} has a rotation length of {turn} seconds")
    every = rotation_words(turn)
    # "weekly rotation", "rotation every 12 hours": the length is said once.
    parts = [f"{label}: {every} rotation." if not every.startswith("every")
             else f"{label}: rotation {every}."]
    change = _turnover_words(layer, tz)
    if change:
        parts[0] = parts[0][:-1] + f"; shifts change {change}."
    start = _moment(schedule_id, f"{label} start", layer.start, tz)
    end = (f"ends {_moment(schedule_id, f'{label} end', layer.end, tz)}" if layer.end
           else "no end date")
    parts.append(f"Starts {start}, {end}.")
    users = [_user_words(u.user.id, ctx, u.user, email=False) for u in layer.users]
    if users:
        parts.append(f"Users in rotation order: {_in_turn(users)}.")
    else:
        parts.append("No users in this layer.")
    if layer.restrictions:
        words = restriction_words(layer.restrictions, schedule_id)
        parts.append(f"Restricted to {words}.")
    else:
        parts.append("No restrictions: covers around the clock.")
    return " ".join(parts)


def _turnover_words(layer: ScheduleLayer, tz: str) -> str:
    """When the on-call person changes: "every Monday at 09:00" or "at 08:00"; blank for
    rotations shorter than a day or an unreadable start (the start line reports that)."""
    turn = layer.rotation_turn_length_seconds
    try:
        anchor = _in_zone(datetime.fromisoformat(layer.rotation_virtual_start.strip()), tz)
    except ValueError:
        return ""
    if turn % 604800 == 0:
        return f"on {_DAY_NAMES[anchor.weekday()]} at {anchor:%H:%M}"
    if turn % 86400 == 0:
        return f"at {anchor:%H:%M}"
    return ""


def rotation_words(seconds: int) -> str:
    """A rotation length in words: "daily", "weekly", "every 12 hours", "every 2 weeks"."""
    for unit_seconds, unit, single in ((604800, "week", "weekly"), (86400, "day", "daily"),
                                       (3600, "hour", "hourly"), (60, "minute", "every minute")):
        if seconds % unit_seconds == 0:
            n = seconds // unit_seconds
            return single if n == 1 else f"every {n} {unit}s"
    return f"every {seconds} seconds"


def restriction_words(restrictions: Sequence[Restriction], object_id: str) -> str:
    """Restrictions in words: "weekdays 09:00–17:00", "Monday 09:00 to Friday 17:00"."""
    parsed: list[tuple[str, int, int, int | None]] = []
    for r in restrictions:
        start = _time_of_day(object_id, r.start_time_of_day)
        dur = r.duration_seconds
        if r.type == "daily_restriction":
            if not 0 < dur <= 86400:
                raise MappingError(object_id, f"daily restriction lasting {dur} seconds")
            parsed.append((r.type, start, dur, None))
        else:
            day = r.start_day_of_week
            if day is None or not 1 <= day <= 7:
                raise MappingError(object_id, f"weekly restriction with start day {day!r}")
            if not 0 < dur <= 604800:
                raise MappingError(object_id, f"weekly restriction lasting {dur} seconds")
            parsed.append((r.type, start, dur, day))
    # Weekly restrictions sharing a time window are grouped ("weekdays 09:00–17:00"), placed
    # where their first member appears, so the text stays stable for an unchanged schedule.
    items: list[str | tuple[int, int]] = []
    groups: dict[tuple[int, int], list[int]] = {}
    for kind, start, dur, day in parsed:
        if kind == "daily_restriction":
            items.append("daily " + ("all day" if dur >= 86400 else _window(start, dur)))
        elif dur <= 86400 and day is not None:
            if (start, dur) not in groups:
                groups[(start, dur)] = []
                items.append((start, dur))
            if day not in groups[(start, dur)]:
                groups[(start, dur)].append(day)
        elif day is not None and dur == 604800:
            items.append(f"all week, turning over {_DAY_NAMES[day - 1]} {_hhmm(start)}")
        elif day is not None:
            items.append(_span_words(day, start, dur))
    out = []
    for item in items:
        if isinstance(item, tuple):
            start, dur = item
            window = "all day" if start == 0 and dur == 86400 else _window(start, dur)
            out.append(f"{_days_words(groups[item])} {window}")
        else:
            out.append(item)
    return _join(out)


def _span_words(day: int, start: int, dur: int) -> str:
    """A weekly restriction longer than a day: "Monday 09:00 to Friday 17:00 (the work week)"."""
    begin = (day - 1) * 86400 + start
    end_day, end_time = divmod(begin + dur, 86400)
    text = (f"{_DAY_NAMES[day - 1]} {_hhmm(start)} to {_DAY_NAMES[end_day % 7]} "
            f"{_hhmm(end_time)}")
    # Name the spans people talk about: a window covering all of Saturday and Sunday is the
    # weekend; one running from Monday to Friday is the work week.
    week = 7 * 86400
    covers = [(begin <= d * 86400 and (d + 1) * 86400 <= begin + dur)
              or (begin <= d * 86400 + week and (d + 1) * 86400 + week <= begin + dur)
              for d in range(7)]
    if covers[5] and covers[6] and day in (5, 6, 7) and not any(covers[:4]):
        text += " (the weekend)"
    elif day == 1 and end_day == 4 and not covers[5]:
        text += " (the work week)"
    return text


def _window(start: int, dur: int) -> str:
    """"09:00–17:00" within a day; "18:00 for 14 hours, until 08:00 the next day" across
    midnight. A same-day window's length goes unsaid: it adds nothing but another number."""
    end = start + dur
    if end <= 86400:
        return f"{_hhmm(start)}–{_hhmm(end)}"
    return f"{_hhmm(start)} for {_duration(dur)}, until {_hhmm(end - 86400)} the next day"


def _days_words(days: list[int]) -> str:
    ordered = sorted(days)
    if ordered == [1, 2, 3, 4, 5, 6, 7]:
        return "every day"
    if ordered == [1, 2, 3, 4, 5]:
        return "weekdays (Monday to Friday)"
    if ordered == [6, 7]:
        return "weekends (Saturday and Sunday)"
    if len(ordered) >= 3 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{_DAY_NAMES[ordered[0] - 1]} to {_DAY_NAMES[ordered[-1] - 1]}"
    return _join([_DAY_NAMES[d - 1] for d in ordered])


def _time_of_day(object_id: str, text: str) -> int:
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


# --- shift-based (v3) schedules -----------------------------------------------------------


def _v3_lines(schedule: ScheduleV3, ctx: AccountContext) -> list[str]:
    lines = [f"{_count(len(schedule.rotations), 'rotation')}."]
    for number, rotation in enumerate(schedule.rotations, start=1):
        events = rotation.events
        lines.append(f"Rotation {number}: {_count(len(events), 'event')}.")
        for event in events:
            lines.append(_event_line(schedule.id, number, event, ctx))
    return lines


def _event_line(schedule_id: str, rotation: int, event: ScheduleEvent,
                ctx: AccountContext) -> str:
    label = f"Rotation {rotation} event '{event.name or event.id}'"
    recurrence = recurrence_words(event.recurrence, schedule_id)
    start = _parse_instant(schedule_id, f"{label} start", event.start_time.date_time)
    end = _parse_instant(schedule_id, f"{label} end", event.end_time.date_time)
    if end <= start:
        raise MappingError(schedule_id, f"{label} ends before it starts")
    tz_name = event.start_time.time_zone
    local_start = _in_zone(start, tz_name)
    local_end = _in_zone(end, tz_name)
    seconds = int((end - start).total_seconds())
    if seconds <= 86400:
        window = _window(local_start.hour * 3600 + local_start.minute * 60, seconds)
    else:
        window = (f"from {_DAY_NAMES[local_start.weekday()]} {local_start:%H:%M} to "
                  f"{_DAY_NAMES[local_end.weekday()]} {local_end:%H:%M} ({_duration(seconds)})")
    since = _moment(schedule_id, f"{label} effective_since", event.effective_since, tz_name)
    until = "with no end date"
    if event.effective_until:
        until = "until " + _moment(
            schedule_id, f"{label} effective_until", event.effective_until, tz_name
        )
    parts = [f"{label}: {recurrence}, {window} {tz_name}. Effective from {since}, {until}."]
    strategy = event.assignment_strategy
    members = [
        _user_words(m.user_id, ctx, None, email=False)
        if m.type == "user_member" and m.user_id
        else "an empty slot (nobody)"
        for m in strategy.members
    ]
    if strategy.type == "rotating_member_assignment_strategy":
        shifts = strategy.shifts_per_member or 1
        numbered = _in_turn(members)
        parts.append(f"Members take turns, each covering {_count(shifts, 'shift')} before the "
                     f"next takes over, in this order: {numbered or 'nobody'}.")
    else:
        parts.append(f"Every member takes every shift, together: {_join(members) or 'nobody'}.")
    return " ".join(parts)


def _v3_user_ids(schedule: ScheduleV3) -> list[str]:
    return [
        m.user_id
        for rotation in schedule.rotations
        for event in rotation.events
        for m in event.assignment_strategy.members
        if m.type == "user_member" and m.user_id
    ]


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
        text += f", also on {_join(rdates)}"
    if exdates:
        text += f", except on {_join(exdates)}"
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
    unit, single = _FREQ_UNITS[freq]
    interval = _positive_int(parts.get("INTERVAL", "1"), object_id, "INTERVAL")
    text = single if interval == 1 else f"every {interval} {unit}s"
    if "BYDAY" in parts:
        days = parts["BYDAY"].split(",")
        text += " on " + _join([_byday_words(d, object_id) for d in days])
        if sorted(days, key=lambda d: _RRULE_DAYS.get(d, 9)) == ["MO", "TU", "WE", "TH", "FR"]:
            text += " (weekdays)"
        elif sorted(days) == ["SA", "SU"]:
            text += " (weekends)"
    if "BYMONTHDAY" in parts:
        text += f" on day {_join(parts['BYMONTHDAY'].split(','))} of the month"
    if "BYMONTH" in parts:
        months = [_MONTHS[_bounded(m, 1, 12, object_id, "BYMONTH") - 1]
                  for m in parts["BYMONTH"].split(",")]
        text += f" in {_join(months)}"
    if "BYHOUR" in parts:
        hours = [f"{_bounded(h, 0, 23, object_id, 'BYHOUR'):02d}:00"
                 for h in parts["BYHOUR"].split(",")]
        text += f" at {_join(hours)}"
    if "COUNT" in parts:
        count = _positive_int(parts["COUNT"], object_id, "COUNT")
        text += f", {_count(count, 'occurrence')} in all"
    if "UNTIL" in parts:
        text += f", until {_ical_date(object_id, parts['UNTIL'])}"
    return text


def _byday_words(token: str, object_id: str) -> str:
    day = token[-2:]
    if day not in _RRULE_DAYS:
        raise MappingError(object_id, f"RRULE BYDAY value {token!r} is not a weekday")
    name = _DAY_NAMES[_RRULE_DAYS[day]]
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


def _positive_int(text: str, object_id: str, what: str) -> int:
    return _bounded(text, 1, None, object_id, what)


def _bounded(text: str, low: int, high: int | None, object_id: str, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise MappingError(object_id, f"RRULE {what}={text!r} is not a number") from None
    if value < low or (high is not None and value > high):
        raise MappingError(object_id, f"RRULE {what}={value} is out of range")
    return value


# --- who uses a schedule ------------------------------------------------------------------


def _usage_lines(schedule: Schedule | ScheduleV3, ctx: AccountContext) -> list[str]:
    levels_by_policy: dict[str, list[int]] = {}
    for policy_id, level in ctx.policies_by_schedule.get(schedule.id, ()):
        levels_by_policy.setdefault(policy_id, []).append(level)
    refs = {r.id: r for r in schedule.escalation_policies}
    # The schedule's own list (PagerDuty's view) comes first, then any policy of this sync
    # that targets it but was not listed there.
    ordered = _dedupe([*refs, *levels_by_policy])
    if not ordered:
        return ["Not used by any escalation policy."]
    described: list[str] = []
    total = 0
    for policy_id in ordered:
        policy = ctx.policies.get(policy_id)
        ref = refs.get(policy_id)
        name = (policy.name if policy and policy.name else None) or (ref.summary if ref else None)
        words = f"'{name or policy_id}'"
        if policy is not None:
            count = len(policy.escalation_rules)
            total += count
            used = levels_by_policy.get(policy_id)
            at = ""
            if used:
                at = f"at level{'s' if len(used) > 1 else ''} {_join([str(n) for n in used])} "
            words += f" ({at}of {_count(count, 'level')})"
        described.append(words)
    noun = "policy" if len(described) == 1 else "policies"
    return [f"Used by escalation {noun}: {_join(described)}.",
            f"These escalation policies have {_count(total, 'escalation level')} in total."]


# --- shared helpers -----------------------------------------------------------------------


def _is_schedule(target: Reference) -> bool:
    return target.type in ("schedule", "schedule_reference", "schedule_v3_reference")


def _user_words(
    user_id: str, ctx: AccountContext | None, ref: Reference | None, *, email: bool = True
) -> str:
    """'Name' <e-mail>, or just 'Name' where the e-mail was already given in the document."""
    user = ctx.users.get(user_id) if ctx else None
    name = (user.name if user else None) or (ref.summary if ref else None) or (
        user.email if user else None) or user_id
    if email and user is not None and user.email and name != user.email:
        return f"'{name}' <{user.email}>"
    return f"'{name}'"


def _team_names(
    teams: Sequence[Reference], ctx: AccountContext, *, mark_private: bool = True
) -> list[str]:
    unique = {t.id: t for t in reversed(teams)}
    return [_ref_name(unique[i], ctx.teams.get(i), mark_private)
            for i in _dedupe(t.id for t in teams)]


def _team_line(teams: Sequence[Reference], ctx: AccountContext) -> str:
    names = _team_names(teams, ctx)
    if not names:
        return "Teams: none (account-wide)."
    return f"{'Team' if len(names) == 1 else 'Teams'}: {_join(names)}."


def _ref_name(ref: Reference, team: Team | None, mark_private: bool = True) -> str:
    if team is not None and team.name:
        return f"{team.name} (private team)" if team.private and mark_private else team.name
    return ref.summary or ref.id


def _title(name: str, summary: str | None, object_id: str) -> str:
    return (name or "").strip() or (summary or "").strip() or object_id


def _parse_instant(object_id: str, what: str, text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise MappingError(object_id, f"{what} {text!r} is not a date and time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _in_zone(moment: datetime, tz_name: str) -> datetime:
    """``moment`` in the named zone, or unchanged when the zone is unknown (or the date is at
    the very edge of the calendar): the text then keeps the offset PagerDuty gave."""
    try:
        return moment.astimezone(ZoneInfo(tz_name))
    except (ZoneInfoNotFoundError, ValueError, OSError, OverflowError):
        return moment


def _moment(object_id: str, what: str, text: str, tz_name: str) -> str:
    """A date and time in the schedule's own zone, as a person there would read it."""
    moment = _parse_instant(object_id, what, text)
    local = _in_zone(moment, tz_name)
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


def _hhmm(seconds: int) -> str:
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h:02d}:{m:02d}" + (f":{s:02d}" if s else "")


def _duration(seconds: int) -> str:
    """1 week, 12 hours, 4 days 8 hours, 90 minutes."""
    if seconds % 604800 == 0:
        return _count(seconds // 604800, "week")
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [_count(n, unit) for n, unit in ((days, "day"), (hours, "hour"),
                                             (minutes, "minute"), (secs, "second")) if n]
    return " ".join(parts) or "0 seconds"


def _minutes(n: int) -> str:
    return _count(n, "minute")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _in_turn(items: Sequence[str]) -> str:
    # "A, then B, then C" rather than a numbered list: numbers in the text would match
    # searches for "5 levels" or "after 5 minutes" in every long rotation.
    return ", then ".join(items)


def _join(items: Sequence[str]) -> str:
    return ", ".join(items)


def _dedupe(items: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out
