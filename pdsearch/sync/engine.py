"""The full sync: identity, then content, then (only after a complete listing) the sweep.

A full sync is mark-and-sweep (DESIGN.md 3.6):

1. identity: teams and users (``include[]=teams``) → permission entities, replaced in the store
   on every sync, so a user removed from a team loses access;
2. content: escalation policies and schedules (v2 listed with their layers, v3 listed as
   references then read one by one, concurrently within the client's limits);
3. mapping and indexing: each object becomes a ``Document``; only those whose content hash
   changed are written, in batches, so a canceled sync leaves whole batches behind;
4. the sweep: documents PagerDuty no longer has are deleted, but only when every listing
   completed and the job was not canceled, and each only once a GET by id confirmed its object
   is gone (paged listings can miss an object edited meanwhile). A failed listing deletes
   nothing.

The engine contains no SQL and no HTTP: it talks to the client, the index and the store through
their interfaces.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from pdsearch.documents import MappingError, build_context, policy_document, schedule_document
from pdsearch.index.base import Document, SearchIndex
from pdsearch.pagerduty.client import PagerDutyClient
from pdsearch.pagerduty.errors import (
    AbilityError,
    NotFoundError,
    PagerDutyError,
)
from pdsearch.pagerduty.models import (
    EscalationPolicy,
    Schedule,
    ScheduleV3,
    Team,
    TeamMember,
    User,
)
from pdsearch.permissions import derive_entities
from pdsearch.sync.progress import (
    CANCELED,
    FAILED,
    SUCCEEDED,
    JobResult,
    ProgressCallback,
    ProgressReporter,
    SyncCounts,
    SyncFailure,
)

log = logging.getLogger(__name__)

#: Documents written per index call; a cancel takes effect between batches.
BATCH_SIZE = 200
#: v3 schedule details read at once; the client's own semaphore caps requests in flight.
V3_CONCURRENCY = 8

T = TypeVar("T")
R = TypeVar("R")


class SyncCanceled(Exception):
    """Raised inside the engine when the job's cancel event is set."""


class ListingFailed(Exception):
    """A PagerDuty listing did not complete; the message says which one and why."""


class EntityStore(Protocol):
    """The part of ``pdsearch.store.Store`` the engine needs."""

    def replace_derived_entities(self, connector_id: str, entities: Sequence[Any]) -> None: ...

    def update_connector(self, connector_id: str, **changes: Any) -> Any: ...


class SyncConnector(Protocol):
    """The part of ``pdsearch.store.Connector`` the engine needs."""

    @property
    def id(self) -> str: ...

    @property
    def subdomain(self) -> str | None: ...


@dataclass
class _Snapshot:
    """Everything one sync read from PagerDuty."""

    subdomain: str = ""
    users: list[User] = field(default_factory=list)
    teams: list[Team] = field(default_factory=list)
    policies: list[EscalationPolicy] = field(default_factory=list)
    schedules: list[Schedule] = field(default_factory=list)
    schedules_v3: list[ScheduleV3] = field(default_factory=list)


class _Job:
    """State of one running sync: cancellation, progress and counts."""

    def __init__(
        self,
        cancel: asyncio.Event | None,
        on_progress: ProgressCallback | None,
        progress_interval: float,
    ) -> None:
        self.cancel = cancel if cancel is not None else asyncio.Event()
        self.reporter = ProgressReporter(on_progress, progress_interval)
        self.counts = self.reporter.progress.counts
        self.failures: list[SyncFailure] = []

    def check(self) -> None:
        if self.cancel.is_set():
            raise SyncCanceled()

    def fail(self, object_id: str, reason: str) -> None:
        self.failures.append(SyncFailure(object_id, reason))
        self.counts.failed += 1


