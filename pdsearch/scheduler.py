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
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from pdsearch.store import NotFoundError, ScheduleRecord, Store, StoreError, iso

log = logging.getLogger(__name__)

MAX_INTERVAL_MINUTES: Final = 525_600
CRON_HORIZON: Final = timedelta(days=366)
SPEC_KEYS: Final = ("interval_minutes", "cron", "run_at")
OPTIONAL_KEYS: Final = ("timezone",)  # with cron only
SKIPPED_ERROR: Final = (
    "Skipped: a sync of this connector was already running when the schedule fired, so this "
    "run did not start."
)
_HOW: Final = (
    'Give exactly one of {"interval_minutes": 30}, {"cron": "0 3 * * *"} (five fields, UTC) '
    'or {"run_at": "2030-01-01T09:00:00Z"} (ISO 8601 with a time zone).'
)
_MACROS: Final = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_DAY_NAMES: Final = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_RECONCILE_JOB: Final = "__reconcile__"

SyncTrigger = Callable[[str, str], Awaitable[object]]


class ScheduleError(ValueError):
    """A schedule spec that cannot be used; the message says what to give instead."""


class SyncAlreadyRunning(Exception):
    """A trigger may raise this when the connector's sync is already running."""


# --- validation ------------------------------------------------------------------------------


def validate_spec(spec: Mapping[str, Any], *, now: datetime | None = None) -> dict[str, Any]:
    """The spec checked and normalised (run_at in UTC with ``Z``), or ``ScheduleError``."""
    now = now or datetime.now(UTC)
    if not isinstance(spec, Mapping):
        raise ScheduleError(f"A schedule must be an object. {_HOW}")
    unknown = sorted(set(spec) - set(SPEC_KEYS) - set(OPTIONAL_KEYS))
    if unknown:
        raise ScheduleError(f"Unknown schedule field {', '.join(map(str, unknown))}. {_HOW}")
    given = [k for k in SPEC_KEYS if spec.get(k) is not None]
    if len(given) != 1:
        raise ScheduleError(_HOW)
    key = given[0]
    value = spec[key]
    zone = spec.get("timezone")
    if zone is not None and key != "cron":
        raise ScheduleError(
            "timezone goes with cron only; interval_minutes and run_at (which carries its own "
            "offset) need none."
        )
    if key == "interval_minutes":
        return {"interval_minutes": _check_interval(value)}
    if key == "cron":
        expr = _check_cron_text(value)
        first = cron_trigger(expr, zone).get_next_fire_time(None, now)
        if first is None or first > now + CRON_HORIZON:
            raise ScheduleError(
                f"The cron line {expr!r} would not fire within the next year; check its day and "
                "month fields."
            )
        return {"cron": expr} if zone is None else {"cron": expr, "timezone": zone}
    run_at = parse_run_at(value)
    if run_at <= now:
        raise ScheduleError(
            f"run_at {iso(run_at)} is in the past; give a time in the future, e.g. "
            f"{iso((now + timedelta(hours=1)).replace(microsecond=0))}."
        )
    return {"run_at": iso(run_at)}


def _check_interval(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScheduleError("interval_minutes must be a whole number of minutes, e.g. 30.")
    if not 1 <= value <= MAX_INTERVAL_MINUTES:
        raise ScheduleError(
            f"interval_minutes must be between 1 and {MAX_INTERVAL_MINUTES:,} (a year); "
            f"got {value}."
        )
    return value


def _check_cron_text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ScheduleError("cron must be a crontab line such as '0 3 * * *'.")
    expr = " ".join(value.split())
    if len(expr) > 200:
        raise ScheduleError("The cron line is too long; give five fields such as '0 3 * * *'.")
    return expr


def parse_run_at(value: Any) -> datetime:
    """An aware datetime from an ISO 8601 string (or datetime), else ``ScheduleError``."""
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, str):
        try:
            when = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ScheduleError(
                f"run_at {value!r} is not an ISO 8601 time; give e.g. 2030-01-01T09:00:00Z."
            ) from None
    else:
        raise ScheduleError("run_at must be an ISO 8601 time such as 2030-01-01T09:00:00Z.")
    if when.tzinfo is None or when.utcoffset() is None:
        raise ScheduleError(
            "run_at needs a time zone, e.g. 2030-01-01T09:00:00Z or 2030-01-01T10:00:00+01:00."
        )
    return when.astimezone(UTC)


