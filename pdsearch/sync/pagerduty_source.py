"""PagerDuty as a sync source: what one sync reads, and how it becomes documents and entities.

- identity: teams and users (``include[]=teams``), and team member listings only when the users
  listing did not carry memberships;
- content: escalation policies and schedules side by side (v2 listed with their layers, v3 listed
  as references then read one by one, concurrently within the client's limits);
- mapping: every object through ``pdsearch.documents``; one that fails is reported, not fatal.

Document ids are minted here (``escalation_policy:<id>``, ``schedule:<id>``), so this is also
where an id is turned back into the object to confirm it is gone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from pdsearch.documents import (
    POLICY_TYPE,
    SCHEDULE_TYPE,
    MappingError,
    build_context,
    derive_entities,
    policy_document,
    schedule_document,
)
from pdsearch.index.base import Document
from pdsearch.pagerduty.client import PagerDutyClient
from pdsearch.pagerduty.errors import (
    AbilityError,
    BadRequestError,
    NotFoundError,
    PagerDutyError,
    ScopeError,
)
from pdsearch.pagerduty.models import ScheduleV3, Service, TeamMember
from pdsearch.store.oncall import Person
from pdsearch.sync.concurrency import all_or_first_error, in_thread
from pdsearch.sync.pagerduty_account import (
    MEMBERS,
    POLICIES,
    SCHEDULES,
    SCHEDULES_V3,
    SERVICES,
    AccountData,
    SnapshotError,
    restore,
)
from pdsearch.sync.pagerduty_changes import (
    Applied,
    AuditCursor,
    Reader,
    plan,
    probe,
    read_since,
)
from pdsearch.sync.progress import JobControl
from pdsearch.sync.source import Changes, FullSyncNeeded, Identity, Mapped, SourceError

log = logging.getLogger(__name__)

#: v3 schedule details read at once; the client's own semaphore caps requests in flight.
V3_CONCURRENCY = 8
#: A failure's reason is cut to this length in the job record.
REASON_CHARS = 300

T = TypeVar("T")


class PagerDutySource:
    """One connector's PagerDuty account, read through ``client`` for one sync.

    ``subdomain`` is the account's, when a connection check or an earlier sync told it;
    otherwise it is learnt from the listings. ``connector_id`` goes on every document.
    """

    def __init__(
        self,
        client: PagerDutyClient,
        connector_id: str,
        subdomain: str | None,
        *,
        kept: Callable[[], dict[str, dict[str, Any]]] | None = None,
        cursor: AuditCursor | None = None,
    ) -> None:
        self.client = client
        self.connector_id = connector_id
        self._known_subdomain = subdomain
        self._account = AccountData()
        # Incremental syncs: what the last sync kept (read only when something changed), and
        # where its audit trail reading stopped.
        self._kept = kept
        self.cursor = cursor
        self.applied: Applied | None = None
        self._services_relisted = False  # an incremental sync listed the services again
        self._restored = False  # the kept account was read back (incremental)
        self._affected: set[str] | None = None
        #: False once the teams listing answered 402 (no teams ability): no audit record says
        #: when the ability comes back, so such a sync leaves no cursor to be incremental from.
        self.teams_readable = True

    # -- incremental ------------------------------------------------------------------------

    async def probe_audit(self) -> None:
        """Before a full sync: note where the audit trail stands (``AuditUnavailable`` on
        402/403), so the next sync can be incremental from here."""
        self.cursor = await probe(self.client, datetime.now(UTC))

    async def read_changes(self, job: JobControl) -> Changes:
        """Records since the cursor, then only what they name (see ``pagerduty_changes``)."""
        if self.cursor is None or self._kept is None or not self._known_subdomain:
            raise FullSyncNeeded("this connector has no audit cursor yet (no full sync since "
                                 "incremental syncs became available)")
        job.reporter.phase("changes")
        records, after = await read_since(self.client, self.cursor, datetime.now(UTC))
        if not records:
            self.cursor = after
            return Changes()
        await self._restore(job)
        todo = plan(records, self._account)
        job.reporter.phase("changes", total=len(records))
        before = self._account.references()
        self.applied = applied = await Reader(self.client, self._account, job).run(todo)
        self._services_relisted = bool(todo.services)
        if todo.services:
            # A service changed: its description may be in the policies' documents. Services
            # are listed again (a page per 100), the policies naming them are read above.
            self._account.services = {s.id: s for s in await self._read_services(job)}
        self.cursor = after
        # The documents to make again: those that showed, or now show, something changed.
        refs = self._account.references()
        self._affected = {d for i in applied.touched_ids() | todo.services
                          for d in before.get(i, set()) | refs.get(i, set())}
        gone = frozenset(
            f"{POLICY_TYPE if kind == POLICIES else SCHEDULE_TYPE}:{object_id}"
            for kind, object_id in applied.removed if kind in (POLICIES, SCHEDULES, SCHEDULES_V3)
        )
        return Changes(len(records), applied.identity, applied.anything, gone)

    async def _restore(self, job: JobControl) -> None:
        """The account as the last sync kept it (``FullSyncNeeded`` when unreadable)."""
        kept = self._kept
        if kept is None:
            raise FullSyncNeeded("nothing was kept of the last sync")
        try:
            self._account = await in_thread(job, lambda: restore(self._known_subdomain or "",
                                                                 kept()))
        except SnapshotError as exc:
            raise FullSyncNeeded(str(exc)) from None
        self._restored = True

    async def meanings_for(self, job: JobControl, doc_ids: set[str]) -> dict[str, str]:
        """The meaning text of those documents, made from the kept account (read from the
        store if this sync has not yet): vectors missing while nothing changed in PagerDuty."""
        if not self._restored:
            await self._restore(job)
        mapped = await in_thread(job, self._map_all, doc_ids)
        return {m.doc_id: m.document.meaning for m in mapped if m.document is not None}

    def kept_changes(self) -> tuple[dict[str, dict[str, Any]], list[tuple[str, str]]]:
        """After ``read_changes``: the objects to keep again, and the ones to forget."""
        applied, data = self.applied, self._account
        if applied is None:
            return {}, []
        changed: dict[str, dict[str, Any]] = {}
        for kind, object_id in applied.changed | applied.patched:
            dumped = data.dump_one(kind, object_id)
            if dumped is not None:
                changed.setdefault(kind, {})[object_id] = dumped
        if data.memberships is not None and applied.identity:
            changed[MEMBERS] = {t: data.dump_one(MEMBERS, t) for t in data.memberships}
        if self._services_relisted:
            changed[SERVICES] = {i: data.dump_one(SERVICES, i) for i in data.services}
        return changed, sorted(applied.removed)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Everything this sync read, to keep for the next incremental one."""
        return self._account.snapshot()

    @property
    def requests_made(self) -> int:
        return self.client.requests_made

    # -- identity ---------------------------------------------------------------------------

    async def read_identity(self, job: JobControl) -> Identity:
        job.reporter.phase("identity")
        account = self._account
        try:
            teams = await _collect("teams", self.client.teams(), job)
        except SourceError as exc:
            # An account without the "teams" ability answers 402: it simply has no teams.
            if not isinstance(exc.__cause__, AbilityError):
                raise
            teams = []
            self.teams_readable = False
        account.teams = {t.id: t for t in teams}
        job.check()
        users = await _collect("users", self.client.users(include_teams=True), job)
        account.users = {u.id: u for u in users}
        job.check()
        account.memberships = await self._memberships_if_needed(job)
        subdomain = self._known_subdomain
        if not subdomain:
            try:  # after the listings: their objects' web addresses tell it without a request
                subdomain = await self.client.subdomain()
            except PagerDutyError as exc:
                raise SourceError(f"Reading the PagerDuty account failed: {exc}") from exc
        account.subdomain = subdomain
        return self.identity()

    def identity(self) -> Identity:
        """Who may see what, from what this sync knows of the account, and who its people are
        (for on-call answers in their own time zones)."""
        account = self._account
        entities = derive_entities(account.subdomain, account.users.values(),
                                   account.teams.values(), account.memberships)
        people = [Person(u.id, u.email, u.name, u.time_zone) for u in account.users.values()]
        return Identity(account.subdomain, entities, people)

    async def _memberships_if_needed(self, job: JobControl) -> dict[str, list[TeamMember]] | None:
        """Team member listings, read only when the users listing did not carry teams.

        ``include[]=teams`` on the users listing normally gives every membership at no extra
        cost; a user listing where nobody has a team while teams exist means the include was
        not honoured (a restricted token, an older API), and then each team's members are read.
        """
        account = self._account
        if not account.teams or any(user.teams for user in account.users.values()):
            return None
        memberships: dict[str, list[TeamMember]] = {}
        for team in account.teams.values():
            job.check()
            memberships[team.id] = await _collect(
                f"members of team {team.name or team.id}", self.client.team_members(team.id), job
            )
        return memberships

    # -- content ----------------------------------------------------------------------------

    async def read_documents(self, job: JobControl) -> Callable[[], Sequence[Mapped]]:
        """Policies, layer-based schedules and shift-based ones, read side by side (the client
        keeps the requests in flight and their rate within its limits)."""
        job.reporter.phase("policies")
        account, client = self._account, self.client

        async def policies() -> None:
            policies = await _collect("escalation policies", client.escalation_policies(), job)
            account.policies = {p.id: p for p in policies}
            job.reporter.phase("schedules")  # what is left to read

        async def schedules() -> None:
            listed = await _collect("schedules", client.schedules(), job)
            account.schedules = {s.id: s for s in listed}

        async def shift_based() -> None:
            refs = await _collect("shift-based (v3) schedules", client.schedule_v3_refs(), job)
            details = await self._read_v3_details([ref.id for ref in refs], job)
            account.schedules_v3 = {s.id: s for s in details}

        async def services() -> None:
            account.services = {s.id: s for s in await self._read_services(job)}

        await all_or_first_error(policies(), schedules(), shift_based(), services())
        return self._map_all

    async def _read_services(self, job: JobControl) -> list[Service]:
        """Every service, for what each is for (its description, in the documents of the
        policies that serve it). Optional: a credential that may not read services (an OAuth
        app without ``services.read``) gives documents without service descriptions."""
        try:
            return await _collect("services", self.client.services(), job)
        except SourceError as exc:
            refused = (ScopeError, AbilityError, NotFoundError, BadRequestError)
            if not isinstance(exc.__cause__, refused):
                raise
            log.info("services not read (%s): documents name services without descriptions",
                     exc.__cause__)
            return []

    async def _read_v3_details(self, ids: list[str], job: JobControl) -> list[ScheduleV3]:
        """Read every v3 schedule's detail, a few at a time, keeping the listing's order."""
        results: dict[str, ScheduleV3] = {}
        gate = asyncio.Semaphore(V3_CONCURRENCY)

        async def read_one(schedule_id: str) -> None:
            async with gate:
                job.check()
                try:
                    results[schedule_id] = await self.client.schedule_v3(schedule_id)
                except NotFoundError:
                    # Deleted between the listing and the read: it is gone, the sweep removes it.
                    log.info("v3 schedule %s disappeared during the sync", schedule_id)
                except PagerDutyError as exc:
                    raise SourceError(
                        f"Reading shift-based schedule {schedule_id} from PagerDuty failed: {exc}"
                    ) from exc
                job.reporter.advance()

        await all_or_first_error(*(read_one(i) for i in ids))
        return [results[i] for i in ids if i in results]

    def mapping(self) -> Callable[[], Sequence[Mapped]]:
        """The mapping to documents (CPU work, for a thread): after ``read_changes``, of the
        documents that show something changed; else of everything."""
        affected = self._affected
        if affected is None:
            return self._map_all
        return lambda: self._map_all(affected)

    def document_ids(self) -> set[str]:
        """Every document of the account as this sync knows it."""
        return self._account.document_ids()

    def _map_all(self, only: set[str] | None = None) -> list[Mapped]:
        """Map every object (or those whose documents are in ``only``); one that fails is
        reported with its reason (and kept out of the sweep by the engine)."""
        account = self._account
        ctx = build_context(account.subdomain, account.users.values(), account.teams.values(),
                            account.schedules.values(), account.schedules_v3.values(),
                            account.policies.values(),
                            {s.id: s.description for s in account.services.values()
                             if s.description})
        source = self.connector_id
        mappers: list[tuple[str, Iterable[Any], Callable[[Any], Document]]] = [
            (POLICY_TYPE, account.policies.values(), lambda p: policy_document(p, ctx, source)),
            # v3 before v2: a schedule upgraded during the sync can show up in both listings
            # under one id, and the shift-based version is the current one (the first wins).
            (SCHEDULE_TYPE, account.schedules_v3.values(),
             lambda s: schedule_document(s, ctx, source)),
            (SCHEDULE_TYPE, account.schedules.values(),
             lambda s: schedule_document(s, ctx, source)),
        ]
        out: list[Mapped] = []
        done: set[str] = set()
        for kind, objects, mapper in mappers:
            for obj in objects:
                doc_id = f"{kind}:{obj.id}"
                if doc_id in done or (only is not None and doc_id not in only):
                    continue
                done.add(doc_id)
                try:
                    out.append(Mapped(doc_id, mapper(obj)))
                    continue
                except MappingError as exc:
                    reason = exc.reason
                except Exception as exc:  # one bad object must not stop the rest
                    reason = f"unexpected {type(exc).__name__}: {exc}"
                log.warning("could not map %s: %s", doc_id, reason[:REASON_CHARS])
                out.append(Mapped(doc_id, None, reason[:REASON_CHARS]))
        return out

    # -- deletions --------------------------------------------------------------------------

    async def exists(self, doc_id: str) -> bool:
        kind, _, object_id = doc_id.partition(":")
        try:
            if kind == POLICY_TYPE:
                return await self.client.escalation_policy_exists(object_id)
            if kind == SCHEDULE_TYPE:
                return await self.client.schedule_exists(object_id)
        except PagerDutyError as exc:
            raise SourceError(
                f"Confirming that {doc_id} is gone from PagerDuty failed: {exc}"
            ) from exc
        return False  # no kind this source makes: nothing of ours to keep


async def _collect(what: str, items: AsyncIterator[T], job: JobControl) -> list[T]:
    """Read a whole listing, checking for cancel; a PagerDuty error becomes ``SourceError``."""
    out: list[T] = []
    try:
        async for item in items:
            job.check()
            out.append(item)
            job.reporter.advance()
    except PagerDutyError as exc:
        raise SourceError(f"Listing {what} from PagerDuty failed: {exc}") from exc
    return out
