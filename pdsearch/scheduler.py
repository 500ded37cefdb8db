"""Scheduled syncs: at intervals, on a cron line, or once at a given time; one leader at a time.

``SyncScheduler`` runs a small loop of its own on the service's event loop. Every replica of
``pdsearch serve`` runs one, and exactly one of them, the holder of the store's lease
``"scheduler"``, fires schedules; on each firing it calls ``trigger(connector_id, "scheduled",
mode)`` (the connector service's ``start_sync``). It knows nothing of how a sync works.

Schedule specs, exactly one key (what ``PUT /connectors/{id}/schedule`` takes)::

    {"interval_minutes": 30}          every 30 minutes (1 .. 525,600, i.e. a year)
    {"cron": "0 3 * * 1-5"}           a five-field crontab line (minute hour day month
                                      weekday; 0 and 7 are Sunday; names and @daily etc. too;
                                      when day and weekday are both restricted either matches,
                                      as in cron), in UTC unless ``"timezone": "Europe/Berlin"``
                                      (an IANA name) is given with it. It must fire within the
                                      next year.
    {"run_at": "2030-01-01T09:00Z"}   once, at an ISO 8601 time with a time zone, in the future;
                                      the schedule is cleared once it has fired.

A connector has at most one schedule per mode (``full`` or ``incremental``).

Leadership. Each loop turn (``tick_seconds``, 1 s) a replica that is not the leader tries to take
the lease, and the leader renews it, both at most every ``renew_seconds`` (5 s) with a ttl of
``lease_seconds`` (15 s), by the database's clock. A leader whose renewal fails stops firing at
once; one that cannot reach the database stops ``lease_seconds - renew_seconds`` after its last
renewal, before the lease can pass to another. A leader that dies stops renewing, and another
replica takes over once the lease expires: within ``lease_seconds + renew_seconds`` (20 s). A
leader that stops cleanly releases the lease, and the next replica takes over within
``renew_seconds``.

Exactly once. A firing is claimed in the database before it starts
(``store.schedules.claim``): a compare-and-set of the schedule's ``last_fired_at`` from the
value this loop read, allowed only while this replica holds the lease. Two leaders (an old one
that has not noticed its loss yet, and its successor) read the same row; only one claim
succeeds, so a schedule never fires twice, across a change of leader too. A leader that dies
between its claim and the sync's start loses that one firing (the next comes on time): at most
once, never twice.

Why a loop of our own and not APScheduler's: APScheduler keeps each schedule's next run time in
memory and fires it from its own timer. With leadership that memory has to be built when a
replica becomes leader, dropped when it stops being one, and kept in step with every change made
by other replicas; and every firing still has to be claimed in the database. Reading the few
schedule rows each second and comparing their due time with the clock is all of that at once:
there is no state to hand over, schedules set on any replica are followed at the next turn, and a
``Clock`` (``pdsearch.clock``) makes it testable without sleeping. APScheduler's triggers are
still used to work out when a cron line fires next (``pdsearch.schedule_spec``).

Behaviour:

- ``trigger`` should return once the sync has started, not when it ends.
- Overlap: when the trigger raises one of the ``already_running`` exception types (by default
  this module's ``SyncAlreadyRunning``; pass the sync service's own), or raises anything while
  the store shows a queued or running job of the connector, the run is recorded as a job with
  status ``skipped`` and an error saying why. Any other failure to start is recorded as a
  ``failed`` job, so every firing leaves a trace in the history.
- Missed runs (no leader for a while, the service down): an interval or cron schedule that
  should have fired since it last fired (or was set) fires once, then keeps its rhythm; a
  ``run_at`` that passed fires once and is cleared.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from pdsearch.clock import SYSTEM_CLOCK, Clock
from pdsearch.schedule_spec import (
    MAX_INTERVAL_MINUTES,
    ScheduleError,
    check_cron_text,
    check_interval,
    cron_trigger,
    parse_run_at,
    validate_spec,
)
from pdsearch.store import NotFoundError, ScheduleRecord, Store, StoreError, iso

__all__ = [
    "LEASE_NAME",
    "MAX_INTERVAL_MINUTES",
    "SKIPPED_ERROR",
    "ScheduleError",
    "SyncAlreadyRunning",
    "SyncScheduler",
    "SyncTrigger",
    "cron_trigger",
    "validate_spec",
]

log = logging.getLogger(__name__)

SKIPPED_ERROR: Final = (
    "Skipped: a sync of this connector was already running when the schedule fired, so this "
    "run did not start."
)
LEASE_NAME: Final = "scheduler"

#: ``trigger(connector_id, "scheduled", mode)``: start a sync, return once it has started.
SyncTrigger = Callable[[str, str, str], Awaitable[object]]


class SyncAlreadyRunning(Exception):
    """A trigger may raise this when the connector's sync is already running."""


