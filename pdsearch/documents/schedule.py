"""The document for a schedule: layer-based (v2) or shift-based (v3), both of type ``schedule``.

Either kind reads the same way from the outside: whose schedule it is, how it rotates, who is
on it, and which escalation policies page it.
"""

from __future__ import annotations

from datetime import datetime

from pdsearch.documents.context import AccountContext, MappingError, dedupe, sys_racl
from pdsearch.documents.meaning import meaning, teams_about_line
from pdsearch.documents.names import id_line, team_line, team_names, title, user_words
from pdsearch.documents.words import (
    DAY_NAMES,
    counted,
    duration,
    in_turn,
    in_zone,
    join,
    local_time,
    parse_instant,
    recurrence_words,
    restriction_words,
    rotation_words,
    time_window,
)
from pdsearch.index.base import Document
from pdsearch.pagerduty.models import (
    Reference,
    Schedule,
    ScheduleEvent,
    ScheduleLayer,
    ScheduleV3,
    ShiftMember,
)

SCHEDULE_TYPE = "schedule"


def schedule_document(
    schedule: Schedule | ScheduleV3, ctx: AccountContext, source: str
) -> Document:
    """The document for one schedule, layer-based (v2) or shift-based (v3)."""
    name = title(schedule.name, getattr(schedule, "summary", None), schedule.id)  # v3: none
    tz = schedule.time_zone or "UTC"
    kind = "Shift-based schedule" if isinstance(schedule, ScheduleV3) else "Schedule"
    # The opening line says whose schedule it is: "<team> schedule" is how people look for it.
    # "(private team)" would break up those words, so it is left to the team line.
    owners = team_names(schedule.teams, ctx, mark_private=False)
    if owners:
        whose = f" of the {join(owners)} team{'s' if len(owners) > 1 else ''}."
    else:
        whose = ", account-wide."
    lines = [f"{kind} '{name}'{whose}"]
    if schedule.description and schedule.description.strip():
        lines.append(f"Description: {schedule.description.strip()}")
    lines.append(f"Time zone: {tz}.")
    if isinstance(schedule, ScheduleV3):
        lines.extend(_v3_lines(schedule, ctx))
        user_ids = [
            user_id
            for rotation in schedule.rotations
            for event in rotation.events
            for member in event.assignment_strategy.members
            if (user_id := _member_user_id(member))
        ]
    else:
        # PagerDuty lists the highest layer first; its pages number layers from the bottom, and
        # so does the document, from Layer 1 up.
        layers = list(reversed(schedule.schedule_layers))
        many = len(layers) > 1
        lines.append(f"{counted(len(layers), 'layer')}"
                     + (" (a higher layer wins where layers overlap)." if many else "."))
        for number, layer in enumerate(layers, start=1):
            lines.append(_layer_line(schedule.id, number, layer, tz, ctx))
        user_ids = [u.user.id for layer in layers for u in layer.users]
    # PagerDuty's own list of the schedule's users comes after the layers' (or events') users,
    # so nobody it names is missed; its summaries name users the account's list lacks.
    refs = {r.id: r for r in schedule.users}
    people = [user_words(uid, ctx, refs.get(uid)) for uid in dedupe([*user_ids, *refs])]
    # Worded for the question people ask ("who is on the database schedule"): search terms
    # must all appear, so the everyday words are part of the sentence.
    lines.append(f"Who is on the {name} schedule (all users): {join(people) or 'nobody'}.")
    lines.append(team_line(schedule.teams, ctx))
    about = teams_about_line(schedule.teams, ctx)
    if about:
        lines.append(about)
    lines.extend(_usage_lines(schedule, ctx))
    lines.append(id_line(schedule.id))
    return Document(
        id=f"{SCHEDULE_TYPE}:{schedule.id}",
        type=SCHEDULE_TYPE,
        title=name,
        content="\n".join(lines),
        url=schedule.html_url or "",
        sys_racl=sys_racl(ctx.subdomain, schedule.teams),
        source=source,
        meaning=meaning(name, schedule.teams, _services(schedule, ctx), schedule.description,
                        ctx),
    )


def _services(schedule: Schedule | ScheduleV3, ctx: AccountContext) -> list[Reference]:
    """The services of the policies that page the schedule (a schedule has none of its own)."""
    ids = dedupe([*(r.id for r in schedule.escalation_policies),
                  *(p for p, _ in ctx.policies_by_schedule.get(schedule.id, ()))])
    return [s for pid in ids if (p := ctx.policies.get(pid)) for s in p.services]


# --- layer-based (v2) ---------------------------------------------------------------------


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
    rotation = f"{every} rotation" if not every.startswith("every") else f"rotation {every}"
    change = _turnover_words(layer, tz)
    parts = [f"{label}: {rotation}" + (f"; shifts change {change}." if change else ".")]
    start = local_time(schedule_id, f"{label} start", layer.start, tz)
    end = (f"ends {local_time(schedule_id, f'{label} end', layer.end, tz)}" if layer.end
           else "no end date")
    parts.append(f"Starts {start}, {end}.")
    users = [user_words(u.user.id, ctx, u.user, email=False) for u in layer.users]
    if users:
        parts.append(f"Users in rotation order: {in_turn(users)}.")
    else:
        parts.append("No users in this layer.")
    if layer.restrictions:
        parts.append(f"Restricted to {restriction_words(layer.restrictions, schedule_id)}.")
    else:
        parts.append("No restrictions: covers around the clock.")
    return " ".join(parts)