def time_zone(name: Any) -> tzinfo:
    """The IANA time zone of that name (None: UTC), else ``ScheduleError``."""
    if name is None:
        return UTC
    if not isinstance(name, str) or not name.strip():
        raise ScheduleError("timezone must be an IANA name such as Europe/Berlin.")
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"Unknown time zone {name!r}; give an IANA name such as Europe/Berlin, "
            "America/New_York or UTC."
        ) from None


def cron_trigger(expr: str, zone: str | None = None) -> CronTrigger | OrTrigger:
    """An APScheduler trigger firing as crontab(5) would for ``expr``, in ``zone`` (UTC when
    None)."""
    tz = time_zone(zone)
    expr = _MACROS.get(expr.strip().lower(), expr)
    fields = expr.split()
    if len(fields) != 5:
        raise ScheduleError(
            f"A cron line has five fields (minute hour day-of-month month day-of-week), e.g. "
            f"'0 3 * * *' for 03:00 UTC daily; {expr!r} has {len(fields)}."
        )
    minute, hour, dom, month, dow = fields
    weekday = _translate_weekdays(dow)
    try:
        if not dom.startswith("*") and not dow.startswith("*"):
            # cron fires when either the day of month or the weekday matches.
            return OrTrigger(
                [
                    CronTrigger(minute=minute, hour=hour, day=dom, month=month, timezone=tz),
                    CronTrigger(
                        minute=minute, hour=hour, month=month, day_of_week=weekday, timezone=tz
                    ),
                ]
            )
        return CronTrigger(
            minute=minute, hour=hour, day=dom, month=month, day_of_week=weekday, timezone=tz
        )
    except ValueError as exc:
        raise ScheduleError(f"The cron line {expr!r} is not valid: {exc}.") from None


def _translate_weekdays(field: str) -> str:
    """crontab weekdays (0 or 7 = Sunday) as APScheduler 3 day names (where 0 = Monday)."""
    if field == "*":
        return "*"
    days: set[int] = set()
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) < 1:
                raise ScheduleError(f"Bad step in the cron weekday field {field!r}.")
            step = int(step_text)
        if base == "*":
            first, last = 0, 6
        elif "-" in base:
            lo, _, hi = base.partition("-")
            first, last = _weekday(lo, field), _weekday(hi, field)
            if last == 0 and first > 0:
                last = 7  # "mon-sun" runs Monday to Sunday
            if first > last:
                raise ScheduleError(f"The cron weekday range {base!r} runs backwards.")
        else:
            first = _weekday(base, field)
            last = 6 if step_text else first
        days.update(d % 7 for d in range(first, last + 1, step))
    return ",".join(_DAY_NAMES[d] for d in sorted(days))


def _weekday(text: str, field: str) -> int:
    """0-7 as written (7 is Sunday too), or a day name's number."""
    text = text.strip().lower()
    if text.isdigit() and int(text) <= 7:
        return int(text)
    if text in _DAY_NAMES:
        return _DAY_NAMES.index(text)
    raise ScheduleError(
        f"Unrecognised weekday {text!r} in the cron field {field!r}; use 0-7 (0 and 7 are "
        "Sunday) or sun, mon, ... sat."
    )


def build_trigger(
    spec: Mapping[str, Any], anchor: datetime
) -> IntervalTrigger | CronTrigger | OrTrigger | DateTrigger:
    """The APScheduler trigger of a validated spec; intervals count from ``anchor``."""
    if "interval_minutes" in spec:
        return IntervalTrigger(
            minutes=int(spec["interval_minutes"]), start_date=anchor, timezone=UTC
        )
    if "cron" in spec:
        return cron_trigger(str(spec["cron"]), spec.get("timezone"))
    return DateTrigger(run_date=parse_run_at(spec["run_at"]), timezone=UTC)


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
            _check_interval(spec["interval_minutes"])
            due = anchor + timedelta(minutes=int(spec["interval_minutes"]))
        else:
            nxt = cron_trigger(
                _check_cron_text(spec.get("cron")), spec.get("timezone")
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
