"""Refreshing who is on call: a cheap job of its own (mode ``oncall``), beside the syncs.

**A full read** of the connector's indexed policies and schedules over the window from now to
``window_days`` ahead (docs/BENCHMARKS.md has the request counts):

1. ``GET /oncalls`` with ``include[]=users``: every policy's on-calls at each level, and the
   shifts of every schedule a policy uses, 100 rows a request;
2. ``GET /schedules/{id}`` (or ``/v3/schedules/{id}``) for each indexed schedule the listing did
   not show: those no policy uses (PagerDuty leaves them out of ``/oncalls``), and those with
   nobody on call all window. One request each;
3. ``GET /users/{id}`` only for a user those renders name whom the last sync did not list.

A refresh (periodic, or the one that ends every sync) makes one when there is no stored
window, when a day of it has passed (``FULL_READ_AFTER``), or when the account has no audit
trail.

**Otherwise a refresh reads what changed**: the audit records of schedules and policies since
the last refresh (overrides are recorded as updates of their schedule), one request when
nothing changed; then, over the stored window, ``/oncalls`` filtered to the changed policies
and to every policy whose stored on-calls go through a changed schedule, and a render of a
changed schedule no such policy shows. Those rows replace theirs in place
(``store.oncall.replace_part``). So an override shows at the next refresh, within one interval.

It reads nothing the sync's scopes do not cover (``schedules.read``, ``escalation_policies.read``,
``users.read``; ``audit_records.read`` only where the sync uses it too, else a full read).
``/oncalls`` itself needs ``oncalls.read``: a credential without it (a scoped OAuth app not
granted it) gets the same answers composed from the policies' rules and each schedule rendered
(``oncall_read.py``: one request a schedule instead of one per 100 on-calls). A
schedule PagerDuty cannot render is stored as unknown, so its answer is null, not "nobody".

**A refresh and a sync.** Both are jobs of one connector, and the store lets one connector have
one queued or running job (its unique index): a refresh that finds a sync (or another refresh)
running is skipped without a record, since the sync refreshes at its end, inside its own job
(``SyncService`` calls ``refresh_with`` with the sync's client once the documents are written:
the on-call phase of its progress, its requests counted in the sync's; new policies and
schedules are in the audit trail, so a sync too reads only what changed, or everything the
first time). A sync
asked for while a refresh runs waits for it to end (``wait_for_refresh``: a refresh takes a
second or two), then starts.

**When.** ``refresh_due()`` (the scheduler calls it every minute) refreshes each connector whose
last refresh is older than ``interval_minutes``, or whose window needs a full read (a service
that was down). ``interval_minutes`` 0 turns both off; syncs still refresh at their end.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import httpx

from pdsearch.index.base import SearchIndex
from pdsearch.pagerduty.client import PagerDutyClient
from pdsearch.pagerduty.errors import (
    PagerDutyError,
)
from pdsearch.store import (
    ConflictError,
    Connector,
    Job,
    OnCallWindow,
    Store,
    StoreError,
)
from pdsearch.store.records import iso
from pdsearch.sync.connection import ConnectorError, client_for, explain
from pdsearch.sync.oncall_read import SCHEDULE, OnCallRead, changes_since, read_oncall

log = logging.getLogger(__name__)

ClientFactory = Callable[..., PagerDutyClient]

DEFAULT_WINDOW_DAYS: Final = 7
#: A whole window is read again once this much of it has passed (and the first time);
#: between, a refresh reads only what the audit trail says changed.
FULL_READ_AFTER: Final = timedelta(days=1)
DEFAULT_INTERVAL_MINUTES: Final = 10
POLICY: Final = "escalation_policy:"
#: Connector statuses whose account cannot be read now: no refresh is tried.
_NOT_READABLE: Final = ("new", "needs_authorization", "removing")


async def wait_for_refresh(store: Store, connector_id: str, seconds: float = 30.0) -> None:
    """Until no on-call refresh of the connector runs (``seconds`` at most): a sync asked for
    meanwhile waits the second or two it takes rather than being refused."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        job = store.jobs.running(connector_id)
        if job is None or job.mode != "oncall":
            return
        await asyncio.sleep(0.05)