async def full_sync(
    client: PagerDutyClient,
    index: SearchIndex,
    store: EntityStore,
    connector: SyncConnector,
    *,
    cancel: asyncio.Event | None = None,
    on_progress: ProgressCallback | None = None,
    progress_interval: float = 0.5,
) -> JobResult:
    """Run one full sync of ``connector`` into ``index`` and return its result.

    Never raises for PagerDuty errors or a cancel: they become a ``failed`` or ``canceled``
    result. ``asyncio.CancelledError`` (the task itself canceled) propagates after the index
    has been left consistent, so the caller can record the job as canceled. ``on_progress`` is
    called on every phase change and at most every ``progress_interval`` seconds otherwise.
    """
    job = _Job(cancel, on_progress, progress_interval)
    started = time.monotonic()
    requests_before = client.requests_made
    status, error, swept = SUCCEEDED, None, False
    cause: BaseException | None = None
    try:
        job.check()  # canceled while still queued
        snapshot = _Snapshot()
        await _read_identity(client, store, connector, snapshot, job)
        await _read_content(client, snapshot, job)
        # Mapping and index writes are CPU and disk work: a worker thread keeps the event loop
        # (the web service, other syncs) responsive. Cancel is still seen between batches.
        seen = await _in_thread(job, _index_content, index, connector.id, snapshot, job)
        job.check()
        await _keep_what_still_exists(client, index, connector.id, seen, job)
        await _in_thread(job, _sweep, index, connector.id, seen, job)
        swept = True
    except SyncCanceled:
        status, error = CANCELED, "The sync was canceled. Nothing was deleted."
    except ListingFailed as exc:
        status, cause = FAILED, exc.__cause__
        # A failure after indexing (confirming deletions) leaves the changes it wrote: say so.
        written = job.counts.added + job.counts.updated
        kept = (
            f"the {written} changed documents read before it were written"
            if written
            else "the index keeps its previous documents"
        )
        error = f"{exc} Nothing was deleted; {kept}."
    finally:
        job.reporter.flush()
    result = JobResult(
        status=status,
        counts=job.counts,
        failures=job.failures,
        requests=client.requests_made - requests_before,
        duration_seconds=time.monotonic() - started,
        error=error,
        swept=swept,
        cause=cause,
    )
    log.info(
        "sync of connector %s %s: %s, %d requests",
        connector.id,
        status,
        result.counts.as_dict(),
        result.requests,
    )
    return result


async def _in_thread(job: _Job, func: Callable[..., R], *args: Any) -> R:
    """``func(*args)`` in a worker thread, never outliving the task that awaits it.

    A thread cannot be interrupted: when the task is canceled, the job's cancel event makes the
    thread stop at its next check (between batches, before the sweep), and the task waits for
    it, so no write of this sync lands after its job was recorded as ended.
    """
    future = asyncio.get_running_loop().run_in_executor(None, functools.partial(func, *args))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        job.cancel.set()
        with contextlib.suppress(BaseException):
            await future
        raise


async def _collect(what: str, items: AsyncIterator[T], job: _Job) -> list[T]:
    """Read a whole listing, checking for cancel; a PagerDuty error becomes ``ListingFailed``."""
    out: list[T] = []
    try:
        async for item in items:
            job.check()
            out.append(item)
            job.reporter.advance()
    except PagerDutyError as exc:
        raise ListingFailed(f"Listing {what} from PagerDuty failed: {exc}") from exc
    return out


async def _read_identity(
    client: PagerDutyClient,
    store: EntityStore,
    connector: SyncConnector,
    snapshot: _Snapshot,
    job: _Job,
) -> None:
    job.reporter.phase("identity")
    try:
        snapshot.teams = await _collect("teams", client.teams(), job)
    except ListingFailed as exc:
        # An account without the "teams" ability answers 402: it simply has no teams.
        if not isinstance(exc.__cause__, AbilityError):
            raise
        snapshot.teams = []
    job.check()
    snapshot.users = await _collect("users", client.users(include_teams=True), job)
    job.check()
    memberships = await _memberships_if_needed(client, snapshot, job)
    subdomain = connector.subdomain
    if not subdomain:
        try:  # after the listings: their objects' web addresses tell it without a request
            subdomain = await client.subdomain()
        except PagerDutyError as exc:
            raise ListingFailed(f"Reading the PagerDuty account failed: {exc}") from exc
        store.update_connector(connector.id, subdomain=subdomain)
    snapshot.subdomain = subdomain

    def replace_entities() -> None:
        entities = derive_entities(subdomain, snapshot.users, snapshot.teams, memberships)
        store.replace_derived_entities(connector.id, entities)

    await _in_thread(job, replace_entities)


