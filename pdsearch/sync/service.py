# Over 500 lines on purpose: a sync job's whole life (claim, run in its mode, heartbeat and
# cancel, on-call refresh, the record at its end) kept together, because each step leans on the
# invariants of the others (one active job per connector, nothing half-written).
"""Sync jobs: start one in the background or run one in the foreground, cancel, shut down.

``SyncService`` owns the job records of the syncs it runs. It guarantees that one connector
never has two syncs at once: within a process by its own registry (checked and claimed without
an ``await`` in between, so concurrent ``start`` calls cannot both pass), and across processes
(the CLI next to a running service) by the store's queued/running job, judged alive by its
heartbeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import httpx

from pdsearch.index.base import SearchIndex
from pdsearch.index.sqlite import SqliteIndexError
from pdsearch.pagerduty.client import PagerDutyClient
from pdsearch.pagerduty.errors import (
    AuthenticationError,
    ConfigurationError,
    OAuthError,
    PagerDutyError,
    ScopeError,
)
from pdsearch.store import ConflictError, Store, StoreError
from pdsearch.store.records import Connector, Job
from pdsearch.sync.connection import (
    ConnectorError,
    MissingCredentialsError,
    client_for,
    explain,
    status_after,
)
from pdsearch.sync.modes import SYNC_MODES, ModeRunner
from pdsearch.sync.oncall import OnCallRefresher, wait_for_refresh
from pdsearch.sync.progress import (
    CANCELED,
    FAILED,
    RUNNING,
    SUCCEEDED,
    JobResult,
    Progress,
    ProgressCallback,
)
from pdsearch.sync.vectors import Embeds, VectorFollower, pending

log = logging.getLogger(__name__)

ClientFactory = Callable[..., PagerDutyClient]

#: A running job writes its progress at least this often, so other processes see it alive.
HEARTBEAT_SECONDS: Final = 15.0
#: How often a running job looks for a cancel asked through the store (from any replica).
CANCEL_POLL_SECONDS: Final = 1.0
#: A queued/running job of another process whose heartbeat is older than this is dead.
STALE_AFTER: Final = timedelta(minutes=2)
#: How long ``cancel`` waits for the engine to stop at a safe point before canceling the task.
CANCEL_GRACE_SECONDS: Final = 2.0

SHUTDOWN_ERROR: Final = "The service stopped during the sync, so the sync was canceled."
CANCELED_ERROR: Final = "The sync was canceled. Nothing was deleted."


class SyncAlreadyRunning(Exception):
    """A sync of this connector is already queued or running (the scheduler, told this type,
    records an overlapping run as skipped)."""

    def __init__(self, connector_id: str, job_id: str, message: str | None = None) -> None:
        super().__init__(
            message
            or f"A sync of this connector is already running (job {job_id}). Wait for it to "
            "finish or cancel it."
        )
        self.connector_id = connector_id
        self.job_id = job_id


@dataclass
class _Running:
    job_id: str
    connector_id: str
    cancel: asyncio.Event
    task: asyncio.Task[Job] | None = None
    progress: Progress = field(default_factory=Progress)
    requests: int = 0
    shutting_down: bool = False
    mode: str = "full"
    fallback: str | None = None  # why an incremental sync ran as a full one
    oncall_error: str | None = None


class SyncService:
    """Runs sync jobs against one store and one index."""

    def __init__(
        self,
        store: Store,
        index: SearchIndex,
        client_factory: ClientFactory = client_for,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        oncall: OnCallRefresher | None = None,
        embedder: Embeds | None = None,
    ) -> None:
        self.store = store
        self.index = index
        self._client_factory = client_factory
        self._transport = transport
        #: Refreshes who is on call at the end of each successful sync, inside its job.
        self.oncall = oncall
        #: Computes the meaning vectors a sync leaves missing; None: keyword search only.
        self.embedder = embedder
        #: Those vectors are computed after the job, while its documents are searchable.
        self.vectors = VectorFollower(index, store.jobs)
        self._running: dict[str, _Running] = {}  # by connector id
        self._claim_lock = threading.RLock()

    # --- public API ----------------------------------------------------------------------

    async def start(
        self, connector_id: str, trigger: str = "manual", mode: str | None = None
    ) -> str:
        """Queue a sync and run it as a background task; returns the job id at once.

        ``mode`` is ``"full"`` or ``"incremental"``; None means incremental where available
        (the audit trail was not refused), else full. An incremental sync that cannot run
        (no cursor yet, a cursor too old, 402/403) runs as a full one and says why."""
        await wait_for_refresh(self.store, connector_id)  # rather than refuse the sync
        run = self._claim(connector_id, trigger, mode)
        run.task = asyncio.create_task(self._execute(run, None), name=f"sync-{run.job_id}")
        return run.job_id

    async def run(
        self,
        connector_id: str,
        trigger: str = "manual",
        on_progress: ProgressCallback | None = None,
        mode: str | None = None,
        wait_for_vectors: bool = True,
    ) -> Job:
        """Run a sync in the foreground and return its finished job record (``mode`` as for
        ``start``). The meaning vectors its documents lack are computed after the job;
        ``wait_for_vectors``: return once they are (the record then says how many)."""
        await wait_for_refresh(self.store, connector_id)  # rather than refuse the sync
        run = self._claim(connector_id, trigger, mode)
        run.task = asyncio.create_task(self._execute(run, on_progress), name=f"sync-{run.job_id}")
        job = await run.task
        if wait_for_vectors:
            job = await self.vectors.settle(connector_id, on_progress) or job
        return job

    def is_running(self, connector_id: str) -> bool:
        return connector_id in self._running

    def running_job_id(self, connector_id: str) -> str | None:
        run = self._running.get(connector_id)
        return run.job_id if run else None

    def cancel(self, job_id: str) -> bool:
        """Ask a queued or running job of this service to stop. False when it is not running
        here (unknown, finished, or run by another process)."""
        run = self._find(job_id)
        if run is None or run.task is None or run.task.done():
            return False
        loop = run.task.get_loop()
        try:
            here = asyncio.get_running_loop() is loop
        except RuntimeError:
            here = False
        if here:
            self._request_cancel(run)
        else:  # called from another thread (a sync web handler): hand it to the job's loop
            loop.call_soon_threadsafe(self._request_cancel, run)
        return True

    async def stop(self, connector_id: str) -> None:
        """Cancel the connector's running sync, if any, and wait until it is recorded (call it
        before removing a connector, so no sync writes documents for it afterwards)."""
        run = self._running.get(connector_id)
        if run is not None and run.task is not None:
            self._request_cancel(run)
            await asyncio.gather(run.task, return_exceptions=True)
        await self.vectors.stop(connector_id)

    async def shutdown(self) -> None:
        """Cancel every running job, wait for each to be recorded as canceled."""
        runs = list(self._running.values())
        for run in runs:
            run.shutting_down = True
            run.cancel.set()
            if run.task is not None:
                run.task.cancel()
        tasks = [r.task for r in runs if r.task is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await self.vectors.shutdown()

    # --- claiming ------------------------------------------------------------------------

    def _claim(self, connector_id: str, trigger: str, mode: str | None) -> _Running:
        """Check nothing runs for the connector and create its job, with no await between."""
        if mode not in (None, *SYNC_MODES):
            raise ValueError(f"mode must be one of {', '.join(SYNC_MODES)}")
        with self._claim_lock:
            current = self._running.get(connector_id)
            if current is not None:
                raise SyncAlreadyRunning(connector_id, current.job_id)
            connector = self.store.connectors.get(connector_id)  # NotFoundError when unknown
            self._check_other_process(connector)
            if mode is None:
                available = self.store.sync_state.get(connector_id).incremental_available
                mode = "full" if available is False else "incremental"
            try:
                job = self.store.jobs.create(connector_id, trigger, mode=mode)
            except ConflictError:
                # Another process or replica claimed the connector since the check above.
                other = self.store.jobs.running(connector_id)
                raise SyncAlreadyRunning(
                    connector_id,
                    other.id if other else "?",
                    f"A sync of connector {connector.name!r} was just started by another "
                    "pdsearch process. Wait for it to finish.",
                ) from None
            run = _Running(job.id, connector_id, asyncio.Event(), mode=mode)
            self._running[connector_id] = run
            return run

    def _check_other_process(self, connector: Connector) -> None:
        other = self.store.jobs.running(connector.id)
        if other is None:
            return
        if live_job(self.store, connector.id) is not None:
            raise SyncAlreadyRunning(
                connector.id,
                other.id,
                f"A sync of connector {connector.name!r} is already running in another pdsearch "
                f"process (job {other.id}). Wait for it to finish.",
            )
        # Its process died without finishing it; say so rather than block forever.
        self.store.jobs.update(
            other.id,
            status=FAILED,
            error="The process running this sync stopped before it finished. Start a new sync.",
        )

    def _find(self, job_id: str) -> _Running | None:
        for run in self._running.values():
            if run.job_id == job_id:
                return run
        return None

    def _request_cancel(self, run: _Running) -> None:
        run.cancel.set()
        task = run.task
        if task is not None and not task.done():
            # The engine stops at its next safe point; a request stuck in retries is cut.
            task.get_loop().call_later(CANCEL_GRACE_SECONDS, task.cancel)

    # --- running -------------------------------------------------------------------------

    async def _execute(self, run: _Running, on_progress: ProgressCallback | None) -> Job:
        heartbeat: asyncio.Task[None] | None = None
        connector: Connector | None = None
        try:
            # The last sync's vectors stop first: none of an old text may land on a document
            # this sync rewrites (what is left, this sync hands on again).
            await self.vectors.stop(run.connector_id)
            connector = self.store.connectors.get(run.connector_id)
            self.store.jobs.update(run.job_id, status=RUNNING, progress=_progress_dict(run))
            client = self._client_factory(
                connector, self.store.connectors, transport=self._transport
            )
            async with client:
                heartbeat = asyncio.create_task(self._heartbeat(run, client))

                def progress(p: Progress) -> None:
                    run.progress = p
                    self._write_progress(run, client)
                    if on_progress is not None:
                        on_progress(p)

                model = self.embedder.model_id if self.embedder is not None else None
                runner = ModeRunner(self.store, self.index, client, connector, model)
                result = await runner.run(run.mode, run.cancel, progress,
                                          lambda reason: self._note_fallback(run, reason))
                if result.status == SUCCEEDED and self.oncall is not None:
                    result = await self._refresh_oncall(run, client, connector, result, progress)
            job = self._finish(run, result, connector)
            if self.embedder is not None:
                self.vectors.follow(job, self.embedder, result.to_embed)
            return job
        except asyncio.CancelledError:
            error = SHUTDOWN_ERROR if run.shutting_down else CANCELED_ERROR
            self._finish_early(run, CANCELED, error)
            if run.shutting_down:
                raise
            # A cancel asked through ``cancel()`` ends the job, not the caller awaiting it.
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            return self.store.jobs.get(run.job_id)
        except (ConnectorError, PagerDutyError) as exc:
            # Unusable settings (no credentials, a stored key that cannot be sent, a base URL
            # that would leak the key): no request was made, and the message says what to
            # change, on the job and on the connector.
            message = str(exc)
            if isinstance(exc, PagerDutyError) and connector is not None:
                message = explain(exc, connector)
                self._set_status(connector, status_after(exc, connector), message)
            elif isinstance(exc, MissingCredentialsError) and connector is not None:
                oauth = connector.auth_type == "oauth2"
                self._set_status(connector, "needs_authorization" if oauth else "error", message)
            return self._finish_early(run, FAILED, message)
        except (OSError, sqlite3.Error, StoreError, SqliteIndexError) as exc:
            log.exception("sync job %s could not write its results", run.job_id)
            return self._finish_early(
                run, FAILED, f"The sync could not write to the data directory: {exc}. Check its "
                "free space and permissions, then sync again."
            )
        except Exception as exc:
            # Our own bug: record it, with no secret in the message.
            log.exception("sync job %s crashed", run.job_id)
            return self._finish_early(
                run, FAILED, f"The sync stopped on an internal error ({type(exc).__name__}). "
                "See the service log for details."
            )
        finally:
            if heartbeat is not None:
                heartbeat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await heartbeat
            self._release(run)

    async def _refresh_oncall(
        self, run: _Running, client: PagerDutyClient, connector: Connector, result: JobResult,
        progress: ProgressCallback,
    ) -> JobResult:
        """A sync ends by refreshing who is on call, inside its own job (the connector is
        claimed already; a refresh job could not run beside it). A failure there is logged and
        noted in the job's progress; the sync itself succeeded."""
        if self.oncall is None:
            return result
        progress(Progress(phase="oncall", counts=result.counts))
        try:
            await self.oncall.refresh_with(client, connector.id)
        except (PagerDutyError, StoreError) as exc:
            log.warning("on-call refresh after sync %s failed: %s", run.job_id, exc)
            run.oncall_error = f"The on-call refresh after the sync failed: {exc}"
        return dataclasses.replace(result, requests=client.requests_made)

    async def _heartbeat(self, run: _Running, client: PagerDutyClient) -> None:
        """Show life every ``HEARTBEAT_SECONDS``, and stop the job when any process (another
        replica, the CLI) asked the store to cancel it."""
        last_beat = asyncio.get_running_loop().time()
        while True:
            await asyncio.sleep(CANCEL_POLL_SECONDS)
            try:
                if not run.cancel.is_set() and self.store.jobs.cancel_requested(run.job_id):
                    self._request_cancel(run)
            except StoreError:
                log.warning("could not read the cancel request of job %s", run.job_id,
                            exc_info=True)
            now = asyncio.get_running_loop().time()
            if now - last_beat >= HEARTBEAT_SECONDS:
                last_beat = now
                self._write_progress(run, client)

    def _write_progress(self, run: _Running, client: PagerDutyClient) -> None:
        run.requests = client.requests_made
        try:
            self.store.jobs.update(
                run.job_id,
                progress=_progress_dict(run),
                counts=run.progress.counts.as_dict(),
                requests=run.requests,
            )
        except Exception:  # a progress write must never break the sync
            log.warning("could not record progress of job %s", run.job_id, exc_info=True)

    def _note_fallback(self, run: _Running, reason: str) -> None:
        """An incremental sync runs as a full one: say so in the job at once."""
        run.mode, run.fallback = "full", reason
        try:
            self.store.jobs.update(run.job_id, mode="full", progress=_progress_dict(run))
        except StoreError:
            log.warning("could not record the fallback of job %s", run.job_id, exc_info=True)

    def _record_end(self, run: _Running, **fields: Any) -> Job:
        """Write the job's final state and let go of the connector in one step, under the claim
        lock: whoever sees the job finished in the store can start the next sync at once."""
        with self._claim_lock:
            try:
                return self.store.jobs.update(run.job_id, **fields)
            finally:
                self._release(run)

    def _release(self, run: _Running) -> None:
        with self._claim_lock:
            if self._running.get(run.connector_id) is run:  # not a newer run of it
                del self._running[run.connector_id]

    def _finish(self, run: _Running, result: JobResult, connector: Connector) -> Job:
        self._reflect_on_connector(result, connector)
        return self._record_end(
            run,
            status=result.status,
            counts=result.counts.as_dict(),
            failures=[f.as_dict() for f in result.failures],
            requests=result.requests,
            error=result.error,
            progress={**_progress_dict(run), "swept": result.swept,
                      "duration_seconds": round(result.duration_seconds, 3),
                      **({"oncall_error": run.oncall_error} if run.oncall_error else {}),
                      **self._vectors_to_follow(result)},
        )

    def _vectors_to_follow(self, result: JobResult) -> dict[str, Any]:
        """The follow-up's first report, written with the job's end: no reader ever sees the
        job finished and its vectors not yet started."""
        if self.embedder is None or not self.vectors.will_follow(result.to_embed):
            return {}
        return {"vectors": pending(len(result.to_embed))}

    def _reflect_on_connector(self, result: JobResult, connector: Connector) -> None:
        """A sync proves or disproves the credentials: show it on the connector."""
        cause = result.cause
        if isinstance(cause, AuthenticationError | ScopeError | OAuthError | ConfigurationError):
            self._set_status(connector, status_after(cause, connector), explain(cause, connector))
        elif result.status == SUCCEEDED and connector.status != "connected":
            self._set_status(connector, "connected", None)

    def _set_status(self, connector: Connector, status: str, error: str | None) -> None:
        try:
            self.store.connectors.set_status(connector.id, status, error=error)
        except StoreError:
            log.warning("could not update the status of connector %s", connector.id)

    def _finish_early(self, run: _Running, status: str, error: str) -> Job:
        fields: dict[str, Any] = {
            "status": status,
            "error": error,
            "counts": run.progress.counts.as_dict(),
            "requests": run.requests,
            "progress": {**_progress_dict(run), "swept": False},
        }
        try:
            return self._record_end(run, **fields)
        except StoreError:
            # The connector (and its jobs) was removed meanwhile: report the outcome anyway.
            log.info("job %s of a removed connector ended: %s", run.job_id, status)
            now = datetime.now(UTC)
            return Job(
                id=run.job_id, connector_id=run.connector_id, status=status, trigger="manual",
                counts=fields["counts"], requests=run.requests, error=error,
                progress=fields["progress"], started_at=now, finished_at=now,
            )


