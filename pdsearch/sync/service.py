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

from pdsearch import scheduler
from pdsearch.index.base import SearchIndex
from pdsearch.index.sqlite import SqliteIndexError
from pdsearch.pagerduty.client import PagerDutyClient
from pdsearch.pagerduty.errors import AuthenticationError, OAuthError, PagerDutyError, ScopeError
from pdsearch.store import Store, StoreError
from pdsearch.store.records import Connector, Job
from pdsearch.sync.connection import ConnectorError, client_for, explain, status_after
from pdsearch.sync.engine import full_sync
from pdsearch.sync.progress import (
    CANCELED,
    FAILED,
    RUNNING,
    SUCCEEDED,
    JobResult,
    Progress,
    ProgressCallback,
)

log = logging.getLogger(__name__)

ClientFactory = Callable[..., PagerDutyClient]

#: A running job writes its progress at least this often, so other processes see it alive.
HEARTBEAT_SECONDS: Final = 15.0
#: A queued/running job of another process whose heartbeat is older than this is dead.
STALE_AFTER: Final = timedelta(minutes=2)
#: How long ``cancel`` waits for the engine to stop at a safe point before canceling the task.
CANCEL_GRACE_SECONDS: Final = 2.0

SHUTDOWN_ERROR: Final = "The service stopped during the sync, so the sync was canceled."
CANCELED_ERROR: Final = "The sync was canceled. Nothing was deleted."


class SyncAlreadyRunning(scheduler.SyncAlreadyRunning):
    """A sync of this connector is already queued or running.

    A kind of the scheduler's ``SyncAlreadyRunning``, so the scheduler records an overlapping run
    as skipped without being told about this class.
    """

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


class SyncService:
    """Runs sync jobs against one store and one index."""

    def __init__(
        self,
        store: Store,
        index: SearchIndex,
        client_factory: ClientFactory = client_for,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.store = store
        self.index = index
        self._client_factory = client_factory
        self._transport = transport
        self._running: dict[str, _Running] = {}  # by connector id
        self._claim_lock = threading.Lock()

    # --- public API ----------------------------------------------------------------------

    async def start(self, connector_id: str, trigger: str = "manual") -> str:
        """Queue a sync and run it as a background task; returns the job id at once."""
        run = self._claim(connector_id, trigger)
        run.task = asyncio.create_task(self._execute(run, None), name=f"sync-{run.job_id}")
        return run.job_id

    async def run(
        self,
        connector_id: str,
        trigger: str = "manual",
        on_progress: ProgressCallback | None = None,
    ) -> Job:
        """Run a sync in the foreground and return its finished job record."""
        run = self._claim(connector_id, trigger)
        run.task = asyncio.create_task(self._execute(run, on_progress), name=f"sync-{run.job_id}")
        return await run.task

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
        if run is None or run.task is None:
            return
        self._request_cancel(run)
        await asyncio.gather(run.task, return_exceptions=True)

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

    # --- claiming ------------------------------------------------------------------------

    def _claim(self, connector_id: str, trigger: str) -> _Running:
        """Check nothing runs for the connector and create its job, with no await between."""
        with self._claim_lock:
            current = self._running.get(connector_id)
            if current is not None:
                raise SyncAlreadyRunning(connector_id, current.job_id)
            connector = self.store.get_connector(connector_id)  # NotFoundError when unknown
            self._check_other_process(connector)
            job = self.store.create_job(connector_id, trigger)
            run = _Running(job.id, connector_id, asyncio.Event())
            self._running[connector_id] = run
            return run

    def _check_other_process(self, connector: Connector) -> None:
        other = self.store.running_job(connector.id)
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
        self.store.update_job(
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
        try:
            connector = self.store.get_connector(run.connector_id)
            self.store.update_job(run.job_id, status=RUNNING, progress=_progress_dict(run))
            client = self._client_factory(connector, self.store, transport=self._transport)
            async with client:
                heartbeat = asyncio.create_task(self._heartbeat(run, client))

                def progress(p: Progress) -> None:
                    run.progress = p
                    self._write_progress(run, client)
                    if on_progress is not None:
                        on_progress(p)

                result = await full_sync(
                    client, self.index, self.store, connector, cancel=run.cancel,
                    on_progress=progress,
                )
            return self._finish(run, result, connector)
        except asyncio.CancelledError:
            error = SHUTDOWN_ERROR if run.shutting_down else CANCELED_ERROR
            self._finish_early(run, CANCELED, error)
            if run.shutting_down:
                raise
            # A cancel asked through ``cancel()`` ends the job, not the caller awaiting it.
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            return self.store.get_job(run.job_id)
        except (ConnectorError, PagerDutyError) as exc:
            # Unusable settings (no credentials, a base URL that would leak the key): no request
            # was made, and the message says what to change.
            return self._finish_early(run, FAILED, str(exc))
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
            self._running.pop(run.connector_id, None)

    async def _heartbeat(self, run: _Running, client: PagerDutyClient) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            self._write_progress(run, client)

    def _write_progress(self, run: _Running, client: PagerDutyClient) -> None:
        run.requests = client.requests_made
        try:
            self.store.update_job(
                run.job_id,
                progress=_progress_dict(run),
                counts=run.progress.counts.as_dict(),
                requests=run.requests,
            )
        except Exception:  # a progress write must never break the sync
            log.warning("could not record progress of job %s", run.job_id, exc_info=True)

    def _finish(self, run: _Running, result: JobResult, connector: Connector) -> Job:
        self._reflect_on_connector(result, connector)
        return self.store.update_job(
            run.job_id,
            status=result.status,
            counts=result.counts.as_dict(),
            failures=[f.as_dict() for f in result.failures],
            requests=result.requests,
            error=result.error,
            progress={**_progress_dict(run), "swept": result.swept,
                      "duration_seconds": round(result.duration_seconds, 3)},
        )

    def _reflect_on_connector(self, result: JobResult, connector: Connector) -> None:
        """A sync proves or disproves the credentials: show it on the connector."""
        try:
            cause = result.cause
            if isinstance(cause, AuthenticationError | ScopeError | OAuthError):
                self.store.set_status(
                    connector.id, status_after(cause, connector), error=explain(cause, connector)
                )
            elif result.status == SUCCEEDED and connector.status != "connected":
                self.store.set_status(connector.id, "connected", error=None)
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
            return self.store.update_job(run.job_id, **fields)
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
    return data


def live_job(store: Store, connector_id: str) -> Job | None:
    """The connector's queued or running job if its process still shows life, else None.

    For callers outside a ``SyncService`` (the CLI removing a connector) that must not act
    while a sync of another process writes.
    """
    job = store.running_job(connector_id)
    if job is None or _heartbeat(job) <= datetime.now(UTC) - STALE_AFTER or _owner_gone(job):
        return None
    return job


def running_elsewhere(job: Job) -> bool:
    """True when another process on this machine is known to be running ``job`` right now (its
    recorded process exists and its heartbeat is fresh): a service starting next to a CLI sync
    must leave that job alone rather than mark it interrupted."""
    progress = job.progress if isinstance(job.progress, dict) else {}
    pid, host = progress.get("pid"), progress.get("host")
    if not isinstance(pid, int) or pid <= 0 or pid == os.getpid():
        return False
    if host != socket.gethostname() or _heartbeat(job) <= datetime.now(UTC) - STALE_AFTER:
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

