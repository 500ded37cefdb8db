"""Scheduled syncs: at intervals, on a cron line, or once at a given time.

``SyncScheduler`` keeps one APScheduler job per connector with a schedule, persisted in the
store, and on each firing calls ``trigger(connector_id, "scheduled")`` (the sync service's
``start``). It knows nothing of how a sync works.

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

Behaviour:

- ``trigger`` should return once the sync has started (as ``SyncService.start`` does), not when
  it ends: the scheduler runs one firing per connector at a time.
- Overlap: when the trigger raises one of the ``already_running`` exception types (by default
  this module's ``SyncAlreadyRunning``; pass the sync service's own), or raises anything while
  the store shows a queued or running job of the connector, the run is recorded as a job with
  status ``skipped`` and an error saying why. Any other failure to start is recorded as a
  ``failed`` job, so every firing leaves a trace in the history.
- Other processes: every ``reconcile_seconds`` (60) the scheduler rereads the stored schedules
  and follows ones set or removed elsewhere (the CLI, a second service on the same data).
- Restarts: ``start()`` loads the persisted schedules. Runs missed while the service was down are
  coalesced: an interval or cron schedule that should have fired since it last fired (or was
  set) fires once at start, then keeps its rhythm; a ``run_at`` that passed fires once and is
  cleared. Within a running service APScheduler coalesces late runs likewise (``coalesce``,
  ``misfire_grace_time=None``: late runs still run, once).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from pdsearch.schedule_spec import (
    CRON_HORIZON,
    MAX_INTERVAL_MINUTES,
    ScheduleError,
    build_trigger,
    check_cron_text,
    check_interval,
    cron_trigger,
    parse_run_at,
    validate_spec,
)
from pdsearch.store import NotFoundError, ScheduleRecord, Store, StoreError, iso

__all__ = [
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
_RECONCILE_JOB: Final = "__reconcile__"

SyncTrigger = Callable[[str, str], Awaitable[object]]


class SyncAlreadyRunning(Exception):
    """A trigger may raise this when the connector's sync is already running."""


def _anchor(record: ScheduleRecord) -> datetime:
    """Where an interval counts from: the last firing, else when it was set (whole seconds,
    so that next run times read well)."""
    return (record.last_fired_at or record.updated_at).replace(microsecond=0)


# --- the scheduler ---------------------------------------------------------------------------


