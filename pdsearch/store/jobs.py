"""Job records: one per sync run, with counts, failures and live progress."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final

from pdsearch.store.db import StoreBase
from pdsearch.store.errors import InvalidValueError, NotFoundError
from pdsearch.store.records import (
    ACTIVE_JOB_STATUSES,
    FINISHED_JOB_STATUSES,
    JOB_STATUSES,
    JOB_TRIGGERS,
    MAX_FAILURES,
    Job,
    empty_counts,
    from_db_time,
    to_db_time,
    utcnow,
)

INTERRUPTED_ERROR: Final = (
    "The service stopped while this job was queued or running, so it did not finish. "
    "Start a new sync."
)
_UPDATABLE: Final = frozenset(
    {"status", "counts", "failures", "requests", "error", "progress", "started_at", "finished_at"}
)


def _row_to_job(row: sqlite3.Row) -> Job:
    created = from_db_time(row["created_at"])
    assert created is not None
    return Job(
        id=row["id"],
        connector_id=row["connector_id"],
        status=row["status"],
        trigger=row["trigger"],
        counts=json.loads(row["counts"]),
        failures=json.loads(row["failures"]),
        requests=row["requests"],
        error=row["error"],
        progress=json.loads(row["progress"]),
        created_at=created,
        started_at=from_db_time(row["started_at"]),
        finished_at=from_db_time(row["finished_at"]),
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


class JobsMixin(StoreBase):
    def create_job(
        self, connector_id: str, trigger: str, status: str = "queued", error: str | None = None
    ) -> Job:
        """A new job record. A job created already finished (e.g. ``skipped``, with ``error``
        saying why) gets ``finished_at`` now. Finished jobs beyond the newest ``job_history``
        of the connector are pruned."""
        if trigger not in JOB_TRIGGERS:
            raise InvalidValueError(f"trigger must be one of {', '.join(JOB_TRIGGERS)}.")
        if status not in JOB_STATUSES:
            raise InvalidValueError(f"status must be one of {', '.join(JOB_STATUSES)}.")
        now = utcnow()
        job_id = uuid.uuid4().hex
        started = now if status == "running" else None
        finished = now if status in FINISHED_JOB_STATUSES else None
        try:
            with self._tx() as conn:
                conn.execute(
                    "INSERT INTO jobs (id, connector_id, status, trigger, counts, error, "
                    "created_at, started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (job_id, connector_id, status, trigger, json.dumps(empty_counts()), error,
                     to_db_time(now), to_db_time(started), to_db_time(finished)),
                )
                conn.execute(
                    "DELETE FROM jobs WHERE connector_id = ? AND status IN (?, ?, ?, ?) AND seq <= "
                    "(SELECT seq FROM jobs WHERE connector_id = ? ORDER BY seq DESC "
                    "LIMIT 1 OFFSET ?)",
                    (connector_id, *FINISHED_JOB_STATUSES, connector_id, self.job_history),
                )
        except sqlite3.IntegrityError:
            raise NotFoundError(f"No connector with id {connector_id!r}.") from None
        return self.get_job(job_id)

    def get_job(self, job_id: str) -> Job:
        rows = self._read("SELECT * FROM jobs WHERE id = ?", (job_id,))
        if not rows:
            raise NotFoundError(f"No job with id {job_id!r}.")
        return _row_to_job(rows[0])

    def update_job(self, job_id: str, **fields: Any) -> Job:
        """Change any of status, counts, failures, requests, error, progress, started_at,
        finished_at. Counts are merged over zeros for the five standard keys; failures are
        capped at MAX_FAILURES. Moving to ``running`` sets ``started_at`` and to a finished
        status sets ``finished_at`` (now) unless given."""
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise InvalidValueError(f"Cannot change {', '.join(sorted(unknown))} of a job.")
        values: dict[str, Any] = {}
        status = fields.get("status")
        if status is not None and status not in JOB_STATUSES:
            raise InvalidValueError(f"status must be one of {', '.join(JOB_STATUSES)}.")
        for key, value in fields.items():
            if key == "counts":
                values[key] = json.dumps(_normalize_counts(value))
            elif key == "failures":
                values[key] = json.dumps(_normalize_failures(value))
            elif key == "progress":
                values[key] = json.dumps(dict(value or {}))
            elif key in ("started_at", "finished_at"):
                if value is not None and not isinstance(value, datetime):
                    raise InvalidValueError(f"{key} must be a datetime.")
                values[key] = to_db_time(value)
            elif key == "requests":
                values[key] = int(value)
            else:
                values[key] = value
        if not values:
            return self.get_job(job_id)
        with self._tx() as conn:
            row = conn.execute(
                "SELECT started_at, finished_at FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
            if row is None:
                raise NotFoundError(f"No job with id {job_id!r}.")
            now = to_db_time(utcnow())
            if status == "running" and "started_at" not in fields and row["started_at"] is None:
                values["started_at"] = now
            if status in FINISHED_JOB_STATUSES and "finished_at" not in fields:
                values["finished_at"] = now
            assignments = ", ".join(f"{k} = :{k}" for k in values)
            conn.execute(
                f"UPDATE jobs SET {assignments} WHERE id = :_id",  # noqa: S608
                {**values, "_id": job_id},
            )
        return self.get_job(job_id)

    def list_jobs(
        self, connector_id: str, skip: int = 0, limit: int = 100
    ) -> tuple[list[Job], int]:
        """The connector's jobs newest first, and how many there are in all."""
        with self._lock:
            total = self._read(
                "SELECT COUNT(*) FROM jobs WHERE connector_id = ?", (connector_id,)
            )[0][0]
            rows = self._read(
                "SELECT * FROM jobs WHERE connector_id = ? "
                "ORDER BY seq DESC LIMIT ? OFFSET ?",
                (connector_id, max(0, limit), max(0, skip)),
            )
        return [_row_to_job(r) for r in rows], int(total)

    def running_job(self, connector_id: str) -> Job | None:
        """The connector's newest queued or running job, if any."""
        rows = self._read(
            "SELECT * FROM jobs WHERE connector_id = ? AND status IN (?, ?) "
            "ORDER BY seq DESC LIMIT 1",
            (connector_id, *ACTIVE_JOB_STATUSES),
        )
        return _row_to_job(rows[0]) if rows else None

    def fail_interrupted_jobs(
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
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT * FROM jobs WHERE status IN (?, ?)", ACTIVE_JOB_STATUSES
            ).fetchall()
            stale = [
                r["id"]
                for r in rows
                if (older_than is None or heartbeat(_row_to_job(r)) <= now - older_than)
                and not (spare is not None and spare(_row_to_job(r)))
            ]
            conn.executemany(
                "UPDATE jobs SET status = 'failed', error = ?, finished_at = ? WHERE id = ?",
                [(INTERRUPTED_ERROR, to_db_time(now), job_id) for job_id in stale],
            )
            return len(stale)


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