async def _memberships_if_needed(
    client: PagerDutyClient, snapshot: _Snapshot, job: _Job
) -> dict[str, list[TeamMember]] | None:
    """Team member listings, read only when the users listing did not carry teams.

    ``include[]=teams`` on the users listing normally gives every membership at no extra cost;
    a user listing where nobody has a team while teams exist means the include was not honoured
    (a restricted token, an older API), and then each team's members are read instead.
    """
    if not snapshot.teams or any(user.teams for user in snapshot.users):
        return None
    memberships: dict[str, list[TeamMember]] = {}
    for team in snapshot.teams:
        job.check()
        memberships[team.id] = await _collect(
            f"members of team {team.name or team.id}", client.team_members(team.id), job
        )
    return memberships


async def _read_content(client: PagerDutyClient, snapshot: _Snapshot, job: _Job) -> None:
    """Policies, layer-based schedules and shift-based ones, read side by side (the client
    keeps the requests in flight and their rate within its limits)."""
    job.reporter.phase("policies")

    async def policies() -> None:
        listing = client.escalation_policies()
        snapshot.policies = await _collect("escalation policies", listing, job)
        job.reporter.phase("schedules")  # what is left to read

    async def schedules() -> None:
        snapshot.schedules = await _collect("schedules", client.schedules(), job)

    async def shift_based() -> None:
        refs = await _collect("shift-based (v3) schedules", client.schedule_v3_refs(), job)
        snapshot.schedules_v3 = await _read_v3_details([ref.id for ref in refs], client, job)

    await _all_or_first_error(policies(), schedules(), shift_based())


async def _all_or_first_error(*jobs: Coroutine[Any, Any, None]) -> None:
    """Run ``jobs`` concurrently; the first failure stops the rest and is raised as itself (a
    cancel before a listing failure, so a cancel never reads as a failure)."""
    try:
        async with asyncio.TaskGroup() as group:
            for coro in jobs:
                group.create_task(coro)
    except BaseExceptionGroup as group_error:
        for kind in (SyncCanceled, ListingFailed):
            for exc in _leaves(group_error):
                if isinstance(exc, kind):
                    raise exc from exc.__cause__  # the PagerDuty error behind it
        raise


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        out.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return out


async def _read_v3_details(ids: list[str], client: PagerDutyClient, job: _Job) -> list[ScheduleV3]:
    """Read every v3 schedule's detail, a few at a time, keeping the listing's order."""
    results: dict[str, ScheduleV3] = {}
    gate = asyncio.Semaphore(V3_CONCURRENCY)

    async def read_one(schedule_id: str) -> None:
        async with gate:
            job.check()
            try:
                results[schedule_id] = await client.schedule_v3(schedule_id)
            except NotFoundError:
                # Deleted between the listing and the read: it is gone, the sweep removes it.
                log.info("v3 schedule %s disappeared during the sync", schedule_id)
            except PagerDutyError as exc:
                raise ListingFailed(
                    f"Reading shift-based schedule {schedule_id} from PagerDuty failed: {exc}"
                ) from exc
            job.reporter.advance()

    await _all_or_first_error(*(read_one(i) for i in ids))
    return [results[i] for i in ids if i in results]


def _map_all(snapshot: _Snapshot, source: str, job: _Job) -> list[tuple[str, Document | None]]:
    """Map every object; an object that fails is recorded as failed and kept out of the sweep."""
    ctx = build_context(
        snapshot.subdomain,
        snapshot.users,
        snapshot.teams,
        snapshot.schedules,
        snapshot.schedules_v3,
        snapshot.policies,
    )
    out: list[tuple[str, Document | None]] = []
    mappers: list[tuple[str, Sequence[Any], Callable[[Any], Document]]] = [
        ("escalation_policy", snapshot.policies, lambda p: policy_document(p, ctx, source)),
        # v3 before v2: a schedule upgraded during the sync can show up in both listings under
        # one id, and the shift-based version is the current one (the first seen wins).
        ("schedule", snapshot.schedules_v3, lambda s: schedule_document(s, ctx, source)),
        ("schedule", snapshot.schedules, lambda s: schedule_document(s, ctx, source)),
    ]
    done: set[str] = set()
    for kind, objects, mapper in mappers:
        for obj in objects:
            doc_id = f"{kind}:{obj.id}"
            if doc_id in done:
                continue
            done.add(doc_id)
            try:
                out.append((doc_id, mapper(obj)))
                continue
            except MappingError as exc:
                reason = exc.reason
            except Exception as exc:  # one bad object must not stop the rest
                reason = f"unexpected {type(exc).__name__}: {exc}"
            log.warning("could not map %s: %s", doc_id, reason[:300])
            job.fail(doc_id, reason[:300])
            out.append((doc_id, None))
    return out


