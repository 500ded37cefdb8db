"""Job records (``store.jobs``): one per sync run, with counts, failures, live progress, the
claim that keeps one connector to one sync at a time, and cancel requests any replica can make."""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import Connection, RowMapping

from pdsearch.store.database import Database, violated
from pdsearch.store.errors import ConflictError, InvalidValueError, NotFoundError
from pdsearch.store.records import (
    ACTIVE_JOB_STATUSES,
    FINISHED_JOB_STATUSES,
    JOB_MODES,
    JOB_STATUSES,
    JOB_TRIGGERS,
    MAX_FAILURES,
    Job,
    empty_counts,
    utcnow,
)
from pdsearch.store.schema import UtcDateTime, jobs

INTERRUPTED_ERROR: Final = (
    "The service stopped while this job was queued or running, so it did not finish. "
    "Start a new sync."
)
_UPDATABLE: Final = frozenset(
    {"status", "mode", "counts", "failures", "requests", "error", "progress", "started_at",
     "finished_at"}
)

JobPage = tuple[list[Job], int]


def _to_job(row: RowMapping) -> Job:
    return Job(
        id=row["id"],
        connector_id=row["connector_id"],
        status=row["status"],
        trigger=row["trigger"],
        mode=row["mode"],
        counts=json.loads(row["counts"]),
        failures=json.loads(row["failures"]),
        requests=row["requests"],
        error=row["error"],
        progress=json.loads(row["progress"]),
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        cancel_requested=row["cancel_requested_at"] is not None,
    )


def _normalize_counts(counts: Any) -> dict[str, int]:
    if not isinstance(counts, dict):
        raise InvalidValueError("Job counts must be a mapping of count names to numbers.")
    merged = empty_counts()
    for key, value in counts.items():
        merged[str(key)] = int(value)
    return merged


def _normalize_failures(failures: Any) -> list[dict[str, str]]:
    if not isinstance(failures, list):
        raise InvalidValueError('Job failures must be a list of {"id", "reason"} mappings.')
    return [
        {"id": str(f.get("id", "")), "reason": str(f.get("reason", ""))}
        for f in failures[:MAX_FAILURES]
    ]


