"""The state's tables as they are after the newest migration, for the repositories' queries.

The migrations in ``pdsearch/store/migrations/versions/`` build this schema on either engine;
``tests/store/test_schema.py`` checks that a migrated database and these definitions agree.
Change both together: a new migration, then the table here.

Column types that differ between the engines are decided per dialect by the types below, so a
query never needs to know which engine it runs on:

- times are ``UtcDateTime``: ISO 8601 text on SQLite (as the files of earlier versions hold them)
  and ``timestamp with time zone`` on PostgreSQL, always an aware UTC ``datetime`` in Python;
- JSON documents (job counts, failures, progress; schedule specs) are text, encoded by the
  repositories, so both engines hold the same bytes;
- a connector's name is unique regardless of case: ``COLLATE NOCASE`` on SQLite, a unique index on
  ``lower(name)`` on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """An aware datetime, stored in UTC. Used by released migrations: never change what it
    renders for a dialect (add a new type instead)."""

    impl = sa.Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(sa.DateTime(timezone=True))
        return dialect.type_descriptor(sa.Text())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError("times given to the store must be datetimes with a time zone")
        utc = value.astimezone(UTC)
        return utc if dialect.name == "postgresql" else utc.isoformat()

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if not isinstance(value, datetime):
            raise TypeError(f"not a stored time: {type(value).__name__}")
        return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)


def job_seq_type() -> TypeEngine[int]:
    """``INTEGER`` on SQLite (so the column is the rowid and AUTOINCREMENT works), ``BIGINT``
    (a ``bigserial``) on PostgreSQL."""
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


ACTIVE: Final = ("queued", "running")

metadata = sa.MetaData()

connectors = sa.Table(
    "connectors",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text().with_variant(sa.Text(collation="NOCASE"), "sqlite"),
              nullable=False),
    sa.Column("auth_type", sa.Text, nullable=False),
    sa.Column("region", sa.Text, nullable=False),
    sa.Column("base_url", sa.Text),
    sa.Column("oauth_base_url", sa.Text),
    sa.Column("status", sa.Text, nullable=False, server_default="new"),
    sa.Column("subdomain", sa.Text),
    sa.Column("last_error", sa.Text),
    sa.Column("credentials", sa.LargeBinary, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("seq", job_seq_type(), primary_key=True, autoincrement=True),
    sa.Column("id", sa.Text, nullable=False, unique=True),
    sa.Column("connector_id", sa.Text, sa.ForeignKey("connectors.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("trigger", sa.Text, nullable=False),
    sa.Column("mode", sa.Text, nullable=False, server_default="full"),
    sa.Column("counts", sa.Text, nullable=False),
    sa.Column("failures", sa.Text, nullable=False, server_default="[]"),
    sa.Column("requests", sa.Integer, nullable=False, server_default="0"),
    sa.Column("error", sa.Text),
    sa.Column("progress", sa.Text, nullable=False, server_default="{}"),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("started_at", UtcDateTime),
    sa.Column("finished_at", UtcDateTime),
    sa.Column("cancel_requested_at", UtcDateTime),
    sa.Index("jobs_by_connector", "connector_id", "seq"),
    sa.Index("jobs_by_status", "status"),
    sqlite_autoincrement=True,
)
# At most one queued or running job per connector, whichever process or replica made it: the
# claim of a sync is this index, so two claims cannot both succeed.
sa.Index(
    "jobs_one_active",
    jobs.c.connector_id,
    unique=True,
    sqlite_where=jobs.c.status.in_(ACTIVE),
    postgresql_where=jobs.c.status.in_(ACTIVE),
)

# One schedule per connector and mode (migration 0011_schedule_modes).
schedules = sa.Table(
    "schedules",
    metadata,
    sa.Column("connector_id", sa.Text, sa.ForeignKey("connectors.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("mode", sa.Text, primary_key=True, server_default="full"),
    sa.Column("spec", sa.Text, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("last_fired_at", UtcDateTime),
    sa.CheckConstraint("mode IN ('full', 'incremental')", name="schedules_mode"),
)

entities = sa.Table(
    "entities",
    metadata,
    sa.Column("connector_id", sa.Text, sa.ForeignKey("connectors.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("entity_id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("derived", sa.Integer, nullable=False, server_default="0"),
)

entity_members = sa.Table(
    "entity_members",
    metadata,
    sa.Column("connector_id", sa.Text, primary_key=True),
    sa.Column("entity_id", sa.Text, primary_key=True),
    sa.Column("email", sa.Text, primary_key=True),
    sa.Column("source", sa.Text, primary_key=True),
    sa.CheckConstraint("source IN ('derived', 'manual')", name="entity_members_source"),
    sa.ForeignKeyConstraint(
        ["connector_id", "entity_id"],
        ["entities.connector_id", "entities.entity_id"],
        ondelete="CASCADE",
    ),
    sa.Index("entity_members_by_email", "email"),
)

oauth_states = sa.Table(
    "oauth_states",
    metadata,
    sa.Column("state_hash", sa.Text, primary_key=True),
    sa.Column("connector_id", sa.Text, sa.ForeignKey("connectors.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("code_verifier", sa.LargeBinary, nullable=False),
    sa.Column("redirect_uri", sa.Text, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)

tickets = sa.Table(
    "tickets",
    metadata,
    sa.Column("ticket_hash", sa.Text, primary_key=True),
    sa.Column("purpose", sa.Text, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)

leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("holder", sa.Text, nullable=False),
    sa.Column("acquired_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)

# Incremental sync (0010_incremental): a connector's audit-trail cursor and availability, and the
# PagerDuty objects its last sync read (JSON text, one row per object).
sync_state = sa.Table(
    "sync_state",
    metadata,
    sa.Column("connector_id", sa.Text, sa.ForeignKey("connectors.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("audit_cursor", UtcDateTime),
    sa.Column("seen_records", sa.Text, nullable=False, server_default="[]"),
    sa.Column("last_record_at", UtcDateTime),
    sa.Column("incremental_available", sa.Integer),
    sa.Column("incremental_reason", sa.Text),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

sync_objects = sa.Table(
    "sync_objects",
    metadata,
    sa.Column("connector_id", sa.Text, sa.ForeignKey("connectors.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("kind", sa.Text, primary_key=True),
    sa.Column("object_id", sa.Text, primary_key=True),
    sa.Column("data", sa.Text, nullable=False),
)

# Who is on call (``store.oncall``): one connector's shifts over its window, replaced whole by
# each refresh. A row with ``policy_id`` is an on-call of a policy's level (``schedule_id`` null:
# a user the level targets directly, ``start``/``end`` null: always); a row without is a shift of
# the schedule itself.
oncall_shifts = sa.Table(
    "oncall_shifts",
    metadata,
    sa.Column("connector_id", sa.Text, sa.ForeignKey("connectors.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("policy_id", sa.Text),
    sa.Column("level", sa.Integer),
    sa.Column("schedule_id", sa.Text),
    sa.Column("user_id", sa.Text, nullable=False),
    sa.Column("user_name", sa.Text, nullable=False),
    sa.Column("user_email", sa.Text, nullable=False),
    sa.Column("user_time_zone", sa.Text),
    sa.Column("start", UtcDateTime),
    sa.Column("end", UtcDateTime),
    sa.Index("oncall_by_policy", "connector_id", "policy_id"),
    sa.Index("oncall_by_schedule", "connector_id", "schedule_id"),
)

oncall_windows = sa.Table(
    "oncall_windows",
    metadata,
    sa.Column("connector_id", sa.Text, sa.ForeignKey("connectors.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("since", UtcDateTime, nullable=False),
    sa.Column("until", UtcDateTime, nullable=False),
    sa.Column("refreshed_at", UtcDateTime, nullable=False),
    sa.Column("requests", sa.Integer, nullable=False, server_default="0"),
    # Documents (``schedule:<id>``) whose on-call PagerDuty could not render: answered null.
    sa.Column("unknown", sa.Text, nullable=False, server_default="[]"),
)

oncall_people = sa.Table(
    "oncall_people",
    metadata,
    sa.Column("connector_id", sa.Text, sa.ForeignKey("connectors.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("user_id", sa.Text, primary_key=True),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("time_zone", sa.Text),
    sa.Index("oncall_people_by_email", "email"),
)