def _progress_dict(run: _Running) -> dict[str, Any]:
    data = run.progress.as_dict()
    data.pop("counts", None)
    data["updated_at"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    # Who runs it: another process on this machine can tell at once that a killed sync is dead
    # (SIGKILL, OOM) instead of waiting STALE_AFTER for its heartbeat to age.
    data["pid"] = os.getpid()
    data["host"] = socket.gethostname()
    if run.fallback is not None:
        data["fallback"] = run.fallback
    return data


def live_job(store: Store, connector_id: str) -> Job | None:
    """The connector's queued or running job if its process still shows life, else None.

    For callers outside a ``SyncService`` (the CLI removing a connector) that must not act
    while a sync of another process writes.
    """
    job = store.jobs.running(connector_id)
    if job is None or _heartbeat(job) <= datetime.now(UTC) - STALE_AFTER or _owner_gone(job):
        return None
    return job


def running_elsewhere(job: Job) -> bool:
    """True when another process, on this machine or another, may be running ``job`` right now:
    its heartbeat is fresh and, when it runs on this machine, its process exists. A service
    starting next to a CLI sync, or beside other replicas on other machines, must leave such a
    job alone rather than mark it interrupted; a job whose heartbeat has gone stale (over
    ``STALE_AFTER``) or whose process on this machine is gone is not spared."""
    progress = job.progress if isinstance(job.progress, dict) else {}
    pid, host = progress.get("pid"), progress.get("host")
    if not isinstance(pid, int) or pid <= 0 or not isinstance(host, str):
        return False
    if host == socket.gethostname() and pid == os.getpid():
        return False
    if _heartbeat(job) <= datetime.now(UTC) - STALE_AFTER:
        return False
    return not _owner_gone(job)


def _owner_gone(job: Job) -> bool:
    """True when the job's process ran on this machine and no longer exists."""
    progress = job.progress if isinstance(job.progress, dict) else {}
    pid, host = progress.get("pid"), progress.get("host")
    if not isinstance(pid, int) or pid <= 0 or host != socket.gethostname():
        return False
    if pid == os.getpid():
        return False  # this process: the caller's own registry decides
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # exists, owned by someone else
    return False


def _heartbeat(job: Job) -> datetime:
    """When a job last showed life: its progress stamp, else its start, else its creation."""
    stamp = job.progress.get("updated_at") if isinstance(job.progress, dict) else None
    if isinstance(stamp, str):
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return job.started_at or job.created_at