class SyncScheduler:
    """Runs each connector's schedule on the running asyncio loop."""

    def __init__(
        self,
        store: Store,
        trigger: SyncTrigger,
        *,
        already_running: tuple[type[BaseException], ...] = (),
        reconcile_seconds: float | None = 60.0,
    ) -> None:
        self._store = store
        self._reconcile_seconds = reconcile_seconds
        # The version (updated_at) of each connector's schedule that is loaded here.
        self._loaded: dict[str, datetime] = {}
        self._trigger = trigger
        self._already_running: tuple[type[BaseException], ...] = (
            SyncAlreadyRunning,
            *already_running,
        )
        self._stopped = False
        self._scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1},
        )

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def start(self) -> None:
        """Load the persisted schedules and start; call it from the running event loop."""
        self._stopped = False
        now = datetime.now(UTC)
        for record in self._store.list_schedule_records():
            try:
                self._load(record, now)
            except ScheduleError as exc:
                log.warning("ignoring the stored schedule of connector %s: %s",
                            record.connector_id, exc)
        if self._reconcile_seconds:
            self._scheduler.add_job(
                self._reconcile,
                IntervalTrigger(seconds=self._reconcile_seconds, timezone=UTC),
                id=_RECONCILE_JOB,
                name="pick up schedules changed by other pdsearch processes",
                replace_existing=True,
            )
        self._scheduler.start()

    def shutdown(self) -> None:
        """Stop firing; persisted schedules stay for the next start."""
        # APScheduler stops on the loop's next turn; nothing may fire in between.
        self._stopped = True
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def set(self, connector_id: str, spec: Mapping[str, Any]) -> dict[str, Any]:
        """Validate, persist and (re)schedule; returns ``describe(connector_id)``. Raises
        ``ScheduleError`` for a bad spec and the store's ``NotFoundError`` for an unknown
        connector."""
        normalized = validate_spec(spec)
        self._store.get_connector(connector_id)
        self._store.set_schedule(connector_id, normalized)
        record = self._store.get_schedule_record(connector_id)
        assert record is not None
        self._add_job(connector_id, normalized, _anchor(record), fire_now=False)
        self._loaded[connector_id] = record.updated_at
        described = self.describe(connector_id)
        assert described is not None
        return described

    def remove(self, connector_id: str) -> bool:
        """Remove the connector's schedule; True if it had one."""
        self._remove_job(connector_id)
        return self._store.delete_schedule(connector_id)

    def describe(self, connector_id: str) -> dict[str, Any] | None:
        """The spec with ``next_run_at`` and ``last_run_at`` (ISO 8601 UTC, or None), or None
        without a schedule."""
        record = self._store.get_schedule_record(connector_id)
        if record is None:
            return None
        spec = record.spec
        return {
            **spec,
            "next_run_at": iso(self._next_run(record)),
            "last_run_at": iso(record.last_fired_at),
        }

    # --- internals ---------------------------------------------------------------------

    async def _reconcile(self) -> None:
        """Follow schedules set or removed in the store by another process (the CLI, a second
        service on the same data directory)."""
        if self._stopped:
            return
        try:
            records = {r.connector_id: r for r in self._store.list_schedule_records()}
        except StoreError:
            log.exception("could not read the stored schedules")
            return
        now = datetime.now(UTC)
        for connector_id in set(self._loaded) - set(records):
            self._remove_job(connector_id)
        for connector_id, record in records.items():
            if self._loaded.get(connector_id) == record.updated_at:
                continue
            try:
                self._load(record, now)
            except ScheduleError as exc:
                log.warning("ignoring the stored schedule of connector %s: %s", connector_id, exc)
                self._loaded[connector_id] = record.updated_at

    def _load(self, record: ScheduleRecord, now: datetime) -> None:
        self._loaded[record.connector_id] = record.updated_at
        spec = record.spec
        anchor = _anchor(record)
        if "run_at" in spec:
            parse_run_at(spec["run_at"])
            self._add_job(record.connector_id, spec, anchor, fire_now=False)
            return
        if "interval_minutes" in spec:
            check_interval(spec["interval_minutes"])
            due = anchor + timedelta(minutes=int(spec["interval_minutes"]))
        else:
            nxt = cron_trigger(
                check_cron_text(spec.get("cron")), spec.get("timezone")
            ).get_next_fire_time(None, anchor + timedelta(seconds=1))
            due = nxt if nxt is not None else now + CRON_HORIZON * 2
        # One catch-up run for however many were missed while the service was down.
        self._add_job(record.connector_id, spec, anchor, fire_now=due <= now)

    def _add_job(
        self, connector_id: str, spec: Mapping[str, Any], anchor: datetime, *, fire_now: bool
    ) -> None:
        extra: dict[str, Any] = {}
        if fire_now:
            extra["next_run_time"] = datetime.now(UTC)
        self._scheduler.add_job(
            self._fire,
            build_trigger(spec, anchor),
            args=[connector_id],
            id=connector_id,
            name=f"scheduled sync of {connector_id}",
            replace_existing=True,
            **extra,
        )

    def _remove_job(self, connector_id: str) -> None:
        self._loaded.pop(connector_id, None)
        if self._scheduler.get_job(connector_id) is not None:
            self._scheduler.remove_job(connector_id)

    def _next_run(self, record: ScheduleRecord) -> datetime | None:
        job = self._scheduler.get_job(record.connector_id)
        next_time: datetime | None = getattr(job, "next_run_time", None) if job else None
        if next_time is not None or (job is not None and self._scheduler.running):
            return next_time
        # Not started yet (a pending job has no next run time): work it out from the trigger.
        now = datetime.now(UTC)
        try:
            trig = build_trigger(record.spec, _anchor(record))
        except ScheduleError:
            return None
        result: datetime | None = trig.get_next_fire_time(None, now)
        return result

    async def _fire(self, connector_id: str) -> None:
        if self._stopped:
            return
        try:
            await self._fire_unguarded(connector_id)
        except StoreError:
            # The store closed under us (shutdown) or the disk failed; nothing to record into.
            log.exception("scheduled sync of connector %s could not be handled", connector_id)

    async def _fire_unguarded(self, connector_id: str) -> None:
        spec = self._store.get_schedule(connector_id)
        if spec is None:  # removed by another process or a race with remove()
            self._remove_job(connector_id)
            return
        self._store.record_schedule_fired(connector_id)
        if "run_at" in spec:
            self._store.delete_schedule(connector_id)
        try:
            await self._trigger(connector_id, "scheduled")
        except NotFoundError:
            log.info("connector %s is gone; dropping its schedule", connector_id)
            self._remove_job(connector_id)
            self._store.delete_schedule(connector_id)
        except Exception as exc:
            self._record_not_started(connector_id, exc)

    def _record_not_started(self, connector_id: str, exc: Exception) -> None:
        try:
            if isinstance(exc, self._already_running) or (
                self._store.running_job(connector_id) is not None
            ):
                log.info("scheduled sync of connector %s skipped: one is already running",
                         connector_id)
                self._store.create_job(
                    connector_id, "scheduled", status="skipped", error=SKIPPED_ERROR
                )
                return
            log.warning("scheduled sync of connector %s could not start: %s",
                        connector_id, exc)
            job = self._store.create_job(
                connector_id, "scheduled", status="failed",
                error=f"The scheduled sync could not start: {exc}",
            )
            log.debug("recorded failed job %s", job.id)
        except StoreError:
            log.exception("could not record the scheduled run of connector %s", connector_id)
