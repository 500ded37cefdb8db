"""An incremental sync's reading: audit records since the cursor, then only what they name.

PagerDuty's webhooks never carry schedules, policies, users or teams; its audit records do
(``GET /audit/records``, newest first, cursor paged; FACTS §1). From the records since the cursor:

- every user, team, escalation policy and schedule (v2 or v3) a record names is read again by id:
  200 replaces the kept object, 404 confirms it is gone (a deletion is never taken on the
  record's word alone, as the full sync confirms its sweep);
- a team whose members changed (``references[name=members]``, a ``team_role``) has its member
  listing read once, and the users' team lists follow it;
- a service changed re-reads the policies that list it (a policy's document names its services);
- a policy changed re-reads the schedules it targets, before and after, when its targets or its
  name changed: a schedule's own ``escalation_policies`` is PagerDuty's view of who pages it, in
  PagerDuty's order, and the schedule's document shows it;
- a record of a kind this version does not know is not skipped: it asks for a full sync, as
  does a 402 on one of these reads (the account's plan changed: the teams ability, say).

Requests: one per 100 records, then at most two per changed object (a team's record and its
members; a schedule a policy moved to). Nothing changed: one request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pdsearch.documents.context import is_schedule
from pdsearch.pagerduty.client import AUDIT_MAX_SPAN, AUDIT_RETENTION, PagerDutyClient
from pdsearch.pagerduty.errors import (
    AbilityError,
    BadRequestError,
    NotFoundError,
    PagerDutyError,
    ScopeError,
)
from pdsearch.pagerduty.models import AuditRecord, EscalationPolicy, Reference, TeamMember
from pdsearch.sync.concurrency import all_or_first_error
from pdsearch.sync.pagerduty_account import (
    POLICIES,
    SCHEDULES,
    SCHEDULES_V3,
    TEAMS,
    USERS,
    AccountData,
)
from pdsearch.sync.progress import JobControl
from pdsearch.sync.source import AuditUnavailable, FullSyncNeeded, SourceError

#: The root resource types asked for (``ip_allow_lists`` change no document).
ROOT_TYPES = ("users", "teams", "schedules", "escalation_policies", "services")
#: A root reference's type -> the kind it is kept as (services are not kept, see above).
KINDS = {
    "user_reference": USERS,
    "team_reference": TEAMS,
    "escalation_policy_reference": POLICIES,
    "schedule_reference": SCHEDULES,
    "schedule_v3_reference": SCHEDULES_V3,
    "service_reference": "services",
}
#: Objects read by id at once (the client's own limit caps requests in flight).
FETCH_CONCURRENCY = 8
#: What a team record may say that only its member listing answers.
MEMBER_FIELDS = frozenset({"team_role"})


@dataclass
class Plan:
    """What the records ask to read again."""

    objects: dict[str, set[str]] = field(default_factory=dict)  # kind -> ids
    members: set[str] = field(default_factory=set)  # team ids
    services: set[str] = field(default_factory=set)
    service_policies: set[str] = field(default_factory=set)

    def add(self, kind: str, object_id: str) -> None:
        self.objects.setdefault(kind, set()).add(object_id)


@dataclass
class Applied:
    """What changed in the ``AccountData``: kept objects replaced or removed, and document
    ids whose objects are confirmed gone."""

    changed: set[tuple[str, str]] = field(default_factory=set)  # (kind, id), read again
    removed: set[tuple[str, str]] = field(default_factory=set)
    #: Users whose team lists follow a member listing (kept again; no document shows them).
    patched: set[tuple[str, str]] = field(default_factory=set)
    identity: bool = False

    @property
    def anything(self) -> bool:
        return bool(self.changed or self.removed)

    def touched_ids(self) -> set[str]:
        """The ids of objects read again or gone: what documents may show differently."""
        return {object_id for _, object_id in self.changed | self.removed}


def plan(records: Iterable[AuditRecord], data: AccountData) -> Plan:
    """The reads the records call for (``FullSyncNeeded`` for one this version cannot place)."""
    out = Plan()
    for record in records:
        root = record.root_resource
        kind = KINDS.get(root.type) if root is not None else None
        if root is None or kind is None:
            named = root.type if root is not None else "no resource"
            raise FullSyncNeeded(
                f"an audit record ({record.id}) is about {named}, which incremental syncs do "
                "not read; a full sync reads everything instead"
            )
        if kind == "services":
            out.services.add(root.id)
            for change in record.details.references if record.details else []:
                if change.name == "escalation_policy":
                    out.service_policies.update(r.id for r in [*change.added, *change.removed])
            continue
        if kind == TEAMS and _membership_only(record):
            out.members.add(root.id)
            continue
        out.add(kind, root.id)
        if kind == TEAMS and _mentions_members(record):
            out.members.add(root.id)
    for service_id in out.services:
        for policy in data.policies.values():
            if any(s.id == service_id for s in policy.services):
                out.add(POLICIES, policy.id)
    for policy_id in out.service_policies:
        out.add(POLICIES, policy_id)
    return out


def _membership_only(record: AuditRecord) -> bool:
    details = record.details
    if record.action != "update" or details is None:
        return False
    names = {f.name for f in details.fields} | {r.name for r in details.references}
    return bool(names) and names <= (MEMBER_FIELDS | {"members"})


def _mentions_members(record: AuditRecord) -> bool:
    details = record.details
    if details is None:
        return False
    return any(f.name in MEMBER_FIELDS for f in details.fields) or any(
        r.name == "members" for r in details.references)


class Reader:
    """Reads what a ``Plan`` names and patches ``data`` with it."""

    def __init__(self, client: PagerDutyClient, data: AccountData, job: JobControl) -> None:
        self.client = client
        self.data = data
        self.job = job
        self.applied = Applied()
        self._read: set[tuple[str, str]] = set()
        self._gate = asyncio.Semaphore(FETCH_CONCURRENCY)

    async def run(self, todo: Plan) -> Applied:
        old_policies = {i: self.data.policies.get(i) for i in todo.objects.get(POLICIES, ())}
        await all_or_first_error(*(
            self._fetch(kind, object_id)
            for kind, ids in sorted(todo.objects.items()) for object_id in sorted(ids)
        ))
        # Members after users: a user read above comes with their teams already.
        await all_or_first_error(*(self._members(t) for t in sorted(todo.members)))
        schedules: set[tuple[str, str]] = set()
        for policy_id, before in old_policies.items():
            schedules |= self._schedules_to_reread(before, self.data.policies.get(policy_id))
        await all_or_first_error(*(self._fetch(k, i) for k, i in sorted(schedules - self._read)))
        return self.applied

    def _schedules_to_reread(
        self, old: EscalationPolicy | None, new: EscalationPolicy | None
    ) -> set[tuple[str, str]]:
        targets_old, targets_new = _schedule_targets(old), _schedule_targets(new)
        same_name = (old.name if old else None) == (new.name if new else None)
        if targets_old == targets_new and same_name:
            return set()
        out: set[tuple[str, str]] = set()
        for schedule_id in targets_old | targets_new:
            if schedule_id in self.data.schedules_v3:
                out.add((SCHEDULES_V3, schedule_id))
            elif schedule_id in self.data.schedules:
                out.add((SCHEDULES, schedule_id))
        return out

    async def _fetch(self, kind: str, object_id: str) -> None:
        self._read.add((kind, object_id))
        async with self._gate:
            self.job.check()
            try:
                await self._fetch_one(kind, object_id)
            except NotFoundError:
                self._remove(kind, object_id)
            except AbilityError as exc:
                raise _plan_changed(exc) from exc
            except PagerDutyError as exc:
                raise SourceError(
                    f"Reading {kind.replace('_', ' ')} {object_id} from PagerDuty failed: {exc}"
                ) from exc
            self.job.reporter.advance()

    async def _fetch_one(self, kind: str, object_id: str) -> None:
        client, data = self.client, self.data
        if kind == USERS:
            data.users[object_id] = await client.user(object_id)
            self.applied.identity = True
        elif kind == TEAMS:
            data.teams[object_id] = await client.team(object_id)
            self.applied.identity = True
        elif kind == POLICIES:
            data.policies[object_id] = await client.escalation_policy(object_id)
        elif kind == SCHEDULES:
            data.schedules[object_id] = await client.schedule(object_id)
        else:
            data.schedules_v3[object_id] = await client.schedule_v3(object_id)
        self.applied.changed.add((kind, object_id))

    def _remove(self, kind: str, object_id: str) -> None:
        data = self.data
        if data.remove(kind, object_id):
            self.applied.removed.add((kind, object_id))
        if kind == USERS:
            self.applied.identity = True
            if data.memberships is not None:
                for team_id, members in data.memberships.items():
                    data.memberships[team_id] = [m for m in members if m.user.id != object_id]
        elif kind == TEAMS:
            # A deleted team's memberships end with it, and no record says so member by member.
            self.applied.identity = True
            self._set_team_members(object_id, None)
            if data.memberships is not None:
                data.memberships.pop(object_id, None)

    async def _members(self, team_id: str) -> None:
        async with self._gate:
            self.job.check()
            try:
                members = [m async for m in self.client.team_members(team_id)]
            except NotFoundError:
                self._remove(TEAMS, team_id)
                return
            except AbilityError as exc:
                raise _plan_changed(exc) from exc
            except PagerDutyError as exc:
                raise SourceError(
                    f"Listing the members of team {team_id} from PagerDuty failed: {exc}"
                ) from exc
        self.applied.identity = True
        if self.data.memberships is not None:
            self.data.memberships[team_id] = members
        self._set_team_members(team_id, members)

    def _set_team_members(self, team_id: str, members: list[TeamMember] | None) -> None:
        """Make the users' team lists agree with a team's member listing (None: no team)."""
        data = self.data
        wanted = {m.user.id for m in members or []}
        team = data.teams.get(team_id)
        ref = Reference(id=team_id, type="team_reference",
                        summary=team.name if team is not None else None)
        for user_id, user in list(data.users.items()):
            has = any(t.id == team_id for t in user.teams)
            if (user_id in wanted) == has:
                continue
            teams = ([*user.teams, ref] if user_id in wanted
                     else [t for t in user.teams if t.id != team_id])
            data.users[user_id] = user.model_copy(update={"teams": teams})
            self.applied.patched.add((USERS, user_id))


def _plan_changed(exc: AbilityError) -> FullSyncNeeded:
    """A 402 on a read the last sync could make: the account's plan changed (the teams
    ability, say). A full sync reads the account as it now is, as it does any account."""
    return FullSyncNeeded(f"PagerDuty refused a read for an ability the account no longer has "
                          f"({exc})")


def _schedule_targets(policy: EscalationPolicy | None) -> frozenset[str]:
    if policy is None:
        return frozenset()
    return frozenset(t.id for rule in policy.escalation_rules for t in rule.targets
                     if is_schedule(t))


# --- the audit trail and its cursor -------------------------------------------------------


@dataclass(frozen=True)
class AuditCursor:
    """Every record executed before ``at`` is applied, and so are those named in ``seen``."""

    at: datetime
    seen: tuple[str, ...] = ()
    last_record_at: datetime | None = None


#: A record may show up this late in the trail (and the clocks may differ this much): the cursor
#: stays this far behind the time of the query, and the records in between are remembered.
OVERLAP = timedelta(minutes=10)
#: PagerDuty answers 31 days at a time (``AUDIT_MAX_SPAN``); a day's margin for the clocks.
MAX_GAP = AUDIT_MAX_SPAN - timedelta(days=1)


def unavailable_reason(exc: PagerDutyError) -> str | None:
    """Why the audit trail cannot be read, for a 402 or 403; None for any other error."""
    if isinstance(exc, AbilityError):
        return ("the PagerDuty account has no Audit Trail feature (402), so every sync reads "
                "the whole account")
    if isinstance(exc, ScopeError):
        return ("this connector's credential may not read PagerDuty's audit trail (403: it "
                "takes an admin's or an account-level key, or the audit_records.read scope), so "
                "every sync reads the whole account")
    return None


async def probe(client: PagerDutyClient, now: datetime) -> AuditCursor | None:
    """At the start of a full sync: the cursor it leaves (``AuditUnavailable`` on 402/403; None
    when the trail could not be read otherwise: the next sync is full again)."""
    try:
        records = await client.audit_page(limit=100)
    except PagerDutyError as exc:
        reason = unavailable_reason(exc)
        if reason is not None:
            raise AuditUnavailable(reason) from exc
        return None
    return _advance(AuditCursor(now - OVERLAP), records, now)


async def read_since(
    client: PagerDutyClient, cursor: AuditCursor, now: datetime
) -> tuple[list[AuditRecord], AuditCursor]:
    """The records not applied yet, oldest first, and the cursor after them."""
    age = now - cursor.at
    if age > AUDIT_RETENTION:
        raise FullSyncNeeded(
            f"the last sync read the audit trail {age.days} days ago, longer than the 12 months "
            "PagerDuty keeps its records")
    if age > MAX_GAP:
        raise FullSyncNeeded(
            f"the last sync read the audit trail {age.days} days ago, and PagerDuty answers at "
            "most 31 days at a time")
    try:
        records = [r async for r in client.audit_records(
            since=cursor.at.isoformat(), root_resource_types=ROOT_TYPES)]
    except PagerDutyError as exc:
        reason = unavailable_reason(exc)
        if reason is not None:
            raise AuditUnavailable(reason) from exc
        if isinstance(exc, BadRequestError):
            raise FullSyncNeeded(f"PagerDuty refused to list audit records ({exc})") from exc
        raise SourceError(f"Listing audit records from PagerDuty failed: {exc}") from exc
    seen = set(cursor.seen)
    fresh = [r for r in reversed(records) if r.id not in seen]
    return fresh, _advance(cursor, records, now)


def _advance(cursor: AuditCursor, records: list[AuditRecord], now: datetime) -> AuditCursor:
    at = max(cursor.at, now - OVERLAP)
    times = {r.id: _time(r.execution_time) for r in records}
    seen = tuple(sorted(i for i, t in times.items() if t >= at))
    latest = max(times.values(), default=None)
    if cursor.last_record_at is not None and (latest is None or latest < cursor.last_record_at):
        latest = cursor.last_record_at
    return AuditCursor(at, seen, latest)


def _time(text: str) -> datetime:
    when = datetime.fromisoformat(text)
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
