"""What an incremental sync needs to remember between runs (``store.sync_state``).

Per connector:

- the **audit cursor**: every audit record executed before it is reflected in the index; the
  next incremental sync asks PagerDuty for records since it (``since`` is inclusive) and skips
  the ones in ``seen_records`` (already applied, executed at or after the cursor);
- whether **incremental** syncs are available, and why not (``False`` with the reason after a
  402 or 403 from the audit trail; ``None`` before anyone asked);
- the **objects** the last sync read from PagerDuty, as JSON, by kind and id: an incremental sync
  patches them with what changed and re-renders documents from them, so a user renamed changes
  every document naming them without reading the whole account.

The source decides what the objects are; here they are opaque JSON. Saving objects and the
cursor happens in one transaction, so a cursor never points past objects that were not kept.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pdsearch.store.database import Database, upsert
from pdsearch.store.errors import NotFoundError
from pdsearch.store.records import iso, utcnow
from pdsearch.store.schema import sync_objects, sync_state

#: kind -> object id -> the object's JSON.
Objects = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class SyncState:
    """One connector's incremental-sync state."""

    connector_id: str
    audit_cursor: datetime | None = None
    seen_records: list[str] = field(default_factory=list)
    last_record_at: datetime | None = None
    incremental_available: bool | None = None
    incremental_reason: str | None = None
    updated_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """What the connector's JSON shows under ``incremental``."""
        return {
            "available": self.incremental_available,
            "reason": self.incremental_reason,
            "cursor": iso(self.audit_cursor),
            "last_record_at": iso(self.last_record_at),
        }


@dataclass(frozen=True)
class Cursor:
    """Where the next incremental sync starts reading the audit trail."""

    at: datetime
    seen: tuple[str, ...] = ()
    last_record_at: datetime | None = None


class SyncStateRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, connector_id: str) -> SyncState:
        """The connector's state; an empty one (nothing known) before its first sync."""
        with self._db.read() as conn:
            row = conn.execute(
                sa.select(sync_state).where(sync_state.c.connector_id == connector_id)
            ).mappings().first()
        if row is None:
            return SyncState(connector_id)
        available = row["incremental_available"]
        return SyncState(
            connector_id,
            row["audit_cursor"],
            list(json.loads(row["seen_records"])),
            row["last_record_at"],
            None if available is None else bool(available),
            row["incremental_reason"],
            row["updated_at"],
        )

    def set_availability(self, connector_id: str, available: bool, reason: str | None) -> None:
        """Record whether incremental syncs can read this connector's audit trail. Unavailable
        also forgets the cursor: when the trail comes back, a full sync sets a new one."""
        values: dict[str, Any] = {"incremental_available": int(available),
                                  "incremental_reason": None if available else reason}
        if not available:
            values.update(audit_cursor=None, seen_records="[]")
        with self._db.write() as conn:
            self._put(conn, connector_id, values)

    def save_full(self, connector_id: str, objects: Objects, cursor: Cursor | None) -> None:
        """After a full sync: replace every kept object, and set the cursor (None: no cursor,
        the audit trail could not be read)."""
        with self._db.write() as conn:
            conn.execute(sync_objects.delete().where(sync_objects.c.connector_id == connector_id))
            self._insert(conn, connector_id, objects)
            self._put(conn, connector_id, _cursor_values(cursor))

    def save_changes(
        self,
        connector_id: str,
        changed: Objects,
        removed: Iterable[tuple[str, str]],
        cursor: Cursor,
    ) -> None:
        """After an incremental sync: replace the changed objects, drop the removed ones
        (``(kind, id)`` pairs) and move the cursor, in one transaction."""
        with self._db.write() as conn:
            gone = list(removed) + [(k, i) for k, objs in changed.items() for i in objs]
            for kind, object_id in gone:
                conn.execute(sync_objects.delete().where(
                    sync_objects.c.connector_id == connector_id,
                    sync_objects.c.kind == kind,
                    sync_objects.c.object_id == object_id,
                ))
            self._insert(conn, connector_id, changed)
            self._put(conn, connector_id, _cursor_values(cursor))

    def objects(self, connector_id: str, *, raw: bool = False) -> Objects:
        """Every kept object, by kind and id; ``raw``: as JSON text, for a reader that parses
        and validates in one step (pydantic's ``model_validate_json``)."""
        out: Objects = {}
        with self._db.read() as conn:
            rows = conn.execute(
                sa.select(sync_objects.c.kind, sync_objects.c.object_id, sync_objects.c.data)
                .where(sync_objects.c.connector_id == connector_id)
            ).all()
        for kind, object_id, data in rows:
            out.setdefault(kind, {})[object_id] = data if raw else json.loads(data)
        return out

    def forget(self, connector_id: str) -> None:
        """Drop the cursor and the objects (availability stays): the next sync is a full one."""
        with self._db.write() as conn:
            conn.execute(sync_objects.delete().where(sync_objects.c.connector_id == connector_id))
            conn.execute(sync_state.update().where(sync_state.c.connector_id == connector_id)
                         .values(audit_cursor=None, seen_records="[]", updated_at=utcnow()))

    # --- inside the store ------------------------------------------------------------------

    def _insert(self, conn: Connection, connector_id: str, objects: Mapping[str, Any]) -> None:
        rows = [
            {"connector_id": connector_id, "kind": kind, "object_id": object_id,
             "data": json.dumps(data, separators=(",", ":"))}
            for kind, by_id in objects.items()
            for object_id, data in by_id.items()
        ]
        if rows:
            conn.execute(sync_objects.insert(), rows)

    def _put(self, conn: Connection, connector_id: str, values: dict[str, Any]) -> None:
        values = {**values, "updated_at": utcnow()}
        statement = upsert(self._db, sync_state).values(connector_id=connector_id, **values)
        statement = statement.on_conflict_do_update(
            index_elements=[sync_state.c.connector_id],
            set_={name: getattr(statement.excluded, name) for name in values},
        )
        try:
            conn.execute(statement)
        except sa.exc.IntegrityError:
            raise NotFoundError(f"No connector with id {connector_id!r}.") from None


def _cursor_values(cursor: Cursor | None) -> dict[str, Any]:
    if cursor is None:
        return {"audit_cursor": None, "seen_records": "[]"}
    values: dict[str, Any] = {"audit_cursor": cursor.at, "seen_records": json.dumps(cursor.seen)}
    if cursor.last_record_at is not None:
        values["last_record_at"] = cursor.last_record_at
    return values