def _index_content(index: SearchIndex, source: str, snapshot: _Snapshot, job: _Job) -> set[str]:
    """Write what changed, batch by batch; return every document id PagerDuty still has."""
    total = len(snapshot.policies) + len(snapshot.schedules) + len(snapshot.schedules_v3)
    job.reporter.phase("indexing", total=total)
    mapped = _map_all(snapshot, source, job)
    existing = index.hashes(source)
    seen: set[str] = set()
    batch: list[Document] = []
    pending = SyncCounts()
    for doc_id, doc in mapped:
        seen.add(doc_id)
        if doc is None:
            job.reporter.advance()
            continue
        old_hash = existing.get(doc_id)
        if old_hash == doc.content_hash:
            job.counts.unchanged += 1
            job.reporter.advance()
            continue
        batch.append(doc)
        if old_hash is None:
            pending.added += 1
        else:
            pending.updated += 1
        if len(batch) >= BATCH_SIZE:
            _write_batch(index, batch, pending, job)
            batch, pending = [], SyncCounts()
    _write_batch(index, batch, pending, job)
    return seen


def _write_batch(index: SearchIndex, batch: list[Document], pending: SyncCounts, job: _Job) -> None:
    """One batch goes in whole; counts move only once it did, so they match the index."""
    job.check()
    if not batch:
        return
    index.upsert(batch)
    job.counts.added += pending.added
    job.counts.updated += pending.updated
    job.reporter.advance(len(batch))


async def _keep_what_still_exists(
    client: PagerDutyClient, index: SearchIndex, source: str, seen: set[str], job: _Job
) -> None:
    """Delete a document only once PagerDuty confirms its object is gone.

    Offset paging over a name-sorted listing is no snapshot: an object deleted or renamed (by
    another admin) while the listing is paged shifts the pages, and an object that still exists
    can then be served by no page at all. Each sweep candidate is confirmed with a GET by id
    (404 = gone); one that still exists is kept, reported as a failure of this sync, and read
    again by the next. A confirmation that fails fails the job, so nothing is deleted.
    """
    candidates = await _in_thread(job, lambda: sorted(set(index.hashes(source)) - seen))
    if not candidates:
        return
    job.reporter.phase("deleting", total=len(candidates))
    gate = asyncio.Semaphore(V3_CONCURRENCY)

    async def confirm(doc_id: str) -> None:
        async with gate:
            job.check()
            try:
                alive = await _still_exists(client, doc_id)
            except PagerDutyError as exc:
                raise ListingFailed(
                    f"Confirming that {doc_id} is gone from PagerDuty failed: {exc}"
                ) from exc
        if alive:
            seen.add(doc_id)
            log.warning("%s was missing from PagerDuty's listing but still exists; kept", doc_id)
            job.fail(doc_id, "missing from PagerDuty's listing although it still exists (the "
                     "account changed during the sync); kept, and read again by the next sync")

    await _all_or_first_error(*(confirm(doc_id) for doc_id in candidates))


async def _still_exists(client: PagerDutyClient, doc_id: str) -> bool:
    kind, _, object_id = doc_id.partition(":")
    if kind == "escalation_policy":
        return await client.escalation_policy_exists(object_id)
    if kind == "schedule":
        return await client.schedule_exists(object_id)
    return False  # no kind pdsearch makes


def _sweep(index: SearchIndex, source: str, seen: set[str], job: _Job) -> None:
    job.check()  # the last moment a cancel can stop deletions
    gone = sorted(set(index.hashes(source)) - seen)
    job.reporter.phase("deleting", total=len(gone))
    if gone:
        index.delete(gone)
    job.counts.deleted = len(gone)
    job.reporter.advance(len(gone))