def _turnover_words(layer: ScheduleLayer, tz: str) -> str:
    """When the on-call person changes: "every Monday at 09:00" or "at 08:00"; blank for
    rotations shorter than a day or an unreadable start (the start line reports that)."""
    turn = layer.rotation_turn_length_seconds
    try:
        anchor = in_zone(datetime.fromisoformat(layer.rotation_virtual_start.strip()), tz)
    except ValueError:
        return ""
    if turn % 604800 == 0:
        return f"on {DAY_NAMES[anchor.weekday()]} at {anchor:%H:%M}"
    if turn % 86400 == 0:
        return f"at {anchor:%H:%M}"
    return ""


# --- shift-based (v3) ---------------------------------------------------------------------


def _v3_lines(schedule: ScheduleV3, ctx: AccountContext) -> list[str]:
    lines = [f"{counted(len(schedule.rotations), 'rotation')}."]
    for number, rotation in enumerate(schedule.rotations, start=1):
        events = rotation.events
        lines.append(f"Rotation {number}: {counted(len(events), 'event')}.")
        for event in events:
            lines.append(_event_line(schedule.id, number, event, ctx))
    return lines


def _event_line(schedule_id: str, rotation: int, event: ScheduleEvent,
                ctx: AccountContext) -> str:
    label = f"Rotation {rotation} event '{event.name or event.id}'"
    recurrence = recurrence_words(event.recurrence, schedule_id)
    start = parse_instant(schedule_id, f"{label} start", event.start_time.date_time)
    end = parse_instant(schedule_id, f"{label} end", event.end_time.date_time)
    if end <= start:
        raise MappingError(schedule_id, f"{label} ends before it starts")
    tz_name = event.start_time.time_zone
    local_start = in_zone(start, tz_name)
    local_end = in_zone(end, tz_name)
    seconds = int((end - start).total_seconds())
    if seconds <= 86400:
        window = time_window(local_start.hour * 3600 + local_start.minute * 60, seconds)
    else:
        window = (f"from {DAY_NAMES[local_start.weekday()]} {local_start:%H:%M} to "
                  f"{DAY_NAMES[local_end.weekday()]} {local_end:%H:%M} ({duration(seconds)})")
    since = local_time(schedule_id, f"{label} effective_since", event.effective_since, tz_name)
    until = "with no end date"
    if event.effective_until:
        until = "until " + local_time(
            schedule_id, f"{label} effective_until", event.effective_until, tz_name
        )
    parts = [f"{label}: {recurrence}, {window} {tz_name}. Effective from {since}, {until}."]
    strategy = event.assignment_strategy
    members = []
    for member in strategy.members:
        user_id = _member_user_id(member)
        members.append(user_words(user_id, ctx, None, email=False) if user_id
                       else "an empty slot (nobody)")
    if strategy.type == "rotating_member_assignment_strategy":
        shifts = strategy.shifts_per_member or 1
        parts.append(f"Members take turns, each covering {counted(shifts, 'shift')} before the "
                     f"next takes over, in this order: {in_turn(members) or 'nobody'}.")
    else:
        parts.append(f"Every member takes every shift, together: {join(members) or 'nobody'}.")
    return " ".join(parts)


def _member_user_id(member: ShiftMember) -> str | None:
    """The user in a shift slot; None for an empty slot (or a user member without an id)."""
    return member.user_id if member.type == "user_member" and member.user_id else None


# --- who uses a schedule ------------------------------------------------------------------


def _usage_lines(schedule: Schedule | ScheduleV3, ctx: AccountContext) -> list[str]:
    levels_by_policy: dict[str, list[int]] = {}
    for policy_id, level in ctx.policies_by_schedule.get(schedule.id, ()):
        levels_by_policy.setdefault(policy_id, []).append(level)
    refs = {r.id: r for r in schedule.escalation_policies}
    # The schedule's own list (PagerDuty's view) comes first, then any policy of this sync
    # that targets it but was not listed there.
    ordered = dedupe([*refs, *levels_by_policy])
    if not ordered:
        return ["Not used by any escalation policy."]
    described: list[str] = []
    total = 0
    for policy_id in ordered:
        policy = ctx.policies.get(policy_id)
        ref = refs.get(policy_id)
        name = (policy.name if policy and policy.name else None) or (ref.summary if ref else None)
        words = f"'{name or policy_id}'"
        # A policy outside this sync's context has no rules to count.
        if policy is not None:
            levels = len(policy.escalation_rules)
            total += levels
            used = levels_by_policy.get(policy_id)
            at = ""
            if used:
                at = f"at level{'s' if len(used) > 1 else ''} {join([str(n) for n in used])} "
            words += f" ({at}of {counted(levels, 'level')})"
        described.append(words)
    noun = "policy" if len(described) == 1 else "policies"
    return [f"Used by escalation {noun}: {join(described)}.",
            f"These escalation policies have {counted(total, 'escalation level')} in total."]