def document_ids(index: SearchIndex, connector_id: str) -> tuple[list[str], list[str]]:
    """The PagerDuty ids of the connector's indexed schedules and policies."""
    schedules, policies = [], []
    for doc_id in index.hashes(connector_id):
        if doc_id.startswith(SCHEDULE):
            schedules.append(doc_id[len(SCHEDULE):])
        elif doc_id.startswith(POLICY):
            policies.append(doc_id[len(POLICY):])
    return sorted(schedules), sorted(policies)


class OnCallRefresher:
    """Refreshes connectors' on-call data as jobs of mode ``oncall``."""

    def __init__(
        self,
        store: Store,
        index: SearchIndex,
        client_factory: ClientFactory = client_for,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        window_days: int = DEFAULT_WINDOW_DAYS,
        interval_minutes: int = DEFAULT_INTERVAL_MINUTES,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if not 1 <= window_days <= 90:
            raise ValueError("window_days must be 1 to 90 (PagerDuty's bound on /oncalls)")
        self.store = store
        self.index = index
        self.client_factory = client_factory
        self.transport = transport
        self.window = timedelta(days=window_days)
        self.interval = timedelta(minutes=interval_minutes)
        self.clock = clock or (lambda: datetime.now(UTC))

    def due(self, connector_id: str, now: datetime | None = None) -> bool:
        """True when the connector's on-call data is older than the interval, or its window
        reaches less than half its length ahead."""
        if not self.interval:
            return False
        now = now or self.clock()
        window = self.store.oncall.window(connector_id)
        if window is None:
            return True
        return now - window.refreshed_at >= self.interval or not self._keeps(window, now)

    def _keeps(self, window: OnCallWindow, now: datetime) -> bool:
        """Whether the stored window still reaches far enough ahead to be updated in place
        (else the whole window is read again)."""
        full_after = min(FULL_READ_AFTER, self.window / 2)
        return window.since <= now and window.until - now >= self.window - full_after

    async def refresh_due(self) -> list[Job]:
        """Refresh every readable connector that is due; the jobs that ran."""
        ran: list[Job] = []
        connectors, _ = self.store.connectors.list(limit=100_000)
        for connector in connectors:
            if connector.status in _NOT_READABLE or not self.due(connector.id):
                continue
            job = await self.refresh(connector.id, "scheduled")
            if job is not None:
                ran.append(job)
        return ran

    async def refresh(self, connector_id: str, trigger: str = "manual") -> Job | None:
        """Read and store who is on call now as a job; None when skipped (another job of the
        connector is active, or it has no documents yet)."""
        connector = self.store.connectors.get(connector_id)
        schedules, policies = document_ids(self.index, connector_id)
        if not schedules and not policies:
            return None
        try:
            job = self.store.jobs.create(connector_id, trigger, status="running", mode="oncall")
        except ConflictError:
            log.info("on-call refresh of connector %s skipped: a job of it is running",
                     connector_id)
            return None
        since = self.clock().replace(microsecond=0)
        until = since + self.window
        self.store.jobs.update(job.id, progress=_progress("oncall", since, until))
        requests = 0
        try:
            client = self.client_factory(connector, self.store.connectors,
                                         transport=self.transport)
            async with client:
                try:
                    read, how = await self.refresh_with(client, connector_id, since)
                finally:
                    requests = client.requests_made
        except (ConnectorError, PagerDutyError, StoreError, OSError) as exc:
            return self._end(job, connector, requests, since, until, exc)
        except Exception as exc:
            log.exception("on-call refresh of connector %s crashed", connector_id)
            return self._end(job, connector, requests, since, until, exc)
        failures = [{"id": doc, "reason": "PagerDuty could not render this schedule."}
                    for doc in read.unknown]
        return self.store.jobs.update(
            job.id, status="succeeded", requests=requests, failures=failures,
            progress={**_progress("done", since, until), "shifts": len(read.shifts),
                      "read": how},
        )

    async def refresh_with(
        self, client: PagerDutyClient, connector_id: str, since: datetime | None = None
    ) -> tuple[OnCallRead, str]:
        """Read what changed since the last refresh (``"changes"``), or the whole window
        (``"full"``) when the window needs renewing or there is no audit trail, with
        ``client``, and store it (no job: a sync calls this inside its own)."""
        since = since or self.clock().replace(microsecond=0)
        window = self.store.oncall.window(connector_id)
        if window is not None and self._keeps(window, self.clock()):
            before = client.requests_made
            changes = await changes_since(client, window.refreshed_at)
            if changes is not None:
                read = await self._update(client, connector_id, window, *changes, before=before)
                return read, "changes"
        return await self.read_and_store(client, connector_id, since), "full"

    async def _update(
        self, client: PagerDutyClient, connector_id: str, window: OnCallWindow,
        schedules_changed: set[str], policies_changed: set[str], *, before: int,
    ) -> OnCallRead:
        """Read again, over the stored window, the changed schedules and every policy whose
        stored on-calls go through one of them, and the changed policies; store them in place
        (``before``: the client's request count when the refresh began)."""
        indexed_schedules, indexed_policies = map(set, document_ids(self.index, connector_id))
        # Documents the stored data says nothing of are read too: indexed since the last
        # refresh (their creation may be in an audit record an earlier refresh already passed,
        # when they were not indexed yet), or with nobody on call all window.
        have_schedules, have_policies = self.store.oncall.covered(connector_id)
        schedules = (schedules_changed | (indexed_schedules - have_schedules)) & indexed_schedules
        policies = (
            policies_changed
            | self.store.oncall.policies_using(connector_id, schedules)
            | (indexed_policies - have_policies)
        ) & indexed_policies
        read = OnCallRead()
        if schedules or policies:
            people = self.store.oncall.people(connector_id)
            read = await read_oncall(client, sorted(schedules), sorted(policies), window.since,
                                     window.until, people, only=True)
        self.store.oncall.replace_part(
            connector_id, policies, schedules, read.shifts, unknown=read.unknown,
            requests=client.requests_made - before, refreshed_at=self.clock(),
        )
        return read

    async def read_and_store(
        self, client: PagerDutyClient, connector_id: str, since: datetime | None = None
    ) -> OnCallRead:
        """Read who is on call for the connector's indexed documents with ``client`` and
        replace its stored shifts (no job: a sync calls this inside its own). PagerDuty's and
        the store's errors propagate, and the stored shifts stay as they were."""
        since = since or self.clock().replace(microsecond=0)
        until = since + self.window
        schedules, policies = document_ids(self.index, connector_id)
        before = client.requests_made
        people = self.store.oncall.people(connector_id)
        read = await read_oncall(client, schedules, policies, since, until, people)
        self.store.oncall.replace(
            connector_id, read.shifts, since, until, requests=client.requests_made - before,
            unknown=read.unknown, refreshed_at=self.clock(),
        )
        return read

    def _end(
        self, job: Job, connector: Connector, requests: int, since: datetime, until: datetime,
        exc: Exception,
    ) -> Job | None:
        if isinstance(exc, PagerDutyError):
            message = f"The on-call refresh failed: {explain(exc, connector)}"
        elif isinstance(exc, ConnectorError | StoreError | OSError):
            message = f"The on-call refresh failed: {exc}"
        else:
            message = (f"The on-call refresh stopped on an internal error "
                       f"({type(exc).__name__}). See the service log for details.")
        log.warning("on-call refresh of connector %s failed: %s", connector.id, message)
        try:
            return self.store.jobs.update(
                job.id, status="failed", error=message, requests=requests,
                progress=_progress("failed", since, until),
            )
        except StoreError:  # the connector was removed meanwhile
            return None


def _progress(phase: str, since: datetime, until: datetime) -> dict[str, Any]:
    return {
        "phase": phase,
        "since": iso(since),
        "until": iso(until),
        "updated_at": iso(datetime.now(UTC)),
        "pid": os.getpid(),
        "host": socket.gethostname(),
    }
