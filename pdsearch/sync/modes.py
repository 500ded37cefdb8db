"""Which sync runs, and what it leaves for the next one: full or incremental, and the fallbacks.

- **incremental**: from the connector's audit cursor and the objects its last sync kept
  (``store.sync_state``); afterwards the changed objects are kept and the cursor moves, in one
  transaction. When it cannot run (``FullSyncNeeded``: no cursor yet, a cursor older than 31
  days or than the 12 months of records PagerDuty keeps, a record of an unknown kind, a 402 or
  403 from the audit trail) a full sync runs in the same job, and the reason is recorded
  (``progress.fallback``, the job's mode becomes ``full``). A 402/403 also marks incremental
  syncs unavailable for the connector, with the reason, until a full sync can read the trail.
- **full**: first one look at the audit trail (the cursor it leaves; whether incremental syncs
  are available), then the full sync; when it succeeds, everything it read is kept with that
  cursor for the next incremental sync. An account without the teams ability gets no cursor
  (incremental unavailable, with the reason): PagerDuty audits no ability coming back, and the
  teams it would bring need a full read.

State is written only after a sync succeeded: a failed or canceled one leaves the cursor where
it was, so the next incremental sync reads those records again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Final

from pdsearch.index.base import SearchIndex
from pdsearch.pagerduty.client import PagerDutyClient
from pdsearch.store import Cursor, Store
from pdsearch.store.records import Connector
from pdsearch.sync.engine import full_sync
from pdsearch.sync.incremental import incremental_sync
from pdsearch.sync.pagerduty_changes import AuditCursor
from pdsearch.sync.pagerduty_source import PagerDutySource
from pdsearch.sync.progress import SUCCEEDED, JobResult, ProgressCallback
from pdsearch.sync.sink import ConnectorSink
from pdsearch.sync.source import AuditUnavailable, FullSyncNeeded

log = logging.getLogger(__name__)

SYNC_MODES: Final = ("full", "incremental")
NO_TEAMS: Final = (
    "the PagerDuty account lacks the teams ability (402 on /teams), and no audit record says "
    "when it comes back, so every sync reads the whole account"
)


class ModeRunner:
    """Runs one sync of ``connector`` in the mode asked, falling back to full when it must."""

    def __init__(
        self, store: Store, index: SearchIndex, client: PagerDutyClient, connector: Connector,
        vectors_model: str | None = None,
    ) -> None:
        #: The embedding model whose vectors the documents should have (None: none).
        self.vectors_model = vectors_model
        self.store = store
        self.index = index
        self.client = client
        self.connector = connector

    def _sink(self) -> ConnectorSink:
        c = self.connector
        return ConnectorSink(self.index, self.store.connectors, self.store.entities, c.id,
                             c.subdomain, self.store.oncall)

    async def run(
        self,
        mode: str,
        cancel: asyncio.Event,
        progress: ProgressCallback,
        on_fallback: Callable[[str], None],
    ) -> JobResult:
        """The sync's result; its requests are all this job made (a fallback's included)."""
        before = self.client.requests_made
        result = await self._run(mode, cancel, progress, on_fallback)
        return replace(result, requests=self.client.requests_made - before)

    async def _run(
        self,
        mode: str,
        cancel: asyncio.Event,
        progress: ProgressCallback,
        on_fallback: Callable[[str], None],
    ) -> JobResult:
        if mode == "incremental":
            try:
                return await self._incremental(cancel, progress)
            except FullSyncNeeded as exc:
                reason = f"An incremental sync could not run: {exc}. A full sync ran instead."
                log.info("connector %s: %s", self.connector.id, reason)
                if isinstance(exc, AuditUnavailable):
                    self._availability(False, str(exc))
                on_fallback(reason)
        return await self._full(cancel, progress)

    async def _incremental(self, cancel: asyncio.Event, progress: ProgressCallback) -> JobResult:
        c, state_repo = self.connector, self.store.sync_state
        state = state_repo.get(c.id)
        if state.audit_cursor is None and state.incremental_available is False:
            # Said by the last sync's look at the audit trail; the full sync looks again.
            raise FullSyncNeeded(state.incremental_reason or "the audit trail is unavailable")
        cursor = None
        if state.audit_cursor is not None:
            cursor = AuditCursor(state.audit_cursor, tuple(state.seen_records),
                                 state.last_record_at)
        source = PagerDutySource(self.client, c.id, c.subdomain,
                                 kept=lambda: state_repo.objects(c.id, raw=True),
                                 cursor=cursor)
        result = await incremental_sync(source, self._sink(), cancel=cancel,
                                        on_progress=progress, vectors_model=self.vectors_model)
        if result.status == SUCCEEDED and source.cursor is not None:
            changed, removed = source.kept_changes()
            after = source.cursor
            await asyncio.to_thread(state_repo.save_changes, c.id, changed, removed,
                                    Cursor(after.at, after.seen, after.last_record_at))
        return result

    async def _full(self, cancel: asyncio.Event, progress: ProgressCallback) -> JobResult:
        c = self.connector
        source = PagerDutySource(self.client, c.id, c.subdomain)
        try:
            await source.probe_audit()
        except AuditUnavailable as exc:
            self._availability(False, str(exc))
        else:
            if source.cursor is not None:
                self._availability(True, None)
        result = await full_sync(source, self._sink(), cancel=cancel, on_progress=progress,
                                 vectors_model=self.vectors_model)
        if result.status == SUCCEEDED:
            after = source.cursor
            if not source.teams_readable:
                self._availability(False, NO_TEAMS)
                after = None
            cursor = None if after is None else Cursor(after.at, after.seen, after.last_record_at)
            await asyncio.to_thread(self.store.sync_state.save_full, c.id, source.snapshot(),
                                    cursor)
        return result

    def _availability(self, available: bool, reason: str | None) -> None:
        state = self.store.sync_state.get(self.connector.id)
        if (state.incremental_available, state.incremental_reason) != (available, reason):
            self.store.sync_state.set_availability(self.connector.id, available, reason)
