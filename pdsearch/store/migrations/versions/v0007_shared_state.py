"""State that several replicas share: one active job per connector, cancel requests, single-use
tickets and leases.

An installation of an earlier version may hold more than one queued or running job of a
connector (left behind by a crash); all but the newest of each connector are marked failed first,
as the service would have at its next start, so the unique index can be built.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from pdsearch.store.schema import UtcDateTime

revision = "0007_shared_state"
down_revision = "0006_schedule_last_fired"
branch_labels = None
depends_on = None

_ACTIVE = ("queued", "running")
_SUPERSEDED = (
    "The service stopped while this job was queued or running, so it did not finish. "
    "Start a new sync."
)


def upgrade() -> None:
    op.add_column("jobs", sa.Column("cancel_requested_at", UtcDateTime))

    jobs = sa.table(
        "jobs",
        sa.column("seq", sa.Integer),
        sa.column("connector_id", sa.Text),
        sa.column("status", sa.Text),
        sa.column("error", sa.Text),
        sa.column("finished_at", UtcDateTime),
    )
    newer = jobs.alias("newer")
    op.execute(
        jobs.update()
        .where(
            jobs.c.status.in_(_ACTIVE),
            sa.exists().where(
                newer.c.connector_id == jobs.c.connector_id,
                newer.c.status.in_(_ACTIVE),
                newer.c.seq > jobs.c.seq,
            ),
        )
        .values(status="failed", error=_SUPERSEDED, finished_at=datetime.now(UTC))
    )
    op.create_index(
        "jobs_one_active",
        "jobs",
        ["connector_id"],
        unique=True,
        sqlite_where=sa.text("status IN ('queued', 'running')"),
        postgresql_where=sa.text("status IN ('queued', 'running')"),
    )

    op.create_table(
        "tickets",
        sa.Column("ticket_hash", sa.Text, primary_key=True),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("holder", sa.Text, nullable=False),
        sa.Column("acquired_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
