"""Persisted schedule specs (``store.schedules``), one per connector and mode (full or
incremental); ``pdsearch.scheduler`` validates and runs them.

A firing is claimed here (``claim``): a compare-and-set of the schedule's ``last_fired_at``,
optionally only while a named lease is held, so one firing of a schedule happens once however
many schedulers look at it, across a change of leader too.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import RowMapping

from pdsearch.store.database import Database, db_epoch, upsert
from pdsearch.store.errors import InvalidValueError, NotFoundError
from pdsearch.store.records import SCHEDULE_MODES, ScheduleRecord, utcnow
from pdsearch.store.schema import leases, schedules

ScheduleList = list[tuple[str, str, dict[str, Any]]]
RecordList = list[ScheduleRecord]


def _to_record(row: RowMapping) -> ScheduleRecord:
    return ScheduleRecord(
        row["connector_id"], json.loads(row["spec"]), row["updated_at"], row["last_fired_at"],
        row["mode"],
    )


def _check_mode(mode: str) -> str:
    if mode not in SCHEDULE_MODES:
        raise InvalidValueError(f"A schedule's mode is one of {', '.join(SCHEDULE_MODES)}.")
    return mode


def _key(connector_id: str, mode: str) -> sa.ColumnElement[bool]:
    return sa.and_(schedules.c.connector_id == connector_id,
                   schedules.c.mode == _check_mode(mode))


class ScheduleRepository:
    """One schedule spec per connector and mode, with when it was set and when it last fired."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, connector_id: str, mode: str = "full") -> dict[str, Any] | None:
        with self._db.read() as conn:
            spec = conn.execute(
                sa.select(schedules.c.spec).where(_key(connector_id, mode))
            ).scalar_one_or_none()
        return json.loads(spec) if spec is not None else None

    def set(
        self, connector_id: str, spec: dict[str, Any], *, mode: str = "full",
        at: datetime | None = None,
    ) -> None:
        """Store the spec as given ({"interval_minutes": n} | {"cron": str} | {"run_at": ISO})
        for the connector's ``mode``, replacing any earlier one (and forgetting when that one
        last fired); ``at`` is when it was set (default now). Validation is the scheduler's
        job. NotFoundError for an unknown connector."""
        statement = upsert(self._db, schedules).values(
            connector_id=connector_id, mode=_check_mode(mode), spec=json.dumps(spec),
            updated_at=at or utcnow(),
        )
        statement = statement.on_conflict_do_update(
            index_elements=[schedules.c.connector_id, schedules.c.mode],
            set_={"spec": statement.excluded.spec, "updated_at": statement.excluded.updated_at,
                  "last_fired_at": None},
        )
        with self._db.write() as conn:
            try:
                conn.execute(statement)
            except exc.IntegrityError:
                raise NotFoundError(f"No connector with id {connector_id!r}.") from None

    def delete(self, connector_id: str, mode: str = "full") -> bool:
        """Remove the connector's schedule of that mode; True if there was one."""
        with self._db.write() as conn:
            result = conn.execute(schedules.delete().where(_key(connector_id, mode)))
        return bool(result.rowcount > 0)

    def delete_all(self, connector_id: str) -> int:
        """Remove every schedule of the connector; how many there were."""
        with self._db.write() as conn:
            result = conn.execute(
                schedules.delete().where(schedules.c.connector_id == connector_id)
            )
        return int(result.rowcount)

    def list(self) -> ScheduleList:
        """Every ``(connector_id, mode, spec)``, by connector id and mode."""
        with self._db.read() as conn:
            rows = conn.execute(
                sa.select(schedules.c.connector_id, schedules.c.mode, schedules.c.spec)
                .order_by(schedules.c.connector_id, schedules.c.mode)
            ).all()
        return [(r[0], r[1], json.loads(r[2])) for r in rows]

    def list_records(self, connector_id: str | None = None) -> RecordList:
        """Every schedule (or the connector's) with when it was set and when it last fired."""
        query = sa.select(schedules).order_by(schedules.c.connector_id, schedules.c.mode)
        if connector_id is not None:
            query = query.where(schedules.c.connector_id == connector_id)
        with self._db.read() as conn:
            rows = conn.execute(query).mappings().all()
        return [_to_record(r) for r in rows]

    def get_record(self, connector_id: str, mode: str = "full") -> ScheduleRecord | None:
        with self._db.read() as conn:
            row = conn.execute(
                sa.select(schedules).where(_key(connector_id, mode))
            ).mappings().first()
        return _to_record(row) if row is not None else None

    def record_fired(
        self, connector_id: str, at: datetime | None = None, *, mode: str = "full"
    ) -> None:
        """Remember that the connector's schedule fired (now, unless ``at`` is given)."""
        with self._db.write() as conn:
            conn.execute(
                schedules.update().where(_key(connector_id, mode))
                .values(last_fired_at=at or utcnow())
            )

    def claim(
        self,
        record: ScheduleRecord,
        at: datetime,
        *,
        lease: tuple[str, str] | None = None,
    ) -> bool:
        """Claim one firing of the schedule ``record`` was read as: ``last_fired_at`` becomes
        ``at`` only if the schedule is still exactly that (same spec version, same last firing)
        and, with ``lease=(name, holder)``, only while ``holder`` holds that lease by the
        database's clock. True for the one caller that wins; everyone else (a second leader, a
        schedule changed or removed meanwhile, a lost lease) gets False and must not fire."""
        fired = schedules.c.last_fired_at
        condition = sa.and_(
            _key(record.connector_id, record.mode),
            schedules.c.updated_at == record.updated_at,
            fired.is_(None) if record.last_fired_at is None else fired == record.last_fired_at,
        )
        if lease is not None:
            name, holder = lease
            condition = sa.and_(condition, sa.exists().where(
                leases.c.name == name, leases.c.holder == holder,
                leases.c.expires_at > db_epoch(),
            ))
        with self._db.write() as conn:
            hit = conn.execute(
                schedules.update().where(condition).values(last_fired_at=at)
                .returning(schedules.c.connector_id)
            ).first()
        return hit is not None
