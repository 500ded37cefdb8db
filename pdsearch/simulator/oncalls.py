"""``GET /oncalls``: who is on call, per escalation policy and level, over a window.

An on-call is one user on one level of one policy for one contiguous stretch:

- through a schedule the rule targets: each stretch of one user on the schedule's final schedule
  (layers and overrides) that meets ``[since, until]``, with its real ``start`` and ``end``,
  followed up to ``FOLLOW`` (90 days) outside the window and cut there;
- through a shift-based (v3) schedule: each stretch of one user's shifts (several users may be
  on call at once), followed no further than the block rendered around the window (two weeks
  past each side); a schedule whose events the simulator cannot expand is left out;
- a user the rule targets directly is on call permanently: ``schedule``, ``start`` and ``end``
  are null.

Schedules no policy uses never appear. ``since`` and ``until`` default to now; ``until`` may
not come before ``since`` nor more than 90 days after it (PagerDuty: "On-call shifts are limited
to 90 days"). Filters: ``escalation_policy_ids[]``, ``schedule_ids[]`` (the value ``null`` keeps
the permanent on-calls), ``user_ids[]``; ``earliest=true`` keeps the first on-call of each
policy, level and user. ``include[]`` expands ``users``, ``schedules`` and
``escalation_policies`` in place. Pages as PagerDuty's classic listings do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pdsearch.simulator.api import Call, Reply, invalid
from pdsearch.simulator.paging import offset_page, parse_offset
from pdsearch.simulator.schedule_render import RunCache, ScheduleTimeline, Segment
from pdsearch.simulator.schedule_routes import timeline_of
from pdsearch.simulator.schedule_v3_render import UnsupportedRule, shifts_of
from pdsearch.simulator.schedule_windows import flag, now, request_zone
from pdsearch.simulator.timeline import DAY, WEEK, BadTime, Budget, RenderTooLarge, instant, iso

JSON = dict[str, Any]
MAX_WINDOW = 90 * DAY
FOLLOW = 90 * DAY
INCLUDES = {"users", "schedules", "escalation_policies"}
# Blocks reach this far past the window, so a stretch rarely has to be followed further.
_MARGIN = 2 * WEEK


@dataclass(frozen=True)
class OnCall:
    policy_id: str
    level: int
    target: int  # position of the target within its rule, for a stable order
    user_id: str
    schedule_id: str | None
    start: int | None
    end: int | None


class ScheduleRuns:
    """The final-schedule stretches of one schedule, rendered in week-aligned blocks (cached)."""

    def __init__(self, schedule_id: str, timeline: ScheduleTimeline, cache: RunCache) -> None:
        self.schedule_id = schedule_id
        self.timeline = timeline
        self.cache = cache

    def _block(self, lo: int, hi: int) -> list[Segment]:
        def compute() -> list[Segment]:
            return self.timeline.render(lo, hi).final

        return self.cache.runs(self.schedule_id, lo, hi, compute)

    def meeting(self, since: int, until: int) -> list[tuple[int, int, str]]:
        """Stretches meeting ``[since, until]`` (an instant when equal), edges followed outside."""
        lo = (since - _MARGIN) // WEEK * WEEK
        hi = -((-(until + _MARGIN)) // WEEK) * WEEK
        runs = self._block(lo, hi)
        if since == until:
            chosen = [r for r in runs if r.start <= since < r.end]
        else:
            chosen = [r for r in runs if r.start < until and r.end > since]
        out = []
        for r in chosen:
            start = self._back(r.start, r.user, lo, since - FOLLOW) if r.start == lo else r.start
            end = self._forward(r.end, r.user, hi, until + FOLLOW) if r.end == hi else r.end
            out.append((start, end, r.user))
        return out

    def _back(self, start: int, user: str, edge: int, limit: int) -> int:
        step = WEEK
        while start == edge and edge > limit:
            block = self._block(edge - step, edge)
            last = block[-1] if block else None
            if last is None or last.user != user or last.end != edge:
                break
            start, edge, step = last.start, edge - step, step * 2
        return max(start, limit)

    def _forward(self, end: int, user: str, edge: int, limit: int) -> int:
        step = WEEK
        while end == edge and edge < limit:
            block = self._block(edge, edge + step)
            first = block[0] if block else None
            if first is None or first.user != user or first.start != edge:
                break
            end, edge, step = first.end, edge + step, step * 2
        return min(end, limit)


def _v3_stretches(
    schedule: JSON, since: int, until: int, cache: RunCache
) -> list[tuple[int, int, str]]:
    lo = (since - _MARGIN) // WEEK * WEEK
    hi = -((-(until + _MARGIN)) // WEEK) * WEEK

    def compute() -> list[Segment]:
        try:
            shifts = shifts_of(schedule, lo, hi, Budget())
        except (UnsupportedRule, BadTime):
            return []  # events the simulator cannot expand: left out (docs/SIMULATOR.md)
        merged: dict[str, list[list[int]]] = {}
        for _order, s in shifts:  # in order of start: join each user's touching shifts
            spans = merged.setdefault(s.user, [])
            if spans and s.start <= spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], s.end)
            else:
                spans.append([s.start, s.end])
        found = [Segment(a, b, u, schedule["id"]) for u, spans in merged.items() for a, b in spans]
        return sorted(found, key=lambda r: (r.start, r.end, r.user))

    runs = cache.runs(schedule["id"], lo, hi, compute)
    if since == until:
        return [(r.start, r.end, r.user) for r in runs if r.start <= since < r.end]
    return [(r.start, r.end, r.user) for r in runs if r.start < until and r.end > since]


def _window(call: Call) -> tuple[int, int]:
    moment = now(call)
    values = []
    for name in ("since", "until"):
        raw = call.query.get(name)
        try:
            values.append(instant(raw) if raw else moment)
        except BadTime:
            raise invalid(f"{name} must be an ISO 8601 date-time.", 2004) from None
    since, until = values
    if until < since:
        raise invalid("until must not be before since.", 2005)
    if until - since > MAX_WINDOW:
        raise invalid(
            "On-call shifts are limited to 90 days: until may be at most 90 days after since."
        )
    return since, until


def find_oncalls(call: Call, since: int, until: int) -> list[OnCall]:
    account = call.sim.account
    policy_filter = set(call.list_param("escalation_policy_ids")) or None
    cache = call.sim.runs
    meeting: dict[str, list[tuple[int, int, str]]] = {}

    def stretches(schedule_id: str) -> list[tuple[int, int, str]]:
        found = meeting.get(schedule_id)
        if found is None:
            if account.exists("schedules", schedule_id):
                timeline = cache.timeline(schedule_id, lambda: timeline_of(call, schedule_id))
                found = ScheduleRuns(schedule_id, timeline, cache).meeting(since, until)
            else:
                found = _v3_stretches(account.get("schedules_v3", schedule_id), since, until, cache)
            meeting[schedule_id] = found
        return found

    found: list[OnCall] = []
    for policy_id in account.list_ids("escalation_policies"):
        if policy_filter is not None and policy_id not in policy_filter:
            continue
        policy = account.get("escalation_policies", policy_id)
        for level, rule in enumerate(policy.get("escalation_rules", []), start=1):
            for n, target in enumerate(rule.get("targets", [])):
                if target["type"] in ("user", "user_reference"):
                    found.append(OnCall(policy_id, level, n, target["id"], None, None, None))
                    continue
                for start, end, user in stretches(target["id"]):
                    found.append(OnCall(policy_id, level, n, user, target["id"], start, end))
    return found


def _filtered(call: Call, found: list[OnCall]) -> list[OnCall]:
    schedules = set(call.list_param("schedule_ids"))
    users = set(call.list_param("user_ids"))
    out = [
        o
        for o in found
        if (not schedules or (o.schedule_id or "null") in schedules)
        and (not users or o.user_id in users)
    ]
    if flag(call, "earliest"):
        first: dict[tuple[str, int, str], OnCall] = {}
        for o in out:
            key = (o.policy_id, o.level, o.user_id)
            held = first.get(key)
            if held is None or _when(o) < _when(held):
                first[key] = o
        out = [o for o in out if first[(o.policy_id, o.level, o.user_id)] is o]
    return out


def _sorted(call: Call, since: int, until: int) -> list[OnCall]:
    try:
        found = _filtered(call, find_oncalls(call, since, until))
    except (RenderTooLarge, BadTime) as exc:
        raise invalid(str(exc)) from None
    rank = {pid: n for n, pid in enumerate(call.sim.account.list_ids("escalation_policies"))}
    found.sort(key=lambda o: (rank[o.policy_id], o.level, _when(o), o.target, o.user_id))
    return found


def _when(o: OnCall) -> int:
    return o.start if o.start is not None else -(2**62)


async def list_oncalls(call: Call) -> Reply:
    includes = set(call.list_param("include"))
    if includes - INCLUDES:
        raise invalid(f"include[] must be among {', '.join(sorted(INCLUDES))}.")
    since, until = _window(call)
    tz = request_zone(call, "UTC")
    params = parse_offset(call.query)
    account = call.sim.account
    call.sim.runs.at((account.version, account.overrides.version))
    # Every page of one listing asks the same question: answer it once.
    key = (
        since,
        until,
        tuple(sorted(call.list_param("escalation_policy_ids"))),
        tuple(sorted(call.list_param("schedule_ids"))),
        tuple(sorted(call.list_param("user_ids"))),
        flag(call, "earliest"),
    )
    found: list[OnCall] = call.sim.runs.answer(key, lambda: _sorted(call, since, until))
    page, meta = offset_page(found, params)
    shape = _Shaper(call, includes)
    oncalls = [
        {
            "escalation_policy": shape.policy(o.policy_id),
            "escalation_level": o.level,
            "schedule": shape.schedule(o.schedule_id) if o.schedule_id else None,
            "user": shape.user(o.user_id),
            "start": iso(o.start, tz) if o.start is not None else None,
            "end": iso(o.end, tz) if o.end is not None else None,
        }
        for o in page
    ]
    return Reply(200, {"oncalls": oncalls, **meta})


class _Shaper:
    """References, or whole objects for ``include[]`` (keeping the reference ``type``, which the
    spec's ``Oncall`` schema fixes, as the simulator does for expanded team members)."""

    def __init__(self, call: Call, includes: set[str]) -> None:
        self.account = call.sim.account
        self.includes = includes
        self._seen: dict[tuple[str, str], JSON] = {}  # a page names the same objects often

    def _shape(
        self, include: str, kind: str, object_id: str, expand: Callable[[str], JSON], ref_type: str
    ) -> JSON:
        key = (kind, object_id)
        found = self._seen.get(key)
        if found is None:
            if include not in self.includes:
                found = self.account.ref(kind, object_id)
            else:
                found = {**expand(object_id), "type": ref_type}
            self._seen[key] = found
        return found

    def user(self, user_id: str) -> JSON:
        return self._shape(
            "users",
            "users",
            user_id,
            lambda i: self.account.render_user(i, include_teams=False),
            "user_reference",
        )

    def schedule(self, schedule_id: str) -> JSON:
        if self.account.schedule_kind(schedule_id) == "schedules_v3":
            return self.account.render_schedule_v3_reference(schedule_id)
        return self._shape(
            "schedules",
            "schedules",
            schedule_id,
            lambda i: self.account.render_schedule(i, include_layers=False),
            "schedule_reference",
        )

    def policy(self, policy_id: str) -> JSON:
        return self._shape(
            "escalation_policies",
            "escalation_policies",
            policy_id,
            self.account.render_policy,
            "escalation_policy_reference",
        )
