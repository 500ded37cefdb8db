"""Reading who is on call from PagerDuty, for the refresh (``oncall.py``): ``/oncalls`` for
the policies, a render for the schedules it leaves out, and, for a credential that may not read
``/oncalls``, the same answers composed from the policies' rules and rendered schedules."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from pdsearch.documents.context import is_schedule
from pdsearch.pagerduty.client import PagerDutyClient
from pdsearch.pagerduty.errors import AbilityError, BadRequestError, NotFoundError, ScopeError
from pdsearch.pagerduty.models import EscalationPolicy
from pdsearch.pagerduty.oncalls import OnCall, Shift
from pdsearch.store import OnCallShift, Person
from pdsearch.store.records import iso

log = logging.getLogger(__name__)

SCHEDULE: Final = "schedule:"
#: Audit records are asked for from this long before the last refresh (clock skew, lag).
AUDIT_OVERLAP: Final = timedelta(minutes=5)


class OnCallRead:
    """What one refresh read: the shifts, the schedules that could not be rendered."""

    def __init__(self) -> None:
        self.shifts: list[OnCallShift] = []
        self.unknown: list[str] = []
        self._seen: set[tuple[Any, ...]] = set()

    def add(self, shift: OnCallShift) -> None:
        key = (shift.policy_id, shift.level, shift.schedule_id, shift.user_id, shift.start,
               shift.end)
        if key not in self._seen:
            self._seen.add(key)
            self.shifts.append(shift)


async def read_oncall(
    client: PagerDutyClient,
    schedule_ids: Sequence[str],
    policy_ids: Sequence[str],
    since: datetime,
    until: datetime,
    people: Mapping[str, Person],
    *,
    only: bool = False,
) -> OnCallRead:
    """Who is on call on ``policy_ids`` and ``schedule_ids`` over ``[since, until]``; ``only``
    asks ``/oncalls`` for those policies alone (a few changed ones), else for every policy."""
    found = OnCallRead()
    policies, schedules = set(policy_ids), set(schedule_ids)
    try:
        rows = (
            await client.oncalls(since, until, policy_ids=sorted(policies), only=only)
            if policies else []
        )
    except ScopeError as exc:
        log.info("GET /oncalls refused (%s): policies composed from their rules", exc)
        return await _compose(client, schedules, policies, since, until, people, only=only)
    shown: set[str] = set()
    known = dict(people)
    for row in rows:
        person = _person(row, known)
        known.setdefault(person.user_id, person)
        if row.escalation_policy.id in policies:
            found.add(_on(row.escalation_policy.id, row.escalation_level, row, person))
        if row.schedule is not None and row.schedule.id in schedules:
            shown.add(row.schedule.id)
            found.add(_on(None, None, row, person))
    await _add_rendered(found, client, schedules - shown, since, until, known, own=schedules)
    return found


async def _compose(
    client: PagerDutyClient,
    schedules: set[str],
    policy_ids: set[str],
    since: datetime,
    until: datetime,
    people: Mapping[str, Person],
    *,
    only: bool,
) -> OnCallRead:
    """What ``/oncalls`` answers, without it: a credential that may not read on-calls (a
    scoped OAuth app granted no ``oncalls.read``) still reads policies and schedules. Each
    level of each policy is on call as its targets are: a schedule through its final
    schedule, rendered one by one (``schedules.read``), a user always (no start, no end).
    Dearer (one request a schedule), so a credential with the scope is asked ``/oncalls``."""
    found = OnCallRead()
    through: dict[str, list[tuple[str, int]]] = {}  # schedule -> the (policy, level)s it serves
    direct: list[tuple[str, int, str]] = []  # (policy, level, user) targeted directly
    for policy in await _policies(client, policy_ids, only=only):
        for number, rule in enumerate(policy.escalation_rules, start=1):
            for target in rule.targets:
                if is_schedule(target):
                    through.setdefault(target.id, []).append((policy.id, number))
                elif target.type in ("user", "user_reference"):
                    direct.append((policy.id, number, target.id))
    known = dict(people)
    await _add_rendered(found, client, schedules | through.keys(), since, until, known,
                        own=schedules, through=through,
                        also=[user_id for _, _, user_id in direct])
    for policy_id, number, user_id in direct:
        user = known.get(user_id)
        if user is not None:  # a user gone since the policy was read targets no one
            found.add(OnCallShift(policy_id, number, None, user_id, user.name, user.email,
                                  user.time_zone, None, None))
    return found


async def _policies(
    client: PagerDutyClient, policy_ids: set[str], *, only: bool
) -> list[EscalationPolicy]:
    """Those policies, with their rules: each by id when they are a few changed ones
    (``only``), else from the listing."""
    if not only:
        return [p async for p in client.escalation_policies() if p.id in policy_ids]

    async def one(policy_id: str) -> EscalationPolicy | None:
        try:
            return await client.escalation_policy(policy_id)
        except NotFoundError:
            return None

    read = await asyncio.gather(*(one(pid) for pid in sorted(policy_ids)))
    return [p for p in read if p is not None]


def _person(row: OnCall, known: Mapping[str, Person]) -> Person:
    user = row.user
    held = known.get(user.id)
    return Person(
        user.id,
        user.email or (held.email if held else ""),
        user.name or (held.name if held else "") or user.display_name,
        user.time_zone or (held.time_zone if held else None),
    )


def _on(policy_id: str | None, level: int | None, row: OnCall, person: Person) -> OnCallShift:
    return OnCallShift(
        policy_id, level, row.schedule.id if row.schedule else None, person.user_id, person.name,
        person.email, person.time_zone, row.start, row.end,
    )


async def _add_rendered(
    found: OnCallRead,
    client: PagerDutyClient,
    schedule_ids: set[str],
    since: datetime,
    until: datetime,
    known: dict[str, Person],
    *,
    own: set[str],
    through: Mapping[str, list[tuple[str, int]]] | None = None,
    also: Sequence[str] = (),
) -> None:
    """Render each schedule and add its shifts: as the schedule's own answer when it is in
    ``own`` (else only for the policy levels ``through`` it), and for each policy level that
    goes through it. Users neither ``known`` nor listed (``also``: users a policy targets) are
    read by id."""
    rendering = sorted(schedule_ids)
    rendered = await asyncio.gather(*(_render(client, sid, since, until) for sid in rendering))
    await _learn_users(client, [s for r in rendered if r for s in r], known, also=also)
    for schedule_id, shifts in zip(rendering, rendered, strict=True):
        if shifts is None:
            if schedule_id in own:
                found.unknown.append(SCHEDULE + schedule_id)
            continue
        owners: list[tuple[str | None, int | None]] = [*(through or {}).get(schedule_id, [])]
        if schedule_id in own:
            owners.append((None, None))  # the schedule's own answer
        for s in shifts:
            person = known.get(s.user_id) or Person(s.user_id, "", s.user_name, None)
            for policy_id, level in owners:
                found.add(OnCallShift(policy_id, level, schedule_id, s.user_id,
                                      person.name or s.user_name, person.email,
                                      person.time_zone, s.start, s.end))


async def _render(
    client: PagerDutyClient, schedule_id: str, since: datetime, until: datetime
) -> list[Shift] | None:
    """The schedule's shifts; [] when it is gone (the next sync drops its document), None when
    PagerDuty refuses to render it."""
    try:
        return await client.schedule_shifts(schedule_id, since, until)
    except NotFoundError:
        return []
    except BadRequestError as exc:
        log.warning("PagerDuty could not render schedule %s: %s", schedule_id, exc)
        return None


async def _learn_users(
    client: PagerDutyClient, shifts: Sequence[Shift], known: dict[str, Person],
    also: Sequence[str] = (),
) -> None:
    """Names and e-mails of users the sync did not list (created since): one GET each."""
    unknown = sorted(({s.user_id for s in shifts} | set(also)) - known.keys())

    async def one(user_id: str) -> None:
        try:
            user = await client.user(user_id)
        except NotFoundError:
            return
        known[user_id] = Person(user.id, user.email, user.name, user.time_zone)

    await asyncio.gather(*(one(u) for u in unknown))


async def changes_since(
    client: PagerDutyClient, since: datetime
) -> tuple[set[str], set[str]] | None:
    """Schedules and policies changed since ``since`` (overrides included: PagerDuty records
    them as updates of their schedule), from the audit trail; None without it (no ability or
    no scope), and the caller reads everything."""
    schedules: set[str] = set()
    policies: set[str] = set()
    try:
        async for record in client.audit_records(
            since=iso(since - AUDIT_OVERLAP), root_resource_types=("schedules",
                                                                    "escalation_policies"),
        ):
            ref = record.root_resource
            if ref is None:
                continue
            if "escalation_policy" in ref.type:
                policies.add(ref.id)
            elif "schedule" in ref.type:
                schedules.add(ref.id)
    except (AbilityError, ScopeError) as exc:
        log.info("no audit trail for on-call refreshes (%s): reading everything", exc)
        return None
    return schedules, policies
