"""Persisted schedule specs; ``pdsearch.scheduler`` validates them and runs them."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from pdsearch.store.db import StoreBase
from pdsearch.store.errors import NotFoundError
from pdsearch.store.records import ScheduleRecord, from_db_time, to_db_time, utcnow


def _row_to_record(row: sqlite3.Row) -> ScheduleRecord:
    updated = from_db_time(row["updated_at"])
    assert updated is not None
    return ScheduleRecord(
        row["connector_id"], json.loads(row["spec"]), updated, from_db_time(row["last_fired_at"])
    )


class SchedulesMixin(StoreBase):
    def get_schedule(self, connector_id: str) -> dict[str, Any] | None:
        rows = self._read("SELECT spec FROM schedules WHERE connector_id = ?", (connector_id,))
        return json.loads(rows[0][0]) if rows else None

    def set_schedule(self, connector_id: str, spec: dict[str, Any]) -> None:
        """Store the spec as given ({"interval_minutes": n} | {"cron": str} | {"run_at": ISO}),
        replacing any earlier one (and forgetting when that one last fired). Validation is the
        scheduler's job."""
        try:
            with self._tx() as conn:
                conn.execute(
                    "INSERT INTO schedules (connector_id, spec, updated_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (connector_id) DO UPDATE SET spec = excluded.spec, "
                    "updated_at = excluded.updated_at, last_fired_at = NULL",
                    (connector_id, json.dumps(spec), to_db_time(utcnow())),
                )
        except sqlite3.IntegrityError:
            raise NotFoundError(f"No connector with id {connector_id!r}.") from None

    def delete_schedule(self, connector_id: str) -> bool:
        """Remove the schedule; True if there was one."""
        with self._tx() as conn:
            cur = conn.execute("DELETE FROM schedules WHERE connector_id = ?", (connector_id,))
            return cur.rowcount > 0

    def list_schedules(self) -> list[tuple[str, dict[str, Any]]]:
        rows = self._read("SELECT connector_id, spec FROM schedules ORDER BY connector_id")
        return [(r[0], json.loads(r[1])) for r in rows]

    def list_schedule_records(self) -> list[ScheduleRecord]:
        """Every schedule with when it was set and when it last fired (for catching up)."""
        rows = self._read(
            "SELECT connector_id, spec, updated_at, last_fired_at FROM schedules "
            "ORDER BY connector_id"
        )
        return [_row_to_record(r) for r in rows]

    def get_schedule_record(self, connector_id: str) -> ScheduleRecord | None:
        rows = self._read(
            "SELECT connector_id, spec, updated_at, last_fired_at FROM schedules "
            "WHERE connector_id = ?",
            (connector_id,),
        )
        return _row_to_record(rows[0]) if rows else None

    def record_schedule_fired(self, connector_id: str, at: datetime | None = None) -> None:
        """Remember that the connector's schedule fired (now, unless ``at`` is given)."""
        with self._tx() as conn:
            conn.execute(
                "UPDATE schedules SET last_fired_at = ? WHERE connector_id = ?",
                (to_db_time(at or utcnow()), connector_id),
            )