def _holder_name() -> str:
    """Who this replica is, in the lease: host, process and a random part (two schedulers of
    one process are two candidates)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def due_at(record: ScheduleRecord) -> datetime | None:
    """When the schedule should fire next, counted from its last firing (else from when it was
    set); None for a ``run_at`` that has fired. ``ScheduleError`` for a spec that cannot be
    used."""
    spec = record.spec
    anchor = record.last_fired_at or record.updated_at
    if "run_at" in spec:
        return None if record.last_fired_at is not None else parse_run_at(spec["run_at"])
    if "interval_minutes" in spec:
        return anchor + timedelta(minutes=check_interval(spec["interval_minutes"]))
    if "cron" in spec:
        trigger = cron_trigger(check_cron_text(spec["cron"]), spec.get("timezone"))
        # Strictly after the anchor: a firing at 03:00:00.2 is the 03:00 run, not before it.
        nxt: datetime | None = trigger.get_next_fire_time(
            None, anchor + timedelta(microseconds=1)
        )
        return nxt
    raise ScheduleError("The stored schedule has none of interval_minutes, cron or run_at.")


class SyncScheduler:
    """Fires the stored schedules while this replica leads (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        trigger: SyncTrigger,
        *,
        already_running: tuple[type[BaseException], ...] = (),
        clock: Clock = SYSTEM_CLOCK,
        holder: str | None = None,
        lease_seconds: float = 15.0,
        renew_seconds: float = 5.0,
        tick_seconds: float = 1.0,
        oncall_refresh: Callable[[], Awaitable[object]] | None = None,
        oncall_check_seconds: float = 60.0,
    ) -> None:
        if not 0 < renew_seconds < lease_seconds:
            raise ValueError("renew_seconds must be positive and shorter than lease_seconds")
        self._store = store
        # On-call refreshes (``sync.oncall.OnCallRefresher.refresh_due``): the leader asks every
        # ``oncall_check_seconds`` which connectors are due; it decides, the scheduler only ticks.
        # The first ask comes one period after the start: a starting service leaves its first
        # minute to people. A round runs in a task of its own, so the lease is renewed meanwhile.
        self._oncall_refresh = oncall_refresh
        self._oncall_check_seconds = oncall_check_seconds
        self._oncall_next: datetime | None = None
        self._oncall_task: asyncio.Task[None] | None = None
        self._trigger = trigger
        self._already_running: tuple[type[BaseException], ...] = (
            SyncAlreadyRunning,
            *already_running,
        )
        self._clock = clock
        self.holder = holder or _holder_name()
        self._lease_seconds = lease_seconds
        self._renew_seconds = renew_seconds
        self._tick_seconds = tick_seconds
        self._stopped = False
        self._task: asyncio.Task[None] | None = None
        self._leader = False
        self._leader_until: datetime | None = None
        self._next_lease_at: datetime | None = None
        self._warned: set[tuple[str, str, datetime]] = set()

    # --- running ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def is_leader(self) -> bool:
        """Whether this replica fires schedules now."""
        return self._leads(self._clock.now())

    def start(self) -> None:
        """Start the loop; call it from the running event loop."""
        self._stopped = False
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="pdsearch-scheduler"
            )

    async def _refresh_oncall(self) -> None:
        if self._stopped or self._oncall_refresh is None:
            return
        try:
            await self._oncall_refresh()
        except Exception:  # the next tick tries again; a refresh records its own failures
            log.exception("on-call refresh round failed")

    def shutdown(self) -> None:
        """Stop firing and give the lease up, so another replica leads at once; schedules stay
        in the store."""
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self._oncall_task is not None:
            self._oncall_task.cancel()
            self._oncall_task = None
        if self._leader:
            self._leader = False
            self._leader_until = None
            try:
                self._store.leases.release(LEASE_NAME, self.holder)
            except StoreError:
                log.warning("could not release the scheduler lease; it expires by itself")

    async def _run(self) -> None:
        while not self._stopped:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad turn must not end the loop
                log.exception("the scheduler's turn failed; trying again")
            await self._clock.sleep(self._tick_seconds)

    async def tick(self) -> int:
        """One turn of the loop: take or keep the lease, then, as leader, fire what is due.
        Returns how many schedules fired."""
        if self._stopped:
            return 0
        now = self._clock.now()
        self._keep_lease(now)
        if not self._leads(now):
            return 0
        try:
            records = self._store.schedules.list_records()
        except StoreError:
            log.warning("could not read the stored schedules; trying again")
            return 0
        fired = 0
        for record in records:
            if self._stopped or not self._leads(now):
                break
            if await self._consider(record, now):
                fired += 1
        self._maybe_refresh_oncall(now)
        return fired

    def _maybe_refresh_oncall(self, now: datetime) -> None:
        if self._oncall_refresh is None or self._stopped:
            return
        if self._oncall_next is None:
            self._oncall_next = now + timedelta(seconds=self._oncall_check_seconds)
            return
        busy = self._oncall_task is not None and not self._oncall_task.done()
        if now < self._oncall_next or busy:
            return
        self._oncall_next = now + timedelta(seconds=self._oncall_check_seconds)
        self._oncall_task = asyncio.get_running_loop().create_task(
            self._refresh_oncall(), name="pdsearch-oncall-refresh"
        )

    # --- schedules ---------------------------------------------------------------------------

    def set(
        self, connector_id: str, spec: Mapping[str, Any], mode: str = "full"
    ) -> dict[str, Any]:
        """Validate and persist; returns ``describe(connector_id, mode)``. Raises
        ``ScheduleError`` for a bad spec and the store's ``NotFoundError`` for an unknown
        connector. The leader (whichever replica) follows it at its next turn."""
        now = self._clock.now()
        normalized = validate_spec(spec, now=now)
        self._store.connectors.get(connector_id)
        self._store.schedules.set(connector_id, normalized, mode=mode, at=now)
        described = self.describe(connector_id, mode)
        if described is None:  # removed by another replica in between
            raise NotFoundError(f"The schedule of connector {connector_id} was removed.")
        return described

    def remove(self, connector_id: str, mode: str = "full") -> bool:
        """Remove the connector's schedule of that mode; True if it had one."""
        return self._store.schedules.delete(connector_id, mode)

    def remove_all(self, connector_id: str) -> int:
        """Remove every schedule of the connector; how many there were."""
        return self._store.schedules.delete_all(connector_id)

    def describe(self, connector_id: str, mode: str = "full") -> dict[str, Any] | None:
        """The spec with ``mode``, ``next_run_at`` and ``last_run_at`` (ISO 8601 UTC, or None),
        or None without a schedule of that mode."""
        record = self._store.schedules.get_record(connector_id, mode)
        return None if record is None else self._described(record)

    def describe_all(self, connector_id: str) -> list[dict[str, Any]]:
        """Every schedule of the connector (full first), described."""
        return [self._described(r) for r in self._store.schedules.list_records(connector_id)]

    def _described(self, record: ScheduleRecord) -> dict[str, Any]:
        try:
            due = due_at(record)
        except ScheduleError:
            due = None
        if due is not None:
            due = max(due, self._clock.now().replace(microsecond=0))
        return {
            **record.spec,
            "mode": record.mode,
            "next_run_at": iso(due),
            "last_run_at": iso(record.last_fired_at),
        }

    # --- internals ---------------------------------------------------------------------

    def _leads(self, now: datetime) -> bool:
        return self._leader and self._leader_until is not None and now < self._leader_until

    def _keep_lease(self, now: datetime) -> None:
        """Take the lease, or renew it, at most every ``renew_seconds``."""
        if self._next_lease_at is not None and now < self._next_lease_at:
            return
        self._next_lease_at = now + timedelta(seconds=self._renew_seconds)
        leases = self._store.leases
        try:
            if self._leader:
                held = leases.renew(LEASE_NAME, self.holder, self._lease_seconds)
            else:
                held = leases.acquire(LEASE_NAME, self.holder, self._lease_seconds)
        except StoreError:
            # Unknown: keep acting until our own margin runs out, and no longer.
            log.warning("could not reach the store to keep the scheduler lease")
            return
        if held:
            if not self._leader:
                log.info("this replica (%s) now fires the schedules", self.holder)
            self._leader = True
            # Stop acting one renewal before the lease could pass to another replica.
            margin = self._lease_seconds - self._renew_seconds
            self._leader_until = now + timedelta(seconds=margin)
        elif self._leader:
            log.warning("this replica (%s) lost the scheduler lease; it stops firing",
                        self.holder)
            self._leader = False
            self._leader_until = None

    async def _consider(self, record: ScheduleRecord, now: datetime) -> bool:
        """Fire the schedule if it is due and this replica wins the claim."""
        try:
            due = due_at(record)
        except ScheduleError as exc:
            key = (record.connector_id, record.mode, record.updated_at)
            if key not in self._warned:
                self._warned.add(key)
                log.warning("ignoring the stored %s schedule of connector %s: %s",
                            record.mode, record.connector_id, exc)
            return False
        if due is None:  # a run_at that fired, left by a leader that died before clearing it
            self._clear_run_at(record)
            return False
        if due > now:
            return False
        if not self._store.schedules.claim(record, now, lease=(LEASE_NAME, self.holder)):
            return False
        if "run_at" in record.spec:
            self._clear_run_at(record)
        try:
            await self._start(record)
        except StoreError:
            # The store closed under us (shutdown) or the disk failed; nothing to record into.
            log.exception("scheduled sync of connector %s could not be handled",
                          record.connector_id)
        return True

    def _clear_run_at(self, record: ScheduleRecord) -> None:
        current = self._store.schedules.get_record(record.connector_id, record.mode)
        if current is not None and current.updated_at == record.updated_at:
            self._store.schedules.delete(record.connector_id, record.mode)

    async def _start(self, record: ScheduleRecord) -> None:
        connector_id = record.connector_id
        try:
            await self._trigger(connector_id, "scheduled", record.mode)
        except NotFoundError:
            log.info("connector %s is gone; dropping its schedules", connector_id)
            self._store.schedules.delete_all(connector_id)
        except Exception as exc:
            self._record_not_started(record, exc)

    def _record_not_started(self, record: ScheduleRecord, exc: Exception) -> None:
        connector_id, mode = record.connector_id, record.mode
        try:
            if isinstance(exc, self._already_running) or (
                self._store.jobs.running(connector_id) is not None
            ):
                log.info("scheduled %s sync of connector %s skipped: one is already running",
                         mode, connector_id)
                self._store.jobs.create(
                    connector_id, "scheduled", status="skipped", error=SKIPPED_ERROR, mode=mode
                )
                return
            log.warning("scheduled %s sync of connector %s could not start: %s",
                        mode, connector_id, exc)
            self._store.jobs.create(
                connector_id, "scheduled", status="failed", mode=mode,
                error=f"The scheduled sync could not start: {exc}",
            )
        except StoreError:
            log.exception("could not record the scheduled run of connector %s", connector_id)