def _column_values(fields: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in fields.items():
        if key == "counts":
            values[key] = json.dumps(_normalize_counts(value))
        elif key == "failures":
            values[key] = json.dumps(_normalize_failures(value))
        elif key == "progress":
            values[key] = json.dumps(dict(value or {}))
        elif key in ("started_at", "finished_at"):
            if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
                raise InvalidValueError(f"{key} must be a datetime with a time zone.")
            values[key] = value
        elif key == "requests":
            values[key] = int(value)
        else:
            values[key] = value
    return values


def _time(value: datetime) -> sa.BindParameter[datetime]:
    """A time as a bound value of the column type (inside SQL functions too)."""
    return sa.literal(value, UtcDateTime())


@functools.cache
def _update_statement(columns: tuple[str, ...], keep_start: bool) -> sa.Update:
    """``UPDATE jobs SET <columns> WHERE id = :_id RETURNING *``; with ``keep_start`` the
    given ``started_at`` applies only when the job has none yet."""
    assignments: dict[str, Any] = {
        name: sa.bindparam(name, type_=jobs.c[name].type) for name in columns
    }
    if keep_start:
        assignments["started_at"] = sa.func.coalesce(jobs.c.started_at,
                                                     assignments["started_at"])
    return (
        jobs.update().where(jobs.c.id == sa.bindparam("_id")).values(assignments)
        .returning(*jobs.c)
    )


_GET: Final = sa.select(jobs).where(jobs.c.id == sa.bindparam("job_id"))
_RUNNING: Final = (
    sa.select(jobs)
    .where(jobs.c.connector_id == sa.bindparam("connector_id"),
           jobs.c.status.in_(ACTIVE_JOB_STATUSES))
    .order_by(jobs.c.seq.desc()).limit(1)
)


def _missing(job_id: str) -> NotFoundError:
    return NotFoundError(f"No job with id {job_id!r}.")


class JobRepository:
    """Job records. At most one job of a connector is queued or running at any time, across
    processes and replicas: the database refuses a second (``ConflictError``)."""

    def __init__(self, db: Database, *, history: int = 1000) -> None:
        self._db = db
        # Finished jobs kept per connector; older ones are pruned as new jobs are created.
        self.history = max(1, history)

    def create(
        self,
        connector_id: str,
        trigger: str,
        status: str = "queued",
        error: str | None = None,
        *,
        mode: str = "full",
    ) -> Job:
        """A new job record. Creating a queued or running job claims the connector: while
        another job of it is queued or running this raises ConflictError (naming that job),
        whichever process or replica holds it. A job created already finished (e.g.
        ``skipped``, with ``error`` saying why) gets ``finished_at`` now and claims nothing.
        Finished jobs beyond the newest ``history`` of the connector are pruned."""
        if trigger not in JOB_TRIGGERS:
            raise InvalidValueError(f"trigger must be one of {', '.join(JOB_TRIGGERS)}.")
        if status not in JOB_STATUSES:
            raise InvalidValueError(f"status must be one of {', '.join(JOB_STATUSES)}.")
        if mode not in JOB_MODES:
            raise InvalidValueError(f"mode must be one of {', '.join(JOB_MODES)}.")
        now = utcnow()
        values = {
            "id": uuid.uuid4().hex, "connector_id": connector_id, "status": status,
            "trigger": trigger, "mode": mode, "counts": json.dumps(empty_counts()), "error": error,
            "created_at": now,
            "started_at": now if status == "running" else None,
            "finished_at": now if status in FINISHED_JOB_STATUSES else None,
        }
        try:
            with self._db.write() as conn:
                try:
                    row = conn.execute(jobs.insert().values(values).returning(*jobs.c))
                    job = _to_job(row.mappings().one())
                except exc.IntegrityError as error:
                    if violated(error) == "foreign_key":
                        raise NotFoundError(f"No connector with id {connector_id!r}.") from None
                    raise _AlreadyActive() from None
                self._prune(conn, connector_id)
        except _AlreadyActive:
            raise self._conflict(connector_id) from None
        return job

    def get(self, job_id: str) -> Job:
        with self._db.read() as conn:
            row = conn.execute(_GET, {"job_id": job_id}).mappings().first()
        if row is None:
            raise _missing(job_id)
        return _to_job(row)

    def update(self, job_id: str, **fields: Any) -> Job:
        """Change any of status, mode (an incremental sync that fell back to a full one),
        counts, failures, requests, error, progress, started_at,
        finished_at. Counts are merged over zeros for the five standard keys; failures are
        capped at MAX_FAILURES. Moving to ``running`` sets ``started_at`` and to a finished
        status sets ``finished_at`` (now) unless given. Moving a job back to queued or running
        while another job of its connector is active is a ConflictError."""
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise InvalidValueError(f"Cannot change {', '.join(sorted(unknown))} of a job.")
        status = fields.get("status")
        if status is not None and status not in JOB_STATUSES:
            raise InvalidValueError(f"status must be one of {', '.join(JOB_STATUSES)}.")
        if "mode" in fields and fields["mode"] not in JOB_MODES:
            raise InvalidValueError(f"mode must be one of {', '.join(JOB_MODES)}.")
        values = _column_values(fields)
        if not values:
            return self.get(job_id)
        now = utcnow()
        keep_start = status == "running" and "started_at" not in fields
        if keep_start:
            values["started_at"] = now
        if status in FINISHED_JOB_STATUSES and "finished_at" not in fields:
            values["finished_at"] = now
        # One statement, no read first, built once per set of columns: a sync's progress
        # writes are the store's hottest path.
        statement = _update_statement(tuple(sorted(values)), keep_start)
        try:
            with self._db.write() as conn:
                try:
                    row = conn.execute(statement, {**values, "_id": job_id}).mappings().first()
                except exc.IntegrityError:
                    raise _AlreadyActive() from None
        except _AlreadyActive:
            raise self._conflict(self.get(job_id).connector_id) from None
        if row is None:
            raise _missing(job_id)
        return _to_job(row)

    def list(self, connector_id: str, skip: int = 0, limit: int = 100) -> JobPage:
        """The connector's jobs newest first, and how many there are in all."""
        with self._db.read() as conn:
            total = conn.execute(
                sa.select(sa.func.count()).select_from(jobs)
                .where(jobs.c.connector_id == connector_id)
            ).scalar_one()
            rows = conn.execute(
                sa.select(jobs).where(jobs.c.connector_id == connector_id)
                .order_by(jobs.c.seq.desc()).limit(max(0, limit)).offset(max(0, skip))
            ).mappings().all()
        return [_to_job(r) for r in rows], int(total)

    def running(self, connector_id: str) -> Job | None:
        """The connector's queued or running job, if any (there is at most one)."""
        with self._db.read() as conn:
            row = conn.execute(_RUNNING, {"connector_id": connector_id}).mappings().first()
        return _to_job(row) if row is not None else None

    def fail_interrupted(
        self,
        older_than: timedelta | None = None,
        *,
        spare: Callable[[Job], bool] | None = None,
    ) -> int:
        """Mark jobs left queued or running (by a crash or a kill) as failed; call it at start,
        before any sync runs. With ``older_than``, only jobs that showed no life (progress
        ``updated_at``, else start, else creation) for that long: a sync another process (the
        CLI) is running right now is spared. ``spare(job)`` True also spares a job (the sync
        service knows one whose process is still alive). Returns how many were marked."""
        now = utcnow()
        with self._db.write() as conn:
            active = [
                _to_job(r)
                for r in conn.execute(
                    sa.select(jobs).where(jobs.c.status.in_(ACTIVE_JOB_STATUSES))
                ).mappings()
            ]
            stale = [
                job.id
                for job in active
                if (older_than is None or heartbeat(job) <= now - older_than)
                and not (spare is not None and spare(job))
            ]
            if stale:
                conn.execute(
                    jobs.update().where(jobs.c.id.in_(stale))
                    .values(status="failed", error=INTERRUPTED_ERROR, finished_at=now)
                )
        return len(stale)

    def request_cancel(self, job_id: str) -> bool:
        """Ask the job to stop, from any process or replica (the one running it polls
        ``cancel_requested``). True when the job is queued or running, so the request stands;
        False when it has already finished. NotFoundError for an unknown job."""
        with self._db.write() as conn:
            hit = conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id, jobs.c.status.in_(ACTIVE_JOB_STATUSES))
                .values(cancel_requested_at=sa.func.coalesce(jobs.c.cancel_requested_at,
                                                             _time(utcnow())))
                .returning(jobs.c.id)
            ).first()
            if hit is None and not self._exists(conn, job_id):
                raise _missing(job_id)
        return hit is not None

    def cancel_requested(self, job_id: str) -> bool:
        """Whether anyone asked the job to stop; NotFoundError once the job is gone (its
        connector was removed), which a running sync should take as a request too."""
        with self._db.read() as conn:
            row = conn.execute(
                sa.select(jobs.c.cancel_requested_at).where(jobs.c.id == job_id)
            ).first()
        if row is None:
            raise _missing(job_id)
        return row[0] is not None

    # --- inside the store ------------------------------------------------------------------

    def _prune(self, conn: Connection, connector_id: str) -> None:
        cutoff = (
            sa.select(jobs.c.seq).where(jobs.c.connector_id == connector_id)
            .order_by(jobs.c.seq.desc()).limit(1).offset(self.history).scalar_subquery()
        )
        conn.execute(
            jobs.delete().where(
                jobs.c.connector_id == connector_id,
                jobs.c.status.in_(FINISHED_JOB_STATUSES),
                jobs.c.seq <= cutoff,
            )
        )

    def _conflict(self, connector_id: str) -> ConflictError:
        other = self.running(connector_id)
        which = f" (job {other.id})" if other is not None else ""
        return ConflictError(
            f"A sync of this connector is already queued or running{which}. Wait for it to "
            "finish or cancel it."
        )

    @staticmethod
    def _exists(conn: Connection, job_id: str) -> bool:
        return conn.execute(sa.select(jobs.c.seq).where(jobs.c.id == job_id)).first() is not None


class _AlreadyActive(Exception):
    """Inside the repository: the claim index refused a second active job."""


def heartbeat(job: Job) -> datetime:
    """When a job last showed life: ``progress["updated_at"]`` (ISO 8601), else its start,
    else its creation."""
    stamp = job.progress.get("updated_at")
    if isinstance(stamp, str):
        try:
            when = datetime.fromisoformat(stamp)
        except ValueError:
            when = None
        if when is not None and when.tzinfo is not None:
            return when
    return job.started_at or job.created_at
